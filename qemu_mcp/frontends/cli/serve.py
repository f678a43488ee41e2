"""`qemu-mcp serve`, and what every command shares: the top parser and the global options.

An MCP client starts the server anew for every session, and waits for its first tools/list: so
`serve` has a parser of its own (is_serve, main), built without the other commands' modules and
options (about 20 ms of a start that a bare SDK server makes in about 550 ms). cli/main.py builds
the full parser from the same pieces, so both accept and print the same.
"""

from __future__ import annotations

import argparse
import sys

from qemu_mcp import __version__
from qemu_mcp.errors import QemuMcpError
from qemu_mcp.frontends.cli import logs
from qemu_mcp.frontends.cli.gc_tuning import normal_gc

VALUED_GLOBALS = ("--config", "--log-level")


def top_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="qemu-mcp", description="Manage QEMU/KVM VMs on local and remote hosts.")
    global_options(p, top=True)
    return p


def global_options(p: argparse.ArgumentParser, *, top: bool) -> None:
    """On the top parser with real defaults; on subcommands with SUPPRESS, so that a subcommand
    that is not given an option does not reset one given before the command."""
    default = None if top else argparse.SUPPRESS
    group = p.add_argument_group("global options (before or after the command)")
    group.add_argument("--version", action="version", version=f"qemu-mcp {__version__}")
    group.add_argument(
        "--config", default=default, help="hosts.yaml path (default $QEMU_MCP_CONFIG or ~/.config/qemu-mcp/hosts.yaml)"
    )
    group.add_argument(
        "--log-level",
        default=default,
        type=str.lower,
        choices=logs.LEVELS,
        help=f"what goes to stderr (default ${logs.LEVEL_ENV}, else {logs.DEFAULT_LEVEL})",
    )


def spread_global_options(p: argparse.ArgumentParser) -> None:
    """Every subcommand, at every depth, takes the global options too."""
    for action in p._actions:
        if isinstance(action, argparse._SubParsersAction):
            for sub in {id(s): s for s in action.choices.values()}.values():  # aliases share a parser
                global_options(sub, top=False)
                spread_global_options(sub)


def add_parser(sub: argparse._SubParsersAction) -> None:
    serve = sub.add_parser("serve", help="run the MCP server (stdio by default)")
    serve.add_argument("--http", action="store_true", help="serve streamable HTTP on /mcp instead of stdio")
    serve.add_argument("--host", default="127.0.0.1", help="HTTP bind address (default 127.0.0.1)")
    serve.add_argument("--port", type=int, default=8000, help="HTTP port (default 8000)")
    serve.add_argument("--legacy-sse", action="store_true", help="also serve the old SSE transport on /sse")
    serve.set_defaults(run=serve_command)


def is_serve(argv: list[str]) -> bool:
    """The command is `serve`: the first word that is no global option (or its value). Anything
    unusual (an abbreviated option, `--help` first) goes to the full parser."""
    i = 0
    while i < len(argv):
        word = argv[i]
        if word in VALUED_GLOBALS:
            i += 2
        elif word.startswith(tuple(f"{o}=" for o in VALUED_GLOBALS)):
            i += 1
        else:
            return word == "serve"
    return False


def main(argv: list[str] | None = None) -> int:
    """The full CLI's main() for `serve` only (is_serve said so)."""
    p = top_parser()
    add_parser(p.add_subparsers(dest="command", required=True))
    spread_global_options(p)
    return run(p.parse_args(argv))


def run(args: argparse.Namespace) -> int:
    """The parsed command, run: its exit status; qemu-mcp's errors as one line on stderr."""
    try:
        logs.configure(args.log_level)
        result: int = args.run(args)
        return result
    except QemuMcpError as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130


def serve_command(args: argparse.Namespace) -> int:
    if not args.http:
        from qemu_mcp.frontends.mcp.server import build_server

        server = build_server(config=args.config)
        normal_gc()  # start-up is over (the entry point raised the collector's threshold for it)
        server.run("stdio")
        return 0
    from qemu_mcp.config import load_inventory
    from qemu_mcp.frontends.mcp.http import serve_http
    from qemu_mcp.frontends.mcp.server import build_server

    normal_gc()
    inventory = load_inventory(args.config)
    store = inventory.token_store()  # the same store the tools use to name the caller
    print(
        f"qemu-mcp: serving MCP on http://{args.host}:{args.port}/mcp "
        f"({'token auth' if store.enabled else 'no auth: loopback only'})",
        file=sys.stderr,
    )
    serve_http(
        build_server(inventory),
        store,
        host=args.host,
        port=args.port,
        legacy_sse=args.legacy_sse,
        log_level=logs.level_name(args.log_level),
    )
    return 0
