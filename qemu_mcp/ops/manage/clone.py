"""manage_vm clone (issue 11): a new VM with the source's hardware, a new UUID and new MACs, and
its disks as qcow2 overlays on the source's disks (linked=true) or full qcow2 copies. The source
must be shut off either way: an overlay on a disk that is still written would be corrupt, and a
copy of a running disk is not consistent. Same steps and undo as create: claim the name (libvirt:
defined with the 'creating' marker; plain QEMU: the clone's directory), reserve and fill each
disk, upload the clone's own cloud-init seed (cloud_init given), then the final definition. A
source with an SSH forward gives the clone a forward on a new free port (reported like create's)."""

from __future__ import annotations

import asyncio
import posixpath
from dataclasses import replace

from qemu_mcp.backends.base import VmDisk, VmState
from qemu_mcp.backends.clone_plan import ClonedDisk, ClonePlan
from qemu_mcp.backends.job import Job, Undo
from qemu_mcp.backends.libvirt.clone import LibvirtCloner
from qemu_mcp.backends.provision import seed_path
from qemu_mcp.backends.qemu.clone import QemuCloner
from qemu_mcp.errors import Conflict, InvalidInput, NotFound
from qemu_mcp.host import fs, images
from qemu_mcp.nocloud import nocloud_iso
from qemu_mcp.ops import guard
from qemu_mcp.ops.manage import provision
from qemu_mcp.ops.manage.call import Call, path_kinds, read_back


async def clone(call: Call) -> str:
    req, job, backend = call.req, call.job, call.backend
    assert req.source is not None
    if await backend.inspect(job, req.name) is not None:
        raise Conflict(f"{call.where} already exists: delete it first or choose another name")
    source = await backend.inspect(job, req.source)
    if source is None:
        raise NotFound(f"VM '{req.source}' (the clone's source) does not exist on host '{call.spec.name}'")
    plan = _plan(call, source)
    call.uuid = plan.uuid
    call.details.requested = {"source": source.name, "linked": str(plan.linked).lower(),
                              "disks": ", ".join(d.path for d in plan.disks), "seed": plan.new_seed}  # fmt: skip
    if call.policy is not None:
        paths = {f"disk {d.source.target}": d.path for d in plan.disks} | {"seed ISO": plan.new_seed}
        await guard.check_paths(job, call.policy, paths)
    missing, ports = await asyncio.gather(_check_paths(call, plan), provision.ports_in_use(call))
    plan = replace(plan, forward_port=provision.free_port(ports))  # used if the source has a forward
    cloner = LibvirtCloner(call.spec) if backend.kind == "libvirt" else QemuCloner(plan.vm_dir, call.spec.name)
    if missing:
        undo = Undo(f"removing {', '.join(missing)}", fs.remove_empty_dirs(list(reversed(missing))))
        await job.change(f"creating {missing[-1]}", fs.make_dirs(missing), undo=undo)
    await job.report(0, 3, f"claiming '{plan.name}'")
    await cloner.claim(job, plan)
    await job.report(1, 3, "making the clone's disks")
    for disk in plan.disks:
        await _make_disk(job, disk, plan.linked)
    await seed_for_clone(call, plan)
    await job.report(2, 3, f"defining '{plan.name}'")
    text = await cloner.define(job, plan)
    call.details.disks_created = [d.path for d in plan.disks]
    if backend.kind == "libvirt":
        call.details.xml = text
    else:
        call.details.config = text
    how = "linked overlays on" if plan.linked else "full copies of"
    summary = f"'{plan.name}' from '{source.name}' (disks: {how} {', '.join(d.source.path or '' for d in plan.disks)})"
    if req.dry_run:
        return f"would clone {summary}"
    if await read_back(call) is None:
        raise Conflict(f"{call.where} was defined but cannot be read back")
    call.details.applied |= provision.forward_applied(cloner.forward)
    provision.login_note(call, cloner.forward)
    if source.extra.get("ignition"):
        job.note(f"the source's Ignition config {source.extra['ignition']} is not given to the clone "
                 "(it would still name the source's file); cloud_init gives the clone its own seed")  # fmt: skip
    await job.report(3, 3, f"cloned '{plan.name}'")
    return f"cloned {summary}{_identity(plan, cloner.forward)}; not started"


async def seed_for_clone(call: Call, plan: ClonePlan) -> None:
    """The clone's own cloud-init seed (a fresh instance-id, so cloud-init runs again in the clone
    and sets its hostname, users and keys): reserved and written at plan.seed_path, after the disks
    and before the final definition, which attaches it; the undo removes it."""
    await provision.upload_files(call.job, plan.files())


def _identity(plan: ClonePlan, forward: int | None) -> str:
    words = f", SSH forward 127.0.0.1:{forward} -> guest port 22 (on the host)" if forward else ""
    return words + (f", cloud-init seed {plan.new_seed}" if plan.new_seed else "")


def _plan(call: Call, source: VmState) -> ClonePlan:
    req = call.req
    if source.running:
        raise Conflict(
            f"VM '{source.name}' on host '{call.spec.name}' is {source.state}: a clone's source must be shut off "
            f"(linked or full: its disks must not change while they are read); stop it first"
        )
    disks = [d for d in source.disks if d.device == "disk"]
    if not disks:
        raise InvalidInput(f"VM '{source.name}' has no disk to clone")
    for d in disks:
        if not (d.file_backed and d.path and d.format in ("qcow2", "raw")):
            raise InvalidInput(f"disk {d.target} of '{source.name}' is not a qcow2 or raw file: it cannot be cloned")
    vm_dir = req.vm_dir or call.spec.vm_dir
    home, first = call.backend.layout(vm_dir, req.name)
    stem = posixpath.splitext(first)[0]
    paths = [first] + [f"{stem}-{d.target}.qcow2" for d in disks[1:]]
    cloned = tuple(ClonedDisk(d, p) for d, p in zip(disks, paths, strict=True))
    seed = nocloud_iso(req.cloud_init) if req.cloud_init is not None else None
    return ClonePlan(name=req.name, source=source, disks=cloned, linked=req.linked, vm_dir=vm_dir, home=home,
                     seed=seed, seed_path=seed_path(req.name, home, first))  # fmt: skip


async def _check_paths(call: Call, plan: ClonePlan) -> list[str]:
    """The clone's disk (and seed) paths are free; returns the missing directory levels to make (libvirt)."""
    directory = posixpath.dirname(plan.disks[0].path)
    levels = _ancestors(directory) if plan.home is None else _ancestors(posixpath.dirname(plan.home))
    files = [d.path for d in plan.disks] + ([plan.new_seed] if plan.new_seed else [])
    paths = files + levels + ([plan.home] if plan.home else [])
    kinds = await path_kinds(call, "checking the clone's disk paths", paths)
    taken = [p for p in files if kinds[p] != "missing"]
    if taken or (plan.home and kinds[plan.home] != "missing"):
        raise Conflict(f"{', '.join(taken) or plan.home} already exists on host '{call.spec.name}' and is never "
                       "overwritten: choose another name or remove it yourself")  # fmt: skip
    return [d for d in levels if kinds[d] == "missing"]


def _ancestors(directory: str) -> list[str]:
    parts = [p for p in directory.split("/") if p]
    return ["/" + "/".join(parts[: i + 1]) for i in range(len(parts))]


async def _make_disk(job: Job, disk: ClonedDisk, linked: bool) -> None:
    src: VmDisk = disk.source
    assert src.path and src.format
    await job.change(f"reserving the disk path {disk.path}", fs.reserve_file(disk.path),
                     undo=Undo(f"removing the disk image {disk.path}", fs.remove_files([disk.path])))  # fmt: skip
    if linked:
        await job.change(f"creating {disk.path}, a qcow2 overlay on {src.path}",
                         images.overlay(disk.path, src.path, src.format))  # fmt: skip
    else:
        await job.change(f"copying {src.path} to {disk.path} (qcow2)", images.convert(src.path, src.format, disk.path))
