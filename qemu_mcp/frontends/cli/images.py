"""`qemu-mcp image upload LOCAL` and `qemu-mcp image list`: upload_image and list_images for
people (a progress bar for the copy; a table of the images). No mcp import here."""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from typing import Any

from qemu_mcp.consent import Consent
from qemu_mcp.errors import ConfirmationRequired
from qemu_mcp.frontends.cli.fleet_call import with_fleet
from qemu_mcp.frontends.cli.fleets import cli_fleet
from qemu_mcp.frontends.cli.manage import add_call_options, cli_principal, host_ref
from qemu_mcp.frontends.cli.progress import ProgressView
from qemu_mcp.frontends.cli.render import Col, FitTable, escape
from qemu_mcp.frontends.cli.resources import size


def add_parsers(sub: Any) -> None:
    image = sub.add_parser("image", help="base images on hosts").add_subparsers(dest="image_command", required=True)
    up = image.add_parser("upload", help="copy a local qcow2/raw/ISO file to a host's image_dir (sha256 checked)")
    up.add_argument("local", help="the local image file (.qcow2, .raw, .img, .iso)")
    up.add_argument("--name", help="file name in image_dir (default: the local file's name)")
    up.add_argument("--overwrite", action="store_true", help="replace an image of that name (asks, or --yes)")
    add_call_options(up, "confirm --overwrite")
    up.set_defaults(run=_upload)
    ls = image.add_parser("list", help="images in image_dir: format, sizes, backing chain, VMs using them")
    ls.add_argument("--host", help="inventory host (default: every inventory host)")
    ls.add_argument("--json", action="store_true")
    ls.set_defaults(run=_list)


def _upload(args: argparse.Namespace) -> int:
    from qemu_mcp.ops.images import upload_image

    ref = host_ref(args)
    consent = Consent(True, "cli") if args.yes else Consent()
    ask = args.overwrite and not args.yes and sys.stdin.isatty() and not args.json
    if ask and input(
        f"Replace the image of that name on {args.host or 'local'} if it exists? [y/N] "
    ).strip().lower() in (
        "y",
        "yes",
    ):
        consent = Consent(True, "cli")

    async def go() -> Any:
        fleet = cli_fleet(args.config)
        try:
            call = lambda progress: upload_image(  # noqa: E731
                fleet, ref, args.local, name=args.name, overwrite=args.overwrite, consent=consent,
                dry_run=args.dry_run, progress=progress, who=cli_principal(),
            )  # fmt: skip
            if args.json:
                return await call(None)
            async with ProgressView(f"upload {args.local}", tty=sys.stderr.isatty()) as view:
                return await call(view.update)
        finally:
            await fleet.close()

    try:
        result = asyncio.run(go())
    except ConfirmationRequired as e:
        raise ConfirmationRequired(f"{e} Re-run with --yes to confirm; nothing was changed.") from None
    if args.json:
        print(json.dumps(result.model_dump(mode="json"), indent=2))
    else:
        from rich.console import Console

        Console().print(f"[green]ok[/] {escape(result.message)}", highlight=False)
    return 0


def _list(args: argparse.Namespace) -> int:
    from qemu_mcp.ops.fleet_core import HostRef
    from qemu_mcp.ops.images import list_images

    data = with_fleet(args.config, lambda f: list_images(f, HostRef(host=args.host)))
    if args.json:
        print(json.dumps(data.model_dump(mode="json"), indent=2))
        return 1 if data.errors else 0
    from rich.console import Console

    console = Console()
    cols = [
        Col("host", drop=6),
        Col("name", kind="fold", min_width=12),
        Col("format", drop=4),
        Col("size", drop=1, justify="right"),
        Col("used", drop=3, justify="right"),
        Col("backing", kind="fold", drop=5, min_width=10),
        Col("VMs on it", kind="fold", drop=2, min_width=10),
    ]
    rows = [
        [escape(i.host), escape(i.name), i.format or "", size(i.virtual_size_bytes), size(i.actual_size_bytes),
         escape(" <- ".join(c.path for c in i.backing_chain)), escape(", ".join(i.used_by))]
        for i in data.images
    ]  # fmt: skip
    console.print(FitTable(cols, rows, f"images on {data.host} ({data.image_count})"))
    for e in data.errors:
        console.print(f"[red]{escape(e.host)}[/]: {escape(e.error)}", highlight=False)
    return 1 if data.errors else 0
