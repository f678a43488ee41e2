"""`qemu-mcp net list` and `qemu-mcp pool list [--pool NAME]`: list_networks and list_storage_pools
for people, as tables that fit the terminal (render.FitTable). No mcp import here."""

from __future__ import annotations

import argparse
import json
from typing import Any

from qemu_mcp.frontends.cli.fleet_call import with_fleet
from qemu_mcp.frontends.cli.render import Col, FitTable, escape


def add_parsers(sub: Any) -> None:
    net = sub.add_parser("net", help="networks").add_subparsers(dest="net_command", required=True)
    n_list = net.add_parser("list", help="libvirt networks, or a plain-QEMU host's bridges")
    n_list.add_argument("--host", help="inventory host (default: every inventory host)")
    n_list.add_argument("--json", action="store_true")
    n_list.set_defaults(run=_net_list)
    pool = sub.add_parser("pool", help="storage pools").add_subparsers(dest="pool_command", required=True)
    p_list = pool.add_parser("list", help="storage pools (plain QEMU: vm_dir and image_dir); --pool: its volumes")
    p_list.add_argument("--host", help="inventory host (default: every inventory host)")
    p_list.add_argument("--pool", help="a pool's exact name: list its volumes and the VMs using them")
    p_list.add_argument("--json", action="store_true")
    p_list.set_defaults(run=_pool_list)


def _console() -> Any:
    from rich.console import Console

    return Console()


def _finish(console: Any, data: Any) -> int:
    for e in data.errors:
        console.print(f"[red]{escape(e.host)}[/]: {escape(e.error)}", highlight=False)
    return 1 if data.errors else 0


def _net_list(args: argparse.Namespace) -> int:
    from qemu_mcp.ops.fleet_core import HostRef
    from qemu_mcp.ops.networks import list_networks

    data = with_fleet(args.config, lambda f: list_networks(f, HostRef(host=args.host)))
    if args.json:
        print(json.dumps(data.model_dump(mode="json"), indent=2))
        return 1 if data.errors else 0
    console = _console()
    console.print(network_table(data.networks, f"networks on {data.host} ({data.network_count})"))
    return _finish(console, data)


def _pool_list(args: argparse.Namespace) -> int:
    from qemu_mcp.ops.fleet_core import HostRef
    from qemu_mcp.ops.storage import list_storage_pools

    data = with_fleet(args.config, lambda f: list_storage_pools(f, HostRef(host=args.host), args.pool))
    if args.json:
        print(json.dumps(data.model_dump(mode="json"), indent=2))
        return 1 if data.errors else 0
    console = _console()
    console.print(pool_table(data.pools, f"storage pools on {data.host} ({data.pool_count})"))
    for p in data.pools:
        for note in p.notes:
            console.print(f"[yellow]{escape(p.host)}/{escape(p.name)}[/]: {escape(note)}", highlight=False)
    if data.volumes is not None:
        where = ", ".join(p.host for p in data.pools)
        console.print(volume_table(data.volumes, f"volumes of {args.pool} on {where} ({len(data.volumes)})"))
    return _finish(console, data)


def size(n: int | None) -> str:
    """Bytes in the largest binary unit that keeps the figure short: 1.5G, 200K, 12B."""
    if n is None:
        return ""
    for unit, scale in (("T", 2**40), ("G", 2**30), ("M", 2**20), ("K", 2**10)):
        if n >= scale:
            return f"{n / scale:.1f}{unit}"
    return f"{n}B"


def _yes_no(value: bool | None) -> str:
    return {True: "yes", False: "no", None: ""}[value]


def _host_and_name(host_drop: int) -> list[Col]:
    """The first two columns: the host folds and gives way (at `host_drop`), the name never does."""
    return [Col("host", kind="fold", drop=host_drop, min_width=8), Col("name")]


def network_table(networks: list[Any], title: str) -> FitTable:
    cols = [
        *_host_and_name(5),
        Col("active"),
        Col("bridge", drop=1),
        Col("forward", drop=2),
        Col("address", kind="fold", drop=3, min_width=18),
        Col("dhcp", kind="fold", drop=6, min_width=16),
        Col("leases", drop=7, justify="right"),
        Col("autostart", drop=8),
    ]
    rows = []
    for n in networks:
        addresses = ", ".join(f"{a.address}/{a.prefix}" if a.prefix is not None else a.address for a in n.addresses)
        ranges = ", ".join(f"{r.start}-{r.end}" for a in n.addresses for r in a.dhcp_ranges)
        forward = n.forward_mode or ("bridge" if n.kind == "bridge" else "")
        leases = "" if n.lease_count is None else str(n.lease_count)
        active = "[green]yes[/]" if n.active else "[dim]no[/]"
        rows.append([escape(n.host), escape(n.name), active, escape(n.bridge or ""), forward, addresses, ranges,
                     leases, _yes_no(n.autostart)])  # fmt: skip
    return FitTable(cols, rows, title)


def pool_table(pools: list[Any], title: str) -> FitTable:
    cols = [
        *_host_and_name(6),
        Col("state"),
        Col("type", drop=5),
        Col("path", kind="fold", drop=4, min_width=12),
        Col("size", drop=1, justify="right"),
        Col("free", drop=2, justify="right"),
        Col("vols", drop=3, justify="right"),
    ]
    rows = []
    for p in pools:
        state = f"[green]{p.state}[/]" if p.active else f"[dim]{escape(p.state)}[/]"
        vols = "" if p.volume_count is None else str(p.volume_count)
        rows.append([escape(p.host), escape(p.name), state, p.type or "", escape(p.target_path or ""),
                     size(p.capacity_bytes), size(p.available_bytes), vols])  # fmt: skip
    return FitTable(cols, rows, title)


def volume_table(volumes: list[Any], title: str) -> FitTable:
    cols = [
        Col("name", kind="fold", min_width=12),
        Col("format", drop=2),
        Col("size", drop=1, justify="right"),
        Col("used", drop=4, justify="right"),
        Col("backing", kind="fold", drop=5, min_width=10),
        Col("used by", kind="fold", drop=3, min_width=10),
    ]
    several_hosts = len({v.host for v in volumes}) > 1
    if several_hosts:
        cols.append(Col("host", kind="fold", drop=6, min_width=8))
    rows = []
    for v in volumes:
        users = ", ".join(f"{u.vm}:{u.target or '?'}" + (" backing" if u.role == "backing" else "") for u in v.used_by)
        row = [escape(v.name), v.format or "", size(v.capacity_bytes), size(v.allocation_bytes),
               escape(v.backing_file or ""), escape(users)]  # fmt: skip
        rows.append([*row, escape(v.host)] if several_hosts else row)
    return FitTable(cols, rows, title)
