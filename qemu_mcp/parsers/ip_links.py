"""Parse iproute2's JSON (`ip -j addr show type bridge`, `ip -j link show`): a host's bridges. Pure.

Each bridge object carries ifname, flags (administratively "UP" or not), operstate, address (MAC),
mtu and addr_info [{family: inet|inet6, local, prefixlen}]; a link enslaved to a bridge names it
in "master".
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any, Literal


@dataclass(frozen=True)
class IpAddress:
    family: Literal["ipv4", "ipv6"]
    address: str
    prefix: int | None


@dataclass
class Bridge:
    name: str
    up: bool
    operstate: str | None
    mac: str | None
    mtu: int | None
    addresses: list[IpAddress] = field(default_factory=list)
    ports: list[str] = field(default_factory=list)


def _objects(text: str, what: str) -> list[dict[str, Any]]:
    if not text.strip():
        return []
    try:
        data = json.loads(text)
    except ValueError:
        raise ValueError(f"not `ip -j {what}` JSON: {text[:200]!r}") from None
    if not isinstance(data, list):
        raise ValueError(f"`ip -j {what}` printed {type(data).__name__}, not a list")
    return [d for d in data if isinstance(d, dict) and isinstance(d.get("ifname"), str)]


def _address(info: dict[str, Any]) -> IpAddress | None:
    local = info.get("local")
    family = info.get("family")
    if not isinstance(local, str) or family not in ("inet", "inet6"):
        return None
    prefix = info.get("prefixlen")
    return IpAddress(
        family="ipv4" if family == "inet" else "ipv6", address=local, prefix=prefix if isinstance(prefix, int) else None
    )


def parse_bridges(addr_json: str, link_json: str) -> list[Bridge]:
    """Bridges from `ip -j addr show type bridge`, with their ports from `ip -j link show`."""
    bridges = []
    for obj in _objects(addr_json, "addr show type bridge"):
        flags = obj.get("flags")
        flags = flags if isinstance(flags, list) else []
        mtu = obj.get("mtu")
        addresses = [a for a in map(_address, obj.get("addr_info") or []) if isinstance(a, IpAddress)]
        bridges.append(
            Bridge(
                name=obj["ifname"],
                up="UP" in flags,
                operstate=obj.get("operstate"),
                mac=obj.get("address"),
                mtu=mtu if isinstance(mtu, int) else None,
                addresses=addresses,
            )
        )
    by_name = {b.name: b for b in bridges}
    for link in _objects(link_json, "link show"):
        master = by_name.get(str(link.get("master")))
        if master is not None:
            master.ports.append(link["ifname"])
    return bridges
