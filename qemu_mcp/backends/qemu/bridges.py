"""list_networks on a plain-QEMU host: the host's bridges (a VM's NIC can be put on one:
network=bridge:<name>), in one round trip: `ip -j addr show type bridge` for the bridges and their
addresses, `ip -j link show` for the interfaces attached to them."""

from __future__ import annotations

from qemu_mcp.backends.qemu.scripts import failed
from qemu_mcp.config import HostSpec
from qemu_mcp.errors import CommandFailed
from qemu_mcp.models import NetworkAddress, NetworkInfo
from qemu_mcp.parsers.ip_links import parse_bridges
from qemu_mcp.parsers.sections import new_marker, script_marker, tagged_sections
from qemu_mcp.transport.base import Runner

BRIDGES_SCRIPT = r"""
export LC_ALL=C
echo "$1 addr"
ip -j addr show type bridge || exit $?
echo "$1 links"
ip -j link show || exit $?
"""
IP_MISSING = 127


def bridges_argv(marker: str) -> list[str]:
    return ["sh", "-c", BRIDGES_SCRIPT, "qmcp-qemu-bridges", script_marker(marker)]


def bridges_from(host: str, stdout: str, marker: str) -> list[NetworkInfo]:
    """The script's output as NetworkInfo records (pure)."""
    texts = {s.tag: s.text for s in tagged_sections(stdout, marker)}
    return [
        NetworkInfo(
            host=host,
            name=b.name,
            kind="bridge",
            active=b.up,
            bridge=b.name,
            addresses=[NetworkAddress(family=a.family, address=a.address, prefix=a.prefix) for a in b.addresses],
            ports=b.ports,
        )
        for b in parse_bridges(texts.get("addr", ""), texts.get("links", ""))
    ]


async def list_bridges(runner: Runner, spec: HostSpec) -> list[NetworkInfo]:
    marker = new_marker()
    result = await runner.run(bridges_argv(marker), read_only=True)
    if result.exit_status != 0:
        hint = "; install iproute2 (the `ip` command) there" if result.exit_status == IP_MISSING else ""
        raise failed(result, spec.name, "listing the bridges", hint)
    try:
        return bridges_from(spec.name, result.stdout, marker)
    except ValueError as e:
        raise CommandFailed(f"the bridges of host '{spec.name}' could not be read: {e}", host=spec.name) from None
