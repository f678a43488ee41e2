"""The guest-address fixtures (commands-addr.jsonl, scripts/capture_address_fixtures.py) as the
product's parsers read them, as JSON. Chosen by the file name's prefix."""

from __future__ import annotations

import dataclasses
from typing import Any

from qemu_mcp.parsers.dhcp_leases import parse_dhcp_leases
from qemu_mcp.parsers.domifaddr import parse_domifaddr
from qemu_mcp.parsers.ip_neigh import parse_ip_neigh
from qemu_mcp.parsers.qga_interfaces import parse_qga_interfaces


def _dump(found: list[Any]) -> list[dict[str, Any]]:
    return [a.model_dump(mode="json") for a in found]


def addr_view(name: str, text: str) -> Any | None:
    """The parse of an addr-* fixture, or None for another fixture."""
    if name.startswith("addr-domifaddr-"):
        source = name.removeprefix("addr-domifaddr-").split(".")[0]
        return _dump(parse_domifaddr(text, source))  # type: ignore[arg-type]
    if name.startswith("addr-dhcp-leases."):
        return [dataclasses.asdict(lease) for lease in parse_dhcp_leases(text)]
    if name.startswith("addr-ip-neigh."):
        return _dump(parse_ip_neigh(text))
    if name.startswith("addr-qga-interfaces."):
        return _dump(parse_qga_interfaces(text))
    return None
