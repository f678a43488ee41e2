"""Parse `virsh net-dumpxml` (libvirt network XML) into a NetworkDefinition. Pure.

A network without <forward> is isolated (libvirt's meaning). An <ip> carries either a prefix or
a netmask (IPv4 only); the netmask is turned into a prefix length.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field

from lxml import etree

from qemu_mcp.models import DhcpRange, NetworkAddress
from qemu_mcp.parsers.libvirt_xml import attr, name_of, parse_root, text

ISOLATED = "isolated"


@dataclass
class NetworkDefinition:
    name: str
    uuid: str | None
    forward_mode: str
    bridge: str | None
    addresses: list[NetworkAddress] = field(default_factory=list)


def _prefix(ip: etree._Element) -> int | None:
    prefix = ip.get("prefix")
    if prefix is not None and prefix.isdigit():
        return int(prefix)
    netmask = ip.get("netmask")
    if netmask is None:
        return None
    try:
        return ipaddress.IPv4Network(f"0.0.0.0/{netmask}").prefixlen
    except ValueError:
        return None


def _address(ip: etree._Element) -> NetworkAddress | None:
    address = ip.get("address")
    if not address:
        return None
    family = "ipv6" if ip.get("family") == "ipv6" or ":" in address else "ipv4"
    ranges = [
        DhcpRange(start=r.get("start", ""), end=r.get("end", ""))
        for r in ip.findall("dhcp/range")
        if r.get("start") and r.get("end")
    ]
    return NetworkAddress(family=family, address=address, prefix=_prefix(ip), dhcp_ranges=ranges)


def parse_network_xml(xml: str) -> NetworkDefinition:
    """ValueError if it is not well-formed <network> XML with a name."""
    root = parse_root(xml, "network")
    forwarded = root.find("forward") is not None
    return NetworkDefinition(
        name=name_of(root),
        uuid=text(root.find("uuid")),
        forward_mode=(attr(root, "forward", "mode") or "nat") if forwarded else ISOLATED,
        bridge=attr(root, "bridge", "name"),
        addresses=[a for a in map(_address, root.findall("ip")) if a is not None],
    )
