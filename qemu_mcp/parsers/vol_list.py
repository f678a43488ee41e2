"""Parse `virsh vol-list --pool POOL` (a virsh table, see parsers.virsh_table). Pure.

     Name             Path
    -------------------------------------------------
     over lay.qcow2   /pool/over lay.qcow2
"""

from __future__ import annotations

from dataclasses import dataclass

from qemu_mcp.parsers.virsh_table import parse_table


@dataclass(frozen=True)
class ListedVolume:
    name: str
    path: str | None


def parse_vol_list(text: str) -> list[ListedVolume]:
    rows = parse_table(text)
    return [ListedVolume(name=row.get("Name", ""), path=row.get("Path", "").strip() or None) for row in rows]
