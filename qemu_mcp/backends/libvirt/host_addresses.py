"""list_vms' addresses on a libvirt host, asked once per host (never per VM, never the guest):
the DHCP leases of every active libvirt network and the host's neighbour table (`ip -j neigh`),
matched to the VMs' NICs by MAC. Asked after the listing, only when a running VM has a NIC on a
network or bridge; a host where either is missing or fails just gives no addresses. The one-shot
listing (listing.py) brings the same in its own round trip; this command serves listings on virsh
sessions."""

from __future__ import annotations

from qemu_mcp import validation
from qemu_mcp.backends.access import merge
from qemu_mcp.errors import QemuMcpError
from qemu_mcp.models import VmInfo
from qemu_mcp.models_addresses import AddressInfo
from qemu_mcp.parsers.dhcp_leases import parse_dhcp_leases
from qemu_mcp.parsers.domifaddr import split_address
from qemu_mcp.parsers.ip_neigh import parse_ip_neigh
from qemu_mcp.parsers.sections import script_marker, tagged_sections
from qemu_mcp.transport.base import Runner

HOST_ADDRESSES_SCRIPT = r"""
export LC_ALL=C
uri=$1 m=$2
echo "$m neigh"
ip -j neigh 2>/dev/null
nets=$(virsh -c "$uri" net-list --uuid 2>/dev/null) || exit 0
cmds=
for n in $nets; do
  case $n in *[!0-9a-f-]*) continue ;; esac
  cmds="$cmds${cmds:+; }echo $m leases $n; net-dhcp-leases --network $n"
done
[ -z "$cmds" ] || exec virsh -c "$uri" "$cmds" 2>/dev/null
"""


def host_addresses_argv(uri: str, marker: str) -> list[str]:
    return ["sh", "-c", HOST_ADDRESSES_SCRIPT, "qemu-mcp-addresses", validation.libvirt_uri(uri), script_marker(marker)]


def parse_host_addresses(stdout: str, marker: str) -> list[AddressInfo]:
    """HOST_ADDRESSES_SCRIPT's output: its tagged `neigh` and `leases` sections."""
    sections = tagged_sections(stdout, marker)
    leases = [s.text for s in sections if s.tag == "leases"]
    return addresses_from(leases, [s.text for s in sections if s.tag == "neigh"])


def addresses_from(leases_texts: list[str], neigh_texts: list[str]) -> list[AddressInfo]:
    """Leases first (`virsh net-dhcp-leases` tables), then neighbour entries (`ip -j neigh`); a
    text that does not parse is skipped."""
    leases: list[AddressInfo] = []
    neigh: list[AddressInfo] = []
    for text in leases_texts:
        try:
            for lease in parse_dhcp_leases(text):
                if lease.address and lease.mac and lease.protocol in ("ipv4", "ipv6"):
                    ip, prefix = split_address(lease.address)
                    leases.append(AddressInfo(mac=lease.mac.lower(), ip=ip, prefix=prefix,
                                              family=lease.protocol, source="lease"))  # fmt: skip
        except ValueError:
            continue
    for text in neigh_texts:
        try:
            neigh += parse_ip_neigh(text) if text.strip() else []
        except ValueError:
            continue
    return leases + neigh


async def host_addresses(runner: Runner, uri: str, marker: str) -> list[AddressInfo]:
    try:
        result = await runner.run(host_addresses_argv(uri, marker), read_only=True)
    except (QemuMcpError, OSError):  # addresses are extra: the listing must not fail for them
        return []
    return parse_host_addresses(result.stdout, marker)


def worth_asking(vms: list[VmInfo]) -> bool:
    """Only a running VM with a NIC on a network or bridge can have a lease or a neighbour entry:
    a host without one is listed without this command."""
    return any(vm.status != "stopped" and any(n.type in ("network", "bridge") for n in vm.nics) for vm in vms)


def attach(vms: list[VmInfo], found: list[AddressInfo]) -> None:
    """Each running VM gets the addresses whose MAC is one of its NICs'."""
    by_mac: dict[str, list[AddressInfo]] = {}
    for a in found:
        by_mac.setdefault((a.mac or "").lower(), []).append(a)
    for vm in vms:
        if vm.status == "stopped":
            continue
        mine = [a for n in vm.nics if n.mac for a in by_mac.get(n.mac.lower(), [])]
        vm.addresses = merge([[a for a in mine if a.source == "lease"], [a for a in mine if a.source == "arp"]])
