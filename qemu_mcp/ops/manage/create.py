"""manage_vm create: check, reserve the disk, define, optionally start; undo on failure."""

from __future__ import annotations

import asyncio
import posixpath
from dataclasses import dataclass

from qemu_mcp import sizes
from qemu_mcp.backends.base import CreateFacts, CreatePlan
from qemu_mcp.backends.job import Job, Undo
from qemu_mcp.errors import CommandFailed, Conflict, InvalidInput, NotFound
from qemu_mcp.host import fs, qemu_img
from qemu_mcp.ops import guard
from qemu_mcp.ops.manage import provision
from qemu_mcp.ops.manage.call import (
    Call,
    path_kinds,
    read_back,
)
from qemu_mcp.ops.manage.create_image import base_path, disk_steps, image_words, with_image
from qemu_mcp.ops.manage.reach import wait_step


@dataclass(frozen=True)
class _Dirs:
    """The directory levels above the disk image: `outer` (parents first) are made before the
    backend claims the VM's own directory, `inner` (below that directory) after it."""

    outer: list[str]
    inner: list[str]


async def create(call: Call) -> str:
    await _refuse_existing_vm(call)
    plan = provision.with_files(call, _plan(call))
    if call.policy is not None:
        paths = {"disk image": plan.disk_path, "ISO": call.req.iso, "base image": base_path(call)}
        await guard.check_paths(call.job, call.policy, paths)
    plan = await with_image(call, plan)
    call.uuid = plan.uuid
    call.details.requested = _requested(plan) | provision.requested(plan)
    dirs = _directories(plan)
    missing_dirs = await _check_host_paths(call, plan, dirs)
    facts, ports = await asyncio.gather(call.backend.prepare_create(call.job, plan), provision.listening(call, plan))
    plan = provision.with_forward(plan, facts, ports)
    await _make_vm(call, plan, facts, missing_dirs, dirs.inner)
    call.details.disks_created = [plan.disk_path]
    call.details.xml = facts.xml
    call.details.config = facts.config
    summary = _summary(plan, facts)
    if call.req.dry_run:
        return f"would create {call.where} ({summary})" + (" and start it" if plan.start else "")
    running = await _read_back_created(call, plan)
    call.details.applied |= provision.applied(plan, facts)
    provision.ssh_note(call, plan)
    reach = await wait_step(call, plan.uuid) if running else ""
    return f"created {call.where} ({summary}); " + ("it is running" if running else "not started") + reach


# ---- check the request against the host


async def _refuse_existing_vm(call: Call) -> None:
    if await call.backend.inspect(call.job, call.req.name) is not None:
        raise Conflict(f"{call.where} already exists: delete it first or choose another name")


def _plan(call: Call) -> CreatePlan:
    """The request with every default filled in (disk path and size, the VMs' directory)."""
    req = call.req
    assert req.arch and req.memory_mib and req.vcpus
    disk = req.disk or sizes.DiskSpec()
    vm_dir = req.vm_dir or call.spec.vm_dir
    home, default_path = call.backend.layout(vm_dir, req.name)  # home: the VM's own directory (plain QEMU)
    path = disk.path or default_path
    sizes.image_path(path)
    return CreatePlan(
        name=req.name,
        arch=req.arch,
        memory_mib=req.memory_mib,
        vcpus=req.vcpus,
        disk_path=path,
        disk_format=sizes.image_format(path),
        disk_size=disk.size_bytes or sizes.disk_size(sizes.DEFAULT_DISK_SIZE),
        iso=req.iso,
        start=req.start,
        vm_dir=vm_dir,
        home=home,
    )


def _requested(plan: CreatePlan) -> dict[str, int | str | None]:
    return {
        "arch": plan.arch,
        "memory_mib": plan.memory_mib,
        "vcpus": plan.vcpus,
        "disk_path": plan.disk_path,
        "disk_format": plan.disk_format,
        "disk_size_bytes": plan.disk_size,
        "iso": plan.iso,
        **({"image": plan.image, "linked": str(plan.linked).lower()} if plan.image else {}),
    }


def _directories(plan: CreatePlan) -> _Dirs:
    dirs, home = _ancestors(posixpath.dirname(plan.disk_path)), plan.home
    if home is None:
        return _Dirs(dirs, [])
    # The backend makes the VM's own directory (claim); what is below it comes after.
    inner = [d for d in dirs if d.startswith(home + "/")]
    outer = {d for d in dirs if d != home and d not in inner} | set(_ancestors(posixpath.dirname(home)))
    return _Dirs(sorted(outer, key=lambda d: (d.count("/"), d)), inner)  # parents first, then by name


async def _check_host_paths(call: Call, plan: CreatePlan, dirs: _Dirs) -> list[str]:
    """One round trip: the image path, the ISO, and every directory level above the image.
    Returns the directories (of dirs.outer) to make."""
    path, iso, home = plan.disk_path, plan.iso, plan.home
    paths = [path, *([iso] if iso else []), *dirs.outer, *([home] if home else [])]
    kinds = await path_kinds(call, "checking the disk path, the ISO and the directories", paths)
    host = call.spec.name
    if kinds[path] != "missing":
        raise Conflict(
            f"disk image {path} already exists on host '{host}' and is never overwritten: "
            "choose another path (disk='path=...') or name, or remove the file yourself"
        )
    if iso and kinds[iso] != "file":
        if kinds[iso] == "missing":
            raise NotFound(f"ISO {iso} does not exist on host '{host}'; give the ISO's path there")
        raise InvalidInput(f"ISO {iso} on host '{host}' is not a regular file ({kinds[iso]})")
    for d in dirs.outer:
        if kinds[d] in ("file", "other"):
            raise InvalidInput(
                f"{d} on host '{host}' exists but is not a directory, so the disk image "
                f"{path} cannot go below it; choose another vm_dir or disk path"
            )
    if home is not None and kinds[home] != "missing":
        raise Conflict(
            f"{home} already exists on host '{host}' but holds no VM of that name (no vm.conf): "
            "remove it yourself, or choose another name"
        )
    return [d for d in dirs.outer if kinds[d] == "missing"]


# ---- make it: directories, the VM's own directory, the disk image, the definition, start


@dataclass
class _Steps:
    """Progress over a known number of steps."""

    job: Job
    total: int
    done: int = 0

    async def next(self, message: str) -> None:
        await self.job.report(self.done, self.total, message)
        self.done += 1


async def _make_vm(call: Call, plan: CreatePlan, facts: CreateFacts, missing_dirs: list[str], inner: list[str]) -> None:
    job, backend = call.job, call.backend
    files = plan.provision.files()
    steps = _Steps(job, len(missing_dirs[:1]) + 4 + int(bool(files)) + int(plan.start))
    if missing_dirs:
        await steps.next(f"creating {missing_dirs[-1]}")
        await _make_dirs(job, missing_dirs)
    await steps.next(f"making the VM directory {plan.home}" if plan.home else f"claiming '{plan.name}' on the host")
    await backend.claim(job, plan, facts)
    if inner:
        await _make_dirs(job, inner)
    await steps.next(f"creating the disk image {plan.disk_path}")
    # libvirt: an empty volume when the path is in a storage pool; from a base image, qemu-img + refresh
    if plan.image is not None or not await backend.create_disk(job, plan):
        await _make_disk_image(job, plan)
        await backend.files_changed(job, [plan.disk_path])
    if files:
        await steps.next(f"uploading {' and '.join(what for what, _, _ in files)}")
        await provision.upload(job, plan)
    await steps.next(f"defining '{plan.name}'")
    await backend.define(job, plan, facts)
    if plan.start:
        await steps.next(f"starting '{plan.name}'")
        await backend.start(job, plan)
    await job.report(steps.total, steps.total, f"{'planned' if call.req.dry_run else 'created'} '{plan.name}'")


async def _make_dirs(job: Job, dirs: list[str]) -> None:
    """`dirs` parents first; the undo removes them children first."""
    await job.change(
        f"creating the directory {dirs[-1]}",
        fs.make_dirs(dirs),
        undo=Undo(f"removing the directories it created ({', '.join(dirs)})",
                  fs.remove_empty_dirs(list(reversed(dirs)))),
    )  # fmt: skip


async def _make_disk_image(job: Job, plan: CreatePlan) -> None:
    """Reserve the path first (never overwrite a file that appeared meanwhile), then fill it."""
    path = plan.disk_path
    await job.change(
        f"reserving the disk path {path}",
        fs.reserve_file(path),
        undo=Undo(f"removing the disk image {path}", fs.remove_files([path])),
    )
    if plan.image is not None:
        for purpose, argv in disk_steps(plan):
            await job.change(purpose, argv)
        return
    await job.change(
        f"creating the disk image {path} ({sizes.human(plan.disk_size)}, {plan.disk_format})",
        qemu_img.create(path, plan.disk_format, plan.disk_size),
    )


# ---- read back


def _summary(plan: CreatePlan, facts: CreateFacts) -> str:
    accel = "KVM" if facts.accel == "kvm" else "TCG (emulation)"
    net = f"network '{facts.network}'" if facts.network else "user-mode networking"
    net = facts.nic.describe() if facts.nic else net
    return (
        f"{plan.arch}, {plan.vcpus} vCPU(s), {plan.memory_mib} MiB, disk {plan.disk_path} "
        f"({sizes.human(plan.disk_size)} {plan.disk_format}), {accel}, {net}"
        + (f", ISO {plan.iso}" if plan.iso else "")
        + provision.summary(plan)
        + image_words(plan)
    )


async def _read_back_created(call: Call, plan: CreatePlan) -> bool:
    """Check the new VM reads back (running if it was to start); returns whether it runs."""
    after = await read_back(call)
    if after is None:
        raise CommandFailed(f"{call.where} was defined but cannot be read back", call.spec.name)
    call.details.applied = {
        "arch": after.arch,
        "memory_mib": after.memory_mib,
        "vcpus": after.vcpus,
        "domain_type": after.domain_type,
        "status": after.status,
    }
    if plan.start and not after.running:
        raise CommandFailed(f"{call.where} was started but reads back as '{after.state}'", call.spec.name)
    return after.running


def _ancestors(directory: str) -> list[str]:
    """'/a/b/c' -> ['/a', '/a/b', '/a/b/c'] (parents first; '/' itself is never created)."""
    parts = [p for p in directory.split("/") if p]
    return ["/" + "/".join(parts[: i + 1]) for i in range(len(parts))]
