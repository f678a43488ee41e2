"""Parse `virsh domifaddr UUID --source agent|lease|arp` (a virsh table, see parsers.virsh_table). Pure.

     Name       MAC address          Protocol     Address
    -------------------------------------------------------------------------------
     enp1s0     52:54:00:a7:d0:01    ipv4         10.251.217.120/24
     -          -                    ipv6         fe80::5054:ff:fea7:d001/64

A "-" name and MAC continue the interface above (one row per address). With `--source agent`
the names are the guest's interfaces (loopback included: dropped here); with `lease` and `arp`
they are the host-side devices (vnetN). Addresses are written with their prefix length, except
`arp`, which knows none ("/0").
"""

from __future__ import annotations

import ipaddress

from qemu_mcp.models_addresses import AddressInfo, AddressSource
from qemu_mcp.parsers.virsh_table import parse_table


def split_address(text: str) -> tuple[str, int | None]:
    """'10.0.2.15/24' -> ('10.0.2.15', 24); a /0 (arp) or no prefix -> None."""
    ip, _, prefix = text.partition("/")
    return ip, (int(prefix) if prefix.isdigit() and int(prefix) > 0 else None)


def is_loopback(ip: str) -> bool:
    try:
        return ipaddress.ip_address(ip).is_loopback
    except ValueError:
        return False


def parse_domifaddr(text: str, source: AddressSource) -> list[AddressInfo]:
    found: list[AddressInfo] = []
    name: str | None = None
    mac: str | None = None
    for row in parse_table(text):
        cell_name, cell_mac = row.get("Name", "").strip(), row.get("MAC address", "").strip()
        if cell_name not in ("", "-"):
            name, mac = cell_name, (cell_mac if cell_mac not in ("", "-") else None)
        ip, prefix = split_address(row.get("Address", "").strip())
        family = row.get("Protocol", "").strip()
        if not ip or ip == "-" or family not in ("ipv4", "ipv6") or is_loopback(ip):
            continue
        found.append(AddressInfo(interface=name, mac=mac, ip=ip, prefix=prefix, family=family, source=source))
    return found
