"""Parse `virsh net-dhcp-leases NETWORK` (a virsh table, see parsers.virsh_table). Pure.

     Expiry Time           MAC address         Protocol   IP address         Hostname    Client ID or DUID
    -----------------------------------------------------------------------------------------------------------
     2026-11-30 14:02:31   52:54:00:aa:bb:01   ipv4       10.251.77.101/24   guest-one   01:52:54:00:aa:bb:01

"-" stands for a value the lease does not have.
"""

from __future__ import annotations

from dataclasses import dataclass

from qemu_mcp.parsers.virsh_table import parse_table


@dataclass(frozen=True)
class Lease:
    expiry: str | None
    mac: str | None
    protocol: str | None
    address: str | None  # with its prefix length, as virsh prints it: 10.251.77.101/24
    hostname: str | None
    client_id: str | None


# Lease field -> virsh's column header.
COLUMNS = {
    "expiry": "Expiry Time", "mac": "MAC address", "protocol": "Protocol", "address": "IP address",
    "hostname": "Hostname", "client_id": "Client ID or DUID",
}  # fmt: skip


def _value(row: dict[str, str], label: str) -> str | None:
    cell = row.get(label, "").strip()
    return None if cell in ("", "-") else cell


def parse_dhcp_leases(text: str) -> list[Lease]:
    return [Lease(**{field: _value(row, label) for field, label in COLUMNS.items()}) for row in parse_table(text)]
