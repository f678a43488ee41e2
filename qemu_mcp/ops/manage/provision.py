"""manage_vm create, issue 11: the seed ISO and Ignition config built here and uploaded beside the
VM's disk, the network choice, and the SSH forward's port picked free on the host's 127.0.0.1.

Files (contract in the module docs of backends.qemu.vmconf and backends.libvirt.provision): plain
QEMU `<vm_dir>/<name>/seed.iso` and `ignition.ign`; libvirt `<disk dir>/<name>-seed.iso` and
`<name>-ignition.ign`. Each is reserved first (never overwriting a file), then written over SFTP;
the create's undo removes it, and delete removes it with the VM.
"""

from __future__ import annotations

import asyncio
import secrets
from dataclasses import replace

from qemu_mcp.backends.base import CreateFacts, CreatePlan, VmState
from qemu_mcp.backends.job import Job, Undo
from qemu_mcp.backends.provision import (
    FORWARD_HOST,
    FORWARD_PORTS,
    NetworkChoice,
    Provision,
    file_paths,
    new_mac,
    pick_port,
    ssh_jump_line,
    wants_forward,
)
from qemu_mcp.host import fs
from qemu_mcp.host.ports import tcp_listeners
from qemu_mcp.nocloud import nocloud_iso
from qemu_mcp.ops.manage.call import Call
from qemu_mcp.parsers.qemu_host import listening_ports
from qemu_mcp.transport.files import write_file

FILE_MODE = 0o644  # the qemu user (libvirt-qemu) reads the Ignition file; libvirt relabels only disks


def with_files(call: Call, plan: CreatePlan) -> CreatePlan:
    """The plan with the request's network choice, the seed ISO and the Ignition bytes."""
    req = call.req
    seed_path, ignition_path = file_paths(plan.name, plan.home, plan.disk_path)
    seed = nocloud_iso(req.cloud_init) if req.cloud_init is not None else None
    return replace(
        plan,
        provision=Provision(
            network=req.network,
            ssh_forward=req.ssh_forward,
            seed=seed,
            ignition=req.ignition,
            seed_path=seed_path,
            ignition_path=ignition_path,
            mac=new_mac(),
        ),
    )


def may_forward(plan: CreatePlan) -> bool:
    choice = plan.provision.network
    return plan.provision.ssh_forward is not False and (choice is None or choice.kind == "user")


async def listening(call: Call, plan: CreatePlan) -> set[int]:
    """The TCP ports the host listens on, and those other VMs' forwards will take when they start
    (read only when a forward may be made)."""
    if not may_forward(plan):
        return set()
    return await ports_in_use(call)


async def ports_in_use(call: Call) -> set[int]:
    """The host's TCP listeners and every recorded forward of our VMs (create, clone)."""
    result, recorded = await asyncio.gather(
        call.job.read("listing the TCP ports in use (SSH forward)", tcp_listeners()),
        call.backend.forward_ports(call.job),
    )
    return (listening_ports(result.stdout) if result.exit_status == 0 else set()) | recorded


def with_forward(plan: CreatePlan, facts: CreateFacts, ports: set[int]) -> CreatePlan:
    """Once the backend says what the NIC is on: a free port for user-mode networking's forward."""
    nic = facts.nic or NetworkChoice("user" if facts.network is None else "network", facts.network)
    if not wants_forward(nic, plan.provision.ssh_forward):
        return plan
    return replace(plan, provision=replace(plan.provision, forward_port=free_port(ports)))


def free_port(ports: set[int]) -> int:
    """A forward port nothing listens on or forwards to, picked at random in the range."""
    return pick_port(ports, set(), secrets.randbelow(len(FORWARD_PORTS)))


async def upload(job: Job, plan: CreatePlan) -> None:
    await upload_files(job, plan.provision.files())


async def upload_files(job: Job, files: list[tuple[str, str, bytes]]) -> None:
    """Reserve each file's path (exclusively), then write it; the undo removes it."""
    for what, path, data in files:
        await job.change(
            f"reserving {path} for {what}",
            fs.reserve_file(path),
            undo=Undo(f"removing {what} {path}", fs.remove_files([path])),
        )
        await job.act(
            f"writing {what} to {path} ({len(data)} bytes; over SFTP on a remote host)",
            ["write-file", path, f"{len(data)} bytes", oct(FILE_MODE)],
            lambda p=path, d=data: write_file(job.runner, p, d, FILE_MODE),  # type: ignore[misc]
        )


def requested(plan: CreatePlan) -> dict[str, int | str | None]:
    p = plan.provision
    return {
        "network": p.network.describe() if p.network else None,
        "seed": p.seed_path if p.seed is not None else None,
        "ignition": p.ignition_path if p.ignition is not None else None,
    }


def applied(plan: CreatePlan, facts: CreateFacts) -> dict[str, int | str | None]:
    out: dict[str, int | str | None] = {"network": facts.nic.describe() if facts.nic else None}
    return out | forward_applied(plan.provision.forward_port)


def forward_applied(port: int | None) -> dict[str, int | str | None]:
    return {"ssh_forward_host": FORWARD_HOST, "ssh_forward_port": port} if port else {}


def summary(plan: CreatePlan) -> str:
    p = plan.provision
    parts = []
    if p.forward_port:
        parts.append(f"SSH forward 127.0.0.1:{p.forward_port} -> guest port 22 (on the host)")
    if p.seed is not None:
        parts.append(f"cloud-init seed {p.seed_path}")
    if p.ignition is not None:
        parts.append(f"Ignition {p.ignition_path}")
    return "".join(f", {x}" for x in parts)


def ssh_note(call: Call, plan: CreatePlan) -> None:
    login_note(call, plan.provision.forward_port)


def login_note(call: Call, port: int | None) -> None:
    """How to log into the guest once it has booted (the forward listens on the host's loopback)."""
    spec = call.spec
    if not port:
        return
    ci = call.req.cloud_init
    user = ci.user if ci is not None else None
    if spec.is_local:
        line = f"ssh -p {port} {user or '<user>'}@{FORWARD_HOST}"
    else:
        line = ssh_jump_line(user, port, spec.user or "<host user>", spec.address or spec.name, spec.port)
    call.job.note(f"once the guest has booted, log in with: {line}")


async def remove_serial_log(job: Job, vm: VmState) -> None:
    """delete: the serial console log libvirt's virtlogd kept for the VM (in /var/log/libvirt/qemu,
    which an SSH user who is not root may not write: then a note, not a failed delete)."""
    path = vm.extra.get("serial_log")
    if not path:
        return
    result = await job.change(f"removing the serial console log {path}", fs.remove_files([path]), check=lambda r: None)
    if result is not None and result.exit_status != 0:
        why = result.stderr.strip()[:200]
        job.note(f"the serial console log {path} could not be removed ({why}); remove it as root")
