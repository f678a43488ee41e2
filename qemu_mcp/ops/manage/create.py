"""manage_vm create: check, reserve the disk, define, optionally start; undo on failure."""

from __future__ import annotations

import posixpath

from qemu_mcp import sizes
from qemu_mcp.backends.base import CreatePlan
from qemu_mcp.backends.job import Undo
from qemu_mcp.errors import CommandFailed, Conflict, InvalidInput, NotFound
from qemu_mcp.host import fs, qemu_img
from qemu_mcp.ops import guard
from qemu_mcp.ops.manage.call import (
    Call,
    path_kinds,
    read_back,
)


async def create(call: Call) -> str:
    req, job, backend, details = call.req, call.job, call.backend, call.details
    assert req.arch and req.memory_mib and req.vcpus
    if await backend.inspect(job, req.name) is not None:
        raise Conflict(f"{call.where} already exists: delete it first or choose another name")
    disk = req.disk or sizes.DiskSpec()
    vm_dir = req.vm_dir or call.spec.vm_dir
    home, default_path = backend.layout(vm_dir, req.name)  # home: the VM's own directory (plain QEMU)
    path = disk.path or default_path
    sizes.image_path(path)
    plan = CreatePlan(
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
    call.uuid = plan.uuid
    details.requested = {
        "arch": plan.arch,
        "memory_mib": plan.memory_mib,
        "vcpus": plan.vcpus,
        "disk_path": plan.disk_path,
        "disk_format": plan.disk_format,
        "disk_size_bytes": plan.disk_size,
        "iso": plan.iso,
    }

    if call.policy is not None:
        await guard.check_paths(job, call.policy, {"disk image": path, "ISO": req.iso})
    # One round trip: the image path, the ISO, and every directory level above the image.
    dirs, inner = _ancestors(posixpath.dirname(path)), []
    if home is not None:  # the backend makes the VM's own directory (claim); what is below it comes after
        inner = [d for d in dirs if d.startswith(home + "/")]
        outer = {d for d in dirs if d != home and d not in inner} | set(_ancestors(posixpath.dirname(home)))
        dirs = sorted(outer, key=lambda d: d.count("/"))
    paths = [path, *([req.iso] if req.iso else []), *dirs, *([home] if home else [])]
    kinds = await path_kinds(call, "checking the disk path, the ISO and the directories", paths)
    if kinds[path] != "missing":
        raise Conflict(
            f"disk image {path} already exists on host '{call.spec.name}' and is never overwritten: "
            "choose another path (disk='path=...') or name, or remove the file yourself"
        )
    if req.iso and kinds[req.iso] != "file":
        if kinds[req.iso] == "missing":
            raise NotFound(f"ISO {req.iso} does not exist on host '{call.spec.name}'; give the ISO's path there")
        raise InvalidInput(f"ISO {req.iso} on host '{call.spec.name}' is not a regular file ({kinds[req.iso]})")
    for d in dirs:
        if kinds[d] in ("file", "other"):
            raise InvalidInput(
                f"{d} on host '{call.spec.name}' exists but is not a directory, so the disk image "
                f"{path} cannot go below it; choose another vm_dir or disk path"
            )
    if home is not None and kinds[home] != "missing":
        raise Conflict(
            f"{home} already exists on host '{call.spec.name}' but holds no VM of that name (no vm.conf): "
            "remove it yourself, or choose another name"
        )
    missing_dirs = [d for d in dirs if kinds[d] == "missing"]

    facts = await backend.prepare_create(job, plan)
    steps = len(missing_dirs[:1]) + 3 + int(plan.start) + int(home is not None)
    step = 0

    async def progress(message: str) -> None:
        nonlocal step
        await job.report(step, steps, message)
        step += 1

    if missing_dirs:
        await progress(f"creating {missing_dirs[-1]}")
        await job.change(
            f"creating the directory {missing_dirs[-1]}",
            fs.make_dirs(missing_dirs),
            undo=Undo(f"removing the directories it created ({', '.join(missing_dirs)})",
                      fs.remove_empty_dirs(list(reversed(missing_dirs)))),
        )  # fmt: skip
    if home is not None:
        await progress(f"making the VM directory {home}")
        await backend.claim(job, plan, facts)
    if inner:
        await job.change(
            f"creating the directory {inner[-1]}",
            fs.make_dirs(inner),
            undo=Undo(f"removing the directories it created ({', '.join(inner)})",
                      fs.remove_empty_dirs(list(reversed(inner)))),
        )  # fmt: skip
    await progress(f"creating the disk image {path}")
    await job.change(
        f"reserving the disk path {path}",
        fs.reserve_file(path),
        undo=Undo(f"removing the disk image {path}", fs.remove_files([path])),
    )
    await job.change(
        f"creating the disk image {path} ({sizes.human(plan.disk_size)}, {plan.disk_format})",
        qemu_img.create(path, plan.disk_format, plan.disk_size),
    )
    await progress(f"defining '{req.name}'")
    await backend.define(job, plan, facts)
    if plan.start:
        await progress(f"starting '{req.name}'")
        await backend.start(job, plan)
    await job.report(steps, steps, f"{'planned' if req.dry_run else 'created'} '{req.name}'")

    details.disks_created = [path]
    details.xml = facts.xml
    details.config = facts.config
    accel = "KVM" if facts.accel == "kvm" else "TCG (emulation)"
    net = f"network '{facts.network}'" if facts.network else "user-mode networking"
    summary = (
        f"{plan.arch}, {plan.vcpus} vCPU(s), {plan.memory_mib} MiB, disk {path} "
        f"({sizes.human(plan.disk_size)} {plan.disk_format}), {accel}, {net}"
        + (f", ISO {plan.iso}" if plan.iso else "")
    )
    if req.dry_run:
        return f"would create {call.where} ({summary})" + (" and start it" if plan.start else "")
    after = await read_back(call)
    if after is None:
        raise CommandFailed(f"{call.where} was defined but cannot be read back", call.spec.name)
    details.applied = {
        "arch": after.arch,
        "memory_mib": after.memory_mib,
        "vcpus": after.vcpus,
        "domain_type": after.domain_type,
        "status": after.status,
    }
    if plan.start and not after.running:
        raise CommandFailed(f"{call.where} was started but reads back as '{after.state}'", call.spec.name)
    return f"created {call.where} ({summary}); " + ("it is running" if after.running else "not started")


def _ancestors(directory: str) -> list[str]:
    """'/a/b/c' -> ['/a', '/a/b', '/a/b/c'] (parents first; '/' itself is never created)."""
    parts = [p for p in directory.split("/") if p]
    return ["/" + "/".join(parts[: i + 1]) for i in range(len(parts))]
