"""The CLI for people: `qemu-mcp hosts|vm|serve|demo`. Thin: parse args, call ops, print.

Every command imports what it runs when it runs: mcp only for `serve` and `demo`, manage_vm's
and the monitor's operations only for theirs, rich only to draw, asyncssh only to reach a remote
host (fleets.py), so that each starts fast. The global options (`--config`, `--log-level`,
`--version`) are accepted before or after the command, at any depth.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from qemu_mcp.errors import InvalidInput, QemuMcpError
from qemu_mcp.frontends.cli import console as cli_console
from qemu_mcp.frontends.cli import images as cli_images
from qemu_mcp.frontends.cli import manage as cli_manage
from qemu_mcp.frontends.cli import monitor as cli_monitor
from qemu_mcp.frontends.cli import render
from qemu_mcp.frontends.cli import resources as cli_resources
from qemu_mcp.frontends.cli import safety as cli_safety
from qemu_mcp.frontends.cli import serve as cli_serve
from qemu_mcp.frontends.cli import snapshot as cli_snapshot
from qemu_mcp.frontends.cli.fleet_call import with_fleet

if TYPE_CHECKING:
    from qemu_mcp.ops.fleet_core import FleetCore


def _parser() -> argparse.ArgumentParser:
    p = cli_serve.top_parser()
    sub = p.add_subparsers(dest="command", required=True)

    cli_serve.add_parser(sub)

    token = sub.add_parser("token", help="API tokens for --http").add_subparsers(dest="token_command", required=True)
    t_hash = token.add_parser("hash", help="read a token on stdin, print the sha256 to put in hosts.yaml")
    t_hash.add_argument("--json", action="store_true")
    t_hash.set_defaults(run=_token_hash)
    t_new = token.add_parser("new", help="make a random token; print it and its sha256")
    t_new.add_argument("--json", action="store_true")
    t_new.set_defaults(run=_token_new)

    demo = sub.add_parser("demo", help="list the built-in demo host's VMs and show the MCP tools answering")
    demo.add_argument("--json", action="store_true", help="what the demo saw, as JSON")
    demo.set_defaults(run=_demo)

    hosts = sub.add_parser("hosts", help="the inventory").add_subparsers(dest="hosts_command", required=True)
    h_list = hosts.add_parser("list", help="inventory hosts with reachability, backend and latency")
    h_list.add_argument("--json", action="store_true")
    h_list.set_defaults(run=_hosts_list)
    h_check = hosts.add_parser("check", help="connect, verify the host key, find tools and versions")
    h_check.add_argument("name", nargs="?", help="one host (default: every inventory host)")
    h_check.add_argument("--json", action="store_true")
    h_check.set_defaults(run=_hosts_check)

    vm = sub.add_parser("vm", help="virtual machines").add_subparsers(dest="vm_command", required=True)
    v_list = vm.add_parser("list", help="list VMs")
    v_list.add_argument("--host", help="inventory host (default: every inventory host)")
    v_list.add_argument("--status", choices=["running", "stopped", "paused", "all"], default="all")
    v_list.add_argument("--arch", help="x86_64 or aarch64 (arm64)")
    v_list.add_argument("--filter", dest="filter_name", help="name substring (case-insensitive)")
    v_list.add_argument("--vm-dir", help="VM directory on plain-QEMU hosts (default: each host's vm_dir)")
    v_list.add_argument("--json", action="store_true")
    v_list.set_defaults(run=_vm_list)
    v_info = vm.add_parser("info", help="one VM in detail")
    v_info.add_argument("name")
    v_info.add_argument("--host", help="inventory host (default: local)")
    v_info.add_argument("--xml", action="store_true", help="print the domain XML (or vm.conf) too")
    v_info.add_argument("--vm-dir", help="VM directory on a plain-QEMU host (default: the host's vm_dir)")
    v_info.add_argument("--json", action="store_true")
    v_info.set_defaults(run=_vm_info)
    cli_manage.add_parsers(vm)
    cli_snapshot.add_parser(vm)
    cli_console.add_parser(vm)
    cli_resources.add_parsers(sub)
    cli_images.add_parsers(sub)
    cli_monitor.add_parser(sub)
    cli_safety.add_parsers(sub)
    cli_serve.spread_global_options(p)
    return p


def main(argv: list[str] | None = None) -> int:
    return cli_serve.run(_parser().parse_args(argv))


def _with_fleet(args: argparse.Namespace, fn: Callable[[FleetCore], Awaitable[Any]]) -> Any:
    return with_fleet(args.config, fn)


def _dump(model: Any) -> None:
    print(json.dumps(model.model_dump(mode="json"), indent=2))


def _console():
    from rich.console import Console

    return Console()


def _token_hash(args: argparse.Namespace) -> int:
    from qemu_mcp.auth import token_hash

    token = sys.stdin.readline().strip()
    if not token:
        raise InvalidInput("no token on stdin: `echo -n TOKEN | qemu-mcp token hash`")
    print(json.dumps({"sha256": token_hash(token)}) if args.json else token_hash(token))
    return 0


def _token_new(args: argparse.Namespace) -> int:
    import secrets

    from qemu_mcp.auth import token_hash

    token = secrets.token_urlsafe(32)
    if args.json:
        print(json.dumps({"token": token, "sha256": token_hash(token)}))
    else:
        print(f"token:  {token}\nsha256: {token_hash(token)}")
    return 0


def _hosts_list(args: argparse.Namespace) -> int:
    from qemu_mcp.ops.hosts import list_hosts

    data = _with_fleet(args, list_hosts)
    if args.json:
        _dump(data)
        return 0
    _console().print(render.hosts_table(data.hosts))
    return 0


def _hosts_check(args: argparse.Namespace) -> int:
    from qemu_mcp.ops.fleet_core import HostRef
    from qemu_mcp.ops.hosts import host_info

    async def check(fleet: FleetCore) -> list[tuple[str, Any]]:
        names = [args.name] if args.name else [h.name for h in fleet.inventory.configured]
        out: list[tuple[str, Any]] = []
        for name in names:
            try:
                out.append((name, await host_info(fleet, HostRef(host=name))))
            except QemuMcpError as e:
                out.append((name, e))
        return out

    results = _with_fleet(args, check)
    failed = any(isinstance(r, Exception) for _, r in results)
    if args.json:
        print(
            json.dumps(
                [
                    r.model_dump(mode="json") if not isinstance(r, Exception) else {"host": n, "error": str(r)}
                    for n, r in results
                ],
                indent=2,
            )
        )
        return 1 if failed else 0
    console = _console()
    for name, r in results:
        if isinstance(r, Exception):
            console.print(f"[bold]{name}[/]: [red]FAILED[/] {r}", highlight=False)
            continue
        console.print(
            f"[bold]{name}[/]: [green]ok[/] {r.hostname}, {r.cpus} CPU(s) {r.cpu_model or ''}, "
            f"{r.memory_mib} MiB, backend {r.backend or 'none'}",
            highlight=False,
        )
        console.print(f"  libvirt {r.libvirt_version or '-'}, hypervisor {r.hypervisor or '-'}", highlight=False)
        console.print(
            f"  virsh {r.tools.virsh or '-'}, qemu-img {r.tools.qemu_img or '-'}, iostat "
            f"{r.tools.iostat or '-'}, qemu-system: {', '.join(r.tools.qemu_system) or '-'}",
            highlight=False,
        )
        if r.missing:
            console.print(f"  [yellow]missing:[/] {', '.join(r.missing)}", highlight=False)
    return 1 if failed else 0


def _vm_list(args: argparse.Namespace) -> int:
    async def listing(fleet: FleetCore) -> Any:
        from qemu_mcp.ops.fleet_core import HostRef
        from qemu_mcp.ops.vms import list_vms

        ref = HostRef(host=args.host)
        return await list_vms(
            fleet, ref, status=args.status, arch=args.arch, filter_name=args.filter_name, vm_dir=args.vm_dir
        )

    data = with_fleet(args.config, listing, host=args.host, loads="qemu_mcp.ops.vms")
    if args.json:
        _dump(data)
        return 1 if data.errors else 0
    console = _console()
    console.print(render.vm_table(data.vms, f"VMs on {data.host} ({data.vm_count})"))
    for v in data.vms:
        for note in v.notes:
            console.print(f"[yellow]{v.host}/{v.name}[/]: {note}", highlight=False)
    for e in data.errors:
        console.print(f"[red]{e.host}[/]: {e.error}", highlight=False)
    return 1 if data.errors else 0


def _vm_info(args: argparse.Namespace) -> int:
    from qemu_mcp.ops.fleet_core import HostRef
    from qemu_mcp.ops.vms import get_vm_info

    vm = _with_fleet(args, lambda f: get_vm_info(f, args.name, HostRef(host=args.host), args.vm_dir))
    if args.json:
        _dump(vm)
        return 0
    console = _console()
    console.print(render.vm_table([vm], f"{vm.name} ({vm.uuid})"))
    for d in vm.disks:
        console.print(
            f"  disk {d.target} ({d.device}, {d.bus or '?'}): {d.path or '-'} [{d.format or '?'}]",
            highlight=False,
        )
    for n in vm.nics:
        console.print(f"  nic {n.mac or '-'} {n.type} {n.source or ''} {n.model or ''}", highlight=False)
    for g in vm.graphics:
        console.print(
            f"  graphics {g.type} {g.listen or ''}:{g.port if g.port is not None else 'auto'}",
            highlight=False,
        )
    for a in vm.addresses:
        console.print(
            f"  address {a.ip}/{a.prefix or '?'} {a.interface or '-'} {a.mac or '-'} ({a.source})", highlight=False
        )
    if vm.ssh:
        console.print(f"  ssh: {vm.ssh.command}", highlight=False)
    for note in vm.notes:
        console.print(f"  [yellow]note[/]: {note}", highlight=False)
    if args.xml and (vm.xml or vm.config):
        print(vm.xml or vm.config)
    return 0


def _demo(args: argparse.Namespace) -> int:
    from qemu_mcp.frontends.cli.demo import run_demo

    return run_demo(args.config, as_json=args.json)


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
