"""Guest addresses on a libvirt host, the SSH forward, VNC, and the neighbour table.

get_vm_info asks, in ONE round trip, `virsh domifaddr UUID --source agent`, `--source lease` and
`--source arp` (virsh keeps going after one of them fails, e.g. while the guest agent is not
connected). The SSH forward and VNC come from the domain XML the read already has.
"""

from __future__ import annotations

from qemu_mcp import validation
from qemu_mcp.backends.access import merge, ssh_endpoint, vnc_endpoint
from qemu_mcp.backends.libvirt import virsh
from qemu_mcp.backends.libvirt.errors import raise_if_unusable
from qemu_mcp.config import HostSpec
from qemu_mcp.models import VmInfo
from qemu_mcp.models_addresses import AddressInfo, AddressSource
from qemu_mcp.parsers.domifaddr import parse_domifaddr
from qemu_mcp.parsers.guest_access import xml_ssh_forward
from qemu_mcp.parsers.sections import new_marker, split_sections
from qemu_mcp.transport.base import Runner

SOURCES: tuple[AddressSource, ...] = ("agent", "lease", "arp")


def domifaddr(uuid: str, source: AddressSource) -> list[str]:
    """One source's command; `uuid` may be virsh.UUID_SLOT (filled in on the host by target.by_name)."""
    domain = uuid if uuid == virsh.UUID_SLOT else validation.domain_uuid(uuid)
    return ["domifaddr", "--domain", domain, "--source", source]


def domifaddr_commands(uuid: str) -> list[list[str]]:
    """The three sources, to run in one virsh process (virsh keeps going after one fails)."""
    return [domifaddr(uuid, s) for s in SOURCES]


def domifaddr_all(uri: str, uuid: str, marker: str) -> list[str]:
    """argv: the three sources in one virsh process, sections split by `marker`."""
    return virsh.virsh(uri, domifaddr_commands(uuid), marker)


def parse_sources(sections: list[str], stderr: str) -> tuple[list[AddressInfo], list[str]]:
    """(merged addresses, notes) from the three domifaddr sections (agent, lease, arp)."""
    found, notes = [], []
    for source, text in zip(SOURCES, sections, strict=True):
        try:
            found.append(parse_domifaddr(text, source))
        except ValueError:
            notes.append(f"virsh domifaddr --source {source} printed no table")
    if "agent is not connected" in stderr or "agent is not responding" in stderr:
        notes.append("the guest agent did not answer (is qemu-guest-agent running in the guest?)")
    return merge(found), notes


async def guest_addresses(runner: Runner, spec: HostSpec, uuid: str) -> tuple[list[AddressInfo], list[str]]:
    """(addresses from agent, lease and arp, notes on the sources that did not answer)."""
    marker = new_marker()
    result = await runner.run(domifaddr_all(spec.libvirt_uri, uuid, marker), read_only=True)
    raise_if_unusable(result, spec)
    return parse_sources(split_sections(result.stdout, marker, len(SOURCES)), result.stderr)


def with_access(spec: HostSpec, vm: VmInfo, xml: str) -> VmInfo:
    """`vm` with its ssh forward and VNC display, from the XML the read already has (no round trip)."""
    vm.ssh = ssh_endpoint(spec, xml_ssh_forward(xml))
    vm.vnc = vnc_endpoint(spec, vm)
    return vm
