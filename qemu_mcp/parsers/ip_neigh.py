"""Parse `ip -j neigh` (iproute2's JSON): the host's ARP/NDP table, as guest addresses. Pure.

    [{"dst":"10.251.217.120","dev":"vnet3","lladdr":"52:54:00:a7:d0:01","state":["REACHABLE"]}, ...]

Entries without a link-layer address (INCOMPLETE, FAILED) say nothing about a guest: dropped.
The caller keeps the entries whose MAC belongs to one of its VM's NICs.
"""

from __future__ import annotations

import json

from qemu_mcp.models_addresses import AddressInfo

DEAD_STATES = {"FAILED", "INCOMPLETE"}


def parse_ip_neigh(text: str) -> list[AddressInfo]:
    """ValueError for text that is not `ip -j neigh` output; [] for an empty table."""
    if not text.strip():
        return []
    entries = json.loads(text)
    if not isinstance(entries, list):
        raise ValueError("not `ip -j neigh` output: a JSON list was expected")
    found = []
    for e in entries:
        if not isinstance(e, dict) or not e.get("dst") or not e.get("lladdr"):
            continue
        if DEAD_STATES & set(e.get("state") or []):
            continue
        ip = str(e["dst"])
        family = "ipv6" if ":" in ip else "ipv4"
        found.append(
            AddressInfo(interface=e.get("dev"), mac=str(e["lladdr"]).lower(), ip=ip, family=family, source="arp")
        )
    return found
