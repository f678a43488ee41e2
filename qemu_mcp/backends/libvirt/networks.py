"""list_networks on a libvirt host: one round trip (NETWORKS_SCRIPT in backends.libvirt.scripts)."""

from __future__ import annotations

from qemu_mcp.backends.libvirt import scripts
from qemu_mcp.config import HostSpec
from qemu_mcp.models import NetworkInfo
from qemu_mcp.parsers.dhcp_leases import parse_dhcp_leases
from qemu_mcp.parsers.network_xml import parse_network_xml
from qemu_mcp.parsers.sections import Tagged, tagged_sections
from qemu_mcp.parsers.virsh_list import parse_name_lines
from qemu_mcp.transport.base import Runner


def networks_from(host: str, stdout: str, marker: str) -> list[NetworkInfo]:
    """The script's output as NetworkInfo records (pure)."""
    sections = tagged_sections(stdout, marker)
    lists = {s.tag: set(parse_name_lines(s.text)) for s in sections if s.tag in ("active", "autostart", "persistent")}
    leases = {s.rest: s for s in sections if s.tag == "leases"}
    networks = []
    for section in sections:
        if section.tag != "xml" or not section.text.strip():
            continue
        uuid = section.rest
        d = parse_network_xml(section.text)
        count, notes = _lease_count(leases.get(uuid))
        networks.append(
            NetworkInfo(
                host=host,
                name=d.name,
                kind="libvirt",
                uuid=d.uuid or uuid,
                active=uuid in lists.get("active", set()),
                autostart=uuid in lists.get("autostart", set()),
                persistent=uuid in lists.get("persistent", set()),
                bridge=d.bridge,
                forward_mode=d.forward_mode,
                addresses=d.addresses,
                lease_count=count,
                notes=notes,
            )
        )
    return networks


def _lease_count(section: Tagged | None) -> tuple[int | None, list[str]]:
    if section is None or not section.text.strip():
        return None, ["libvirt did not report DHCP leases for this network"]
    return len(parse_dhcp_leases(section.text)), []


async def list_networks(runner: Runner, spec: HostSpec) -> list[NetworkInfo]:
    return await scripts.read_tagged(runner, spec, scripts.list_networks, networks_from, "listing networks")
