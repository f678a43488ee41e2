"""`qemu-mcp serve` takes a parser of its own (frontends/cli/serve.py) so an MCP client's server
starts without the other commands' modules: it must accept and parse what the full CLI does."""

from __future__ import annotations

import argparse

import pytest

from qemu_mcp.frontends.cli import main as cli_main
from qemu_mcp.frontends.cli import serve
from qemu_mcp.frontends.cli.fleet_call import with_fleet
from qemu_mcp.frontends.cli.fleets import cli_fleet

SERVE_LINES = [
    ["serve"],
    ["serve", "--config", "/x/hosts.yaml"],
    ["--config", "/x/hosts.yaml", "serve", "--log-level", "DEBUG"],
    ["--config=/x/hosts.yaml", "--log-level=info", "serve", "--http", "--port", "9000"],
    ["--log-level", "warning", "serve", "--config", "/y.yaml", "--legacy-sse", "--http"],
]


def serve_parser() -> argparse.ArgumentParser:
    p = serve.top_parser()
    serve.add_parser(p.add_subparsers(dest="command", required=True))
    serve.spread_global_options(p)
    return p


@pytest.mark.parametrize("argv", SERVE_LINES)
def test_serve_lines_take_the_fast_path_and_parse_as_in_the_full_cli(argv: list[str]) -> None:
    assert serve.is_serve(argv)
    fast, full = vars(serve_parser().parse_args(argv)), vars(cli_main._parser().parse_args(argv))
    assert fast == full


@pytest.mark.parametrize(
    "argv",
    [[], ["vm", "list"], ["--config", "serve", "vm", "list"], ["--help"], ["--conf", "x", "serve"], ["demo"]],
)
def test_anything_else_goes_to_the_full_cli(argv: list[str]) -> None:
    assert not serve.is_serve(argv)


def test_a_one_call_command_reads_without_virsh_sessions(tmp_path) -> None:  # type: ignore[no-untyped-def]
    """with_fleet (every CLI command that makes one call) lists one-shot: one round trip that also
    brings the host's addresses, where a session would serve one batch and need a second command."""
    config = tmp_path / "hosts.yaml"
    config.write_text("hosts: []\n")

    async def sessions_used(fleet) -> bool:  # type: ignore[no-untyped-def]
        return fleet.use_sessions

    assert with_fleet(str(config), sessions_used) is False
    assert cli_fleet(str(config)).use_sessions is True  # long commands (monitor, manage) keep them
