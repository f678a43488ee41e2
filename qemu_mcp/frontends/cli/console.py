"""`qemu-mcp vm console NAME [--lines N] [--screenshot FILE.png]`: vm_console for people."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from qemu_mcp.frontends.cli.fleet_call import with_fleet


def add_parser(vm_sub: Any) -> None:
    p = vm_sub.add_parser("console", help="the tail of a VM's serial console; --screenshot saves its screen as PNG")
    p.add_argument("name", help="VM name")
    p.add_argument("--lines", "-n", type=int, default=50, help="how many of the last lines (default 50)")
    p.add_argument("--screenshot", metavar="FILE.png", help="save the VM's screen to this PNG file")
    p.add_argument("--host", help="inventory host (default: local)")
    p.add_argument("--vm-dir", help="VM directory on a plain-QEMU host (default: the host's vm_dir)")
    p.add_argument("--json", action="store_true", help="print the result (without the image) as JSON")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from qemu_mcp.ops.console import summary, vm_console
    from qemu_mcp.ops.fleet_core import HostRef

    data, png = with_fleet(
        args.config,
        lambda f: vm_console(
            f, args.name, HostRef(host=args.host), lines=args.lines, screenshot=bool(args.screenshot),
            vm_dir=args.vm_dir,
        ),
    )  # fmt: skip
    if png is not None and args.screenshot:
        Path(args.screenshot).write_bytes(png)
    if args.json:
        print(json.dumps(data.model_dump(mode="json"), indent=2))
    else:
        from rich.console import Console

        out = Console()  # wraps to the terminal (80 columns when not one)
        for line in data.lines:
            out.print(line, markup=False, highlight=False, overflow="fold")
        for note in data.notes:
            out.print(f"note: {note}", markup=False, highlight=False, overflow="fold")
        saved = f"; saved to {args.screenshot}" if png is not None and args.screenshot else ""
        out.print(summary(data) + saved, markup=False, highlight=False, overflow="fold")
    return 1 if args.screenshot and png is None else 0
