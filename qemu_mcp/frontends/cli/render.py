"""Rendering shared by the CLI's command groups (rich is imported only when a table is drawn)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from rich.table import Table


def vm_table(vms: list[Any], title: str) -> Table:
    """VMs as a table: names never wrap (they must stay copy-pasteable)."""
    from rich.table import Table

    t = Table(title=title)
    for col in ("host", "name", "status", "arch", "vcpus", "memory MiB", "disks", "autostart"):
        t.add_column(col, no_wrap=col in ("host", "name"))  # names must stay copy-pasteable
    colour = {"running": "green", "stopped": "dim", "paused": "yellow", "crashed": "red"}
    for v in vms:
        disks = ", ".join(f"{d.target}:{gib(d.capacity_bytes)}" for d in v.disks if d.device == "disk")
        c = colour.get(v.status, "white")
        t.add_row(
            v.host,
            v.name,
            f"[{c}]{v.state}[/]",
            v.arch or "",
            str(v.vcpus),
            str(v.memory),
            disks,
            {True: "yes", False: "no", None: "?"}[v.autostart],
        )
    return t


def gib(n: int | None) -> str:
    return "?" if n is None else f"{n / 2**30:.1f}G"
