"""`qemu-mcp vm snapshot create|list|revert|delete NAME ...`: manage_snapshot for people.

Same options as the MCP tool; `--yes` confirms revert and delete (on a terminal the CLI asks
instead when it is missing). list prints a table (or --json). No mcp import here.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from typing import TYPE_CHECKING, Any

from qemu_mcp.consent import Consent
from qemu_mcp.frontends.cli.fleets import cli_fleet
from qemu_mcp.frontends.cli.manage import add_call_options, cli_principal, confirmed, host_ref, print_planned, shown
from qemu_mcp.frontends.cli.progress import ProgressView
from qemu_mcp.frontends.cli.render import Col, FitTable, escape

if TYPE_CHECKING:
    from qemu_mcp.models import ManageSnapshotResult, SnapshotInfo
    from qemu_mcp.ops.manage import SnapshotRequest

HELP = {
    "create": "take a snapshot (a running VM's memory too); default name snap-<UTC time>",
    "list": "list a VM's snapshots",
    "revert": "put the VM back to a snapshot (what changed since is lost; --yes confirms)",
    "delete": "delete a snapshot (--yes confirms)",
}


def add_parser(vm_sub: Any) -> None:
    """`vm snapshot ACTION NAME`, below the `vm` command."""
    snapshot = vm_sub.add_parser("snapshot", help="a VM's snapshots: create, list, revert, delete")
    actions = snapshot.add_subparsers(dest="snapshot_action", required=True)
    for action, text in HELP.items():
        p = actions.add_parser(action, help=text, description=text)
        p.add_argument("name", help="VM name")
        if action != "list":
            need = " (default snap-<UTC time>)" if action == "create" else ""
            p.add_argument("--snapshot", "-s", required=action != "create", help=f"the snapshot's name{need}")
        if action == "create":
            p.add_argument("--description", help="one line kept with the snapshot")
            p.add_argument(
                "--memory",
                action=argparse.BooleanOptionalAction,
                default=None,
                help="save a running VM's memory too (default: yes when it runs)",
            )
        p.add_argument("--vm-dir", help="where plain-QEMU VMs live (default: the host's vm_dir)")
        add_call_options(p, "confirm revert and delete")
        p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from qemu_mcp.ops.manage import parse_snapshot_request

    opt = vars(args)
    options = {"snapshot": opt.get("snapshot"), "description": opt.get("description")}
    options |= {"include_memory": opt.get("memory")}
    req = parse_snapshot_request(
        args.name, args.snapshot_action, **options, vm_dir=args.vm_dir, confirm=args.yes, dry_run=args.dry_run
    )
    result = confirmed(args, lambda consent, show_progress: _run(args, req, consent, show_progress))
    if result is None:
        return 1
    _print(result, args.json)
    return 0


def _run(args: argparse.Namespace, req: SnapshotRequest, consent: Consent, show_progress: bool) -> ManageSnapshotResult:
    from qemu_mcp.ops.manage import manage_snapshot

    ref = host_ref(args)

    async def go() -> ManageSnapshotResult:
        fleet = cli_fleet(args.config)
        try:
            if not show_progress or req.action == "list":
                return await manage_snapshot(fleet, ref, req, consent=consent, who=cli_principal())
            async with ProgressView(f"snapshot {req.action} {req.name}", tty=sys.stderr.isatty()) as view:
                return await manage_snapshot(
                    fleet, ref, req, consent=consent, progress=view.update, who=cli_principal()
                )
        finally:
            await fleet.close()

    return asyncio.run(go())


def snapshots_table(snapshots: list[SnapshotInfo], title: str) -> FitTable:
    cols = [
        Col("name"),
        Col("created (UTC)", drop=2),
        Col("state", drop=3),
        Col("memory", drop=4),
        Col("parent", drop=6),
        Col("where", drop=7),
        Col("description", kind="fold", drop=5, min_width=12),
    ]
    rows = [
        [
            escape(s.name) + (" [bold]*[/]" if s.current else ""),
            (s.created or "?").replace("T", " ").removesuffix("+00:00"),
            escape(s.state or "?"),
            "yes" if s.memory else "no",
            escape(s.parent or "-"),
            s.location,
            escape(s.description or "") + "".join(f"\n[dim]{escape(n)}[/]" for n in s.notes),
        ]
        for s in snapshots
    ]
    return FitTable(cols, rows, title)


def _print(result: ManageSnapshotResult, as_json: bool) -> None:
    console = shown(result, as_json)
    if console is None:
        return
    d = result.data.details
    if result.data.action == "list" and d.snapshots:
        console.print(snapshots_table(d.snapshots, f"snapshots of {result.data.vm_name} (*: current)"))
    if d.dry_run:
        print_planned(console, d.commands)
