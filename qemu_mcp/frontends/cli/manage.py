"""`qemu-mcp vm create|start|stop|reboot|delete|modify NAME ...`: manage_vm for people.

Same options as the MCP tool; `--yes` stands in for confirm=true (on a terminal the CLI asks
instead when it is missing). A call that takes longer than a second shows its progress on stderr
(a bar on a terminal, plain lines otherwise; nothing with --json). No mcp import here; the
operations are imported when an action runs (other commands start without them).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shlex
import sys
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar

from qemu_mcp.auth import Principal
from qemu_mcp.consent import Consent
from qemu_mcp.errors import ConfigError, ConfirmationRequired
from qemu_mcp.frontends.cli.fleets import cli_fleet
from qemu_mcp.frontends.cli.progress import ProgressView
from qemu_mcp.frontends.cli.provision_opts import add_create_options, add_guest_options, provision_args

if TYPE_CHECKING:
    from qemu_mcp.models import CommandRecord, ManageSnapshotResult, ManageVmResult
    from qemu_mcp.ops.fleet_core import HostRef

T = TypeVar("T")

HELP = {
    "create": "create a VM (disk image with qemu-img; libvirt definition or vm.conf), optionally start it",
    "start": "start a shut-off VM",
    "stop": "shut a VM down (ACPI, waits --timeout s); --force powers it off at once",
    "reboot": "reboot a VM (ACPI, waits --timeout s); --force resets it at once",
    "delete": "delete a VM and its own disk images (never ISOs or shared disks)",
    "modify": "change memory, vCPUs or grow a disk (persistent; restarts a running VM only with --yes)",
}


def add_parsers(vm_sub: Any) -> None:
    """Add the six actions to the `vm` subcommand's subparsers."""
    for action, text in HELP.items():
        p = vm_sub.add_parser(action, help=text, description=text)
        p.add_argument("name", help="VM name")
        if action == "create":
            p.add_argument("--arch", required=True, help="x86_64 or aarch64 (arm64)")
        if action in ("create", "modify"):
            p.add_argument("--memory", help="e.g. 2G, 4096M, 512MiB" + (" (default 2G)" if action == "create" else ""))
            p.add_argument("--vcpus", type=int, help="vCPU count" + (" (default 2)" if action == "create" else ""))
            p.add_argument("--disk", help="'path=/data/vm/x.qcow2,size=20G' (parts optional)")
        if action == "create":
            p.add_argument("--iso", help="ISO path on the host, attached as CD-ROM and booted first")
            p.add_argument("--start", action="store_true", help="boot the VM once created")
            p.add_argument("--image", help="base image: a host path or a name in the host's image_dir")
            p.add_argument("--full", action="store_true", help="with --image: a full copy, not a linked overlay")
            add_create_options(p)
        if action in ("create", "start"):
            p.add_argument("--wait-for-ip", type=float, metavar="SECONDS", help="wait for an address or SSH forward")
        if action in ("stop", "reboot", "delete", "modify"):
            p.add_argument("--force", action="store_true", help=_force_help(action))
        if action in ("stop", "reboot", "modify"):
            p.add_argument("--timeout", type=float, help="seconds to wait for the guest (default 60)")
        p.add_argument(
            "--vm-dir",
            help="where plain-QEMU VMs live; libvirt hosts: create's disk directory (default: the host's vm_dir)",
        )
        add_call_options(p, "confirm delete, --force, modify's restart")
        p.set_defaults(run=run, manage_action=action)
    text = "clone a shut-off VM: same hardware, new UUID and MACs, disks as overlays on its disks (--full: copies)"
    p = vm_sub.add_parser("clone", help=text, description=text)
    p.add_argument("source", help="the existing VM (shut off)")
    p.add_argument("name", help="the new VM's name")
    p.add_argument("--full", action="store_true", help="full copies of the disks, not linked overlays")
    p.add_argument("--vm-dir", help="where plain-QEMU VMs live; libvirt hosts: the clone's disk directory")
    add_guest_options(p)  # the clone's own cloud-init seed: --hostname, --user, --authorized-key, --cloud-init
    add_call_options(p, "(nothing to confirm)")
    p.set_defaults(run=run, manage_action="clone")
    add_disk_parsers(vm_sub)


def add_disk_parsers(vm_sub: Any) -> None:
    """`vm disk add NAME --size 10G ...` and `vm disk remove NAME vdb [--delete-file]` (manage_vm modify)."""
    disk = vm_sub.add_parser("disk", help="add or remove a VM's disk (live on a running VM where possible)")
    actions = disk.add_subparsers(dest="disk_action", required=True)
    text = "create a new disk image (qemu-img, never overwrites) and attach it as the next free device"
    add = actions.add_parser("add", help=text, description=text)
    add.add_argument("name", help="VM name")
    add.add_argument("--size", required=True, help="e.g. 10G")
    add.add_argument("--format", choices=("qcow2", "raw"), help="image format (default qcow2, or the path's extension)")
    add.add_argument("--bus", choices=("virtio", "sata", "scsi"), help="default virtio")
    add.add_argument("--path", help="image path on the host (default: a free name in the VM's disk directory)")
    text = "detach a disk (not the boot disk); its file is kept unless --delete-file (asks, or --yes)"
    remove = actions.add_parser("remove", help=text, description=text)
    remove.add_argument("name", help="VM name")
    remove.add_argument("target", help="the disk's device name, e.g. vdb")
    remove.add_argument("--delete-file", action="store_true", help="delete the image file too (destructive)")
    remove.add_argument("--timeout", type=float, help="seconds to wait for a running guest to release it (default 60)")
    for p in (add, remove):
        p.add_argument("--vm-dir", help="where plain-QEMU VMs live (default: the host's vm_dir)")
        add_call_options(p, "confirm --delete-file")
        p.set_defaults(run=run_disk)


def run_disk(args: argparse.Namespace) -> int:
    """`vm disk add|remove`: manage_vm modify with add_disk or remove_disk."""
    from qemu_mcp.ops.manage import parse_request

    opt = vars(args)
    if args.disk_action == "add":
        parts = {"size": args.size, "path": args.path, "format": args.format, "bus": args.bus}
        spec = ",".join(f"{k}={v}" for k, v in parts.items() if v is not None)
        req = parse_request(args.name, "modify", add_disk=spec, vm_dir=args.vm_dir, confirm=args.yes,
                            dry_run=args.dry_run)  # fmt: skip
    else:
        req = parse_request(
            args.name, "modify", remove_disk=args.target, keep_file=not args.delete_file, vm_dir=args.vm_dir,
            confirm=args.yes, dry_run=args.dry_run, timeout=opt.get("timeout"),
        )  # fmt: skip
    ref = host_ref(args)
    result = confirmed(args, lambda consent, show_progress: _run(args, req, ref, consent, show_progress=show_progress))
    if result is None:
        return 1
    _print(result, args.json)
    return 0


def add_call_options(p: Any, yes_help: str) -> None:
    """The host, ssh_*, --yes, --dry-run and --json options every changing command takes."""
    p.add_argument("--host", help="inventory host or SSH address (default: local)")
    p.add_argument("--ssh-port", type=int, help="SSH port of an ad-hoc host")
    p.add_argument("--ssh-user", help="SSH user of an ad-hoc host")
    p.add_argument("--ssh-key", help="SSH private key of an ad-hoc host")
    p.add_argument("--ssh-pwd-env", metavar="VAR", help="environment variable holding the SSH password (never argv)")
    p.add_argument("--yes", "-y", action="store_true", help=yes_help)
    p.add_argument("--dry-run", action="store_true", help="print the commands that would run; change nothing")
    p.add_argument("--json", action="store_true", help="print the result as JSON")


def _force_help(action: str) -> str:
    return {
        "stop": "power off at once (like pulling the plug)",
        "reboot": "reset at once (like the reset button)",
        "delete": "power off a running VM first",
        "modify": "power off (not ACPI shutdown) for the restart",
    }[action]


def host_ref(args: argparse.Namespace) -> HostRef:
    from qemu_mcp.ops.fleet_core import HostRef

    password = None
    if args.ssh_pwd_env:
        password = os.environ.get(args.ssh_pwd_env)
        if password is None:
            raise ConfigError(f"--ssh-pwd-env names ${args.ssh_pwd_env}, which is not set")
    return HostRef(args.host, args.ssh_port, args.ssh_user, password, args.ssh_key)


def run(args: argparse.Namespace) -> int:
    from qemu_mcp.ops.manage import parse_request

    opt = vars(args)
    req = parse_request(
        args.name,
        args.manage_action,
        arch=opt.get("arch"),
        memory=opt.get("memory"),
        disk=opt.get("disk"),
        iso=opt.get("iso"),
        vcpus=opt.get("vcpus"),
        vm_dir=opt.get("vm_dir"),
        force=bool(opt.get("force")),
        confirm=args.yes,
        dry_run=args.dry_run,
        start=bool(opt.get("start")),
        timeout=opt.get("timeout"),
        wait_for_ip=opt.get("wait_for_ip"),
        **provision_args(opt),
        image=opt.get("image"),
        linked=None if not (opt.get("full") or opt.get("image") or opt.get("source")) else not opt.get("full"),
        source=opt.get("source"),
    )
    ref = host_ref(args)
    result = confirmed(args, lambda consent, show_progress: _run(args, req, ref, consent, show_progress=show_progress))
    if result is None:
        return 1
    _print(result, args.json)
    return 0


def confirmed(args: argparse.Namespace, attempt: Callable[[Consent, bool], T]) -> T | None:
    """attempt(consent, show_progress), with --yes as consent; without it, a dangerous step is asked
    about on a terminal (and attempted again once confirmed) and refused elsewhere. None: declined."""
    from qemu_mcp.ops.manage import NeedsConfirmation

    consent = Consent(True, "cli") if args.yes else Consent()
    interactive = sys.stdin.isatty() and sys.stderr.isatty() and not args.json
    try:
        return attempt(consent, not args.json)
    except NeedsConfirmation as e:
        if not interactive:
            raise ConfirmationRequired(f"{e.question} Re-run with --yes to confirm; nothing was changed.") from None
        if input(f"{e.question} [y/N] ").strip().lower() not in ("y", "yes"):
            print("not confirmed; nothing was changed", file=sys.stderr)
            return None
        return attempt(Consent(True, "cli"), True)


def _run(args: argparse.Namespace, req: Any, ref: HostRef, consent: Consent, *, show_progress: bool) -> ManageVmResult:
    from qemu_mcp.ops.manage import manage_vm

    async def go() -> ManageVmResult:
        fleet = cli_fleet(args.config)
        try:
            if not show_progress:
                return await manage_vm(fleet, ref, req, consent=consent, who=cli_principal())
            async with ProgressView(f"{req.action} {req.name}", tty=sys.stderr.isatty()) as view:
                return await manage_vm(fleet, ref, req, consent=consent, progress=view.update, who=cli_principal())
        finally:
            await fleet.close()

    return asyncio.run(go())


def cli_principal() -> Principal:
    """The audit log's `who` for the CLI: cli:<login name>."""
    import getpass

    try:
        user = getpass.getuser()
    except (KeyError, OSError):
        user = str(os.getuid())
    return Principal(subject=f"cli:{user}")


def shown(result: ManageVmResult | ManageSnapshotResult, as_json: bool) -> Any:
    """Print the result as JSON (returns None), or its message and notes (returns the console, for more)."""
    if as_json:
        print(json.dumps(result.model_dump(mode="json"), indent=2))
        return None
    from rich.console import Console
    from rich.markup import escape

    console = Console()
    console.print(f"[green]ok[/] {escape(result.message)}", highlight=False)
    for note in result.data.details.notes:
        console.print(f"  note: {note}", highlight=False, markup=False)
    return console


def _print(result: ManageVmResult, as_json: bool) -> None:
    console = shown(result, as_json)
    if console is None:
        return
    d = result.data.details
    if d.applied:  # requested vs what reading the VM back showed
        for key in dict.fromkeys([*d.requested, *d.applied]):
            console.print(
                f"  {key}: requested {d.requested.get(key, '-')}, applied {d.applied.get(key, '-')}",
                highlight=False,
            )
    for path in d.disks_removed:
        console.print(f"  removed {path}", highlight=False)
    for kept in d.disks_kept:
        console.print(f"  kept {kept}", highlight=False)
    if d.dry_run:
        print_planned(console, d.commands)
        if d.xml:
            console.print("domain XML (on stdin of `virsh define`):", highlight=False)
            print(d.xml)


def print_planned(console: Any, commands: list[CommandRecord]) -> None:
    """A dry run's commands that would change the host, each under its purpose."""
    console.print("commands that would change the host:", highlight=False)
    for c in commands:
        if c.changes_host:
            console.print(f"  # {c.purpose}\n  {shlex.join(c.argv)}", highlight=False, markup=False)
