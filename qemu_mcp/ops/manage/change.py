"""manage_vm delete and modify: only the VM's own disks, grow-only resizes, read back."""

from __future__ import annotations

from qemu_mcp import sizes
from qemu_mcp.backends.base import VmDisk, VmState
from qemu_mcp.errors import CommandFailed, Conflict, InvalidInput, NotFound
from qemu_mcp.host import fs, qemu_img
from qemu_mcp.ops import guard
from qemu_mcp.ops.manage.call import (
    Call,
    existing,
    image_size,
    path_kinds,
    read_back,
    require_consent,
    stop_guest,
)
from qemu_mcp.ops.manage.disks import change_disks
from qemu_mcp.ops.manage.overlays import refuse_if_based_on
from qemu_mcp.ops.manage.provision import remove_serial_log
from qemu_mcp.ops.manage.request import ManageRequest


async def delete(call: Call) -> str:
    req, job, backend, details = call.req, call.job, call.backend, call.details
    vm = await existing(call)
    await refuse_if_based_on(call, vm.name, [d.path for d in vm.disks if d.owned_image and d.path])
    if vm.running and not req.force:
        raise Conflict(
            f"{call.where} is {vm.state}; stop it first (action=stop), or pass force=true to power it off and delete it"
        )
    require_consent(call, vm)

    owned: list[str] = list(vm.created_files)  # seeds, Ignition files, base images (libvirt <metadata>)
    # plain QEMU's vm.conf names the seed and Ignition file create made (issue 11)
    own_files = [f for f in (vm.extra.get(k) for k in ("seed", "ignition")) if f and f not in owned]
    for d in vm.disks:
        if d.path in vm.created_files or d.path in own_files:
            continue
        if d.owned_image and d.path:
            if d.path not in owned:
                owned.append(d.path)
        elif d.path:
            why = d.device if d.device != "disk" else ("read-only" if d.readonly else "shared")
            if not d.file_backed:
                why = "not a file image"
            elif not d.created and d.device == "disk":
                why = "not created by qemu-mcp"
            details.disks_kept.append(f"{d.path} ({why}: never deleted)")
    users = await backend.disk_users(job, vm, owned) if owned else {}
    remove = [p for p in owned if not users.get(p)]
    for p in owned:
        if users.get(p):
            details.disks_kept.append(f"{p} (also used by VM(s) {', '.join(users[p])})")

    total = 2 + int(vm.running)
    if vm.running:
        await job.report(0, total, f"powering off '{vm.name}'")
        await backend.power_off(job, vm)
    await job.report(total - 2, total, f"removing the definition of '{vm.name}'")
    await backend.undefine(job, vm)
    if remove:
        await job.report(total - 1, total, "removing the disk images")
    await _remove_files(call, vm, remove, own_files)
    await backend.remove_leftovers(job, vm)
    details.disks_removed = remove
    if req.dry_run:
        return f"would delete {call.where} and remove {len(remove)} disk image(s)"

    # Verify: no definition, no image left.
    if await read_back(call) is not None:
        raise CommandFailed(f"{call.where} still exists after undefining it", call.spec.name)
    if remove:
        left = [p for p, k in (await path_kinds(call, "checking the images are gone", remove)).items()
                if k != "missing"]  # fmt: skip
        if left:
            raise CommandFailed(f"{call.where} was undefined but {', '.join(left)} is still there", call.spec.name)
    kept = f"; kept {len(details.disks_kept)} (see details.disks_kept)" if details.disks_kept else ""
    return f"deleted {call.where} and {len(remove)} disk image(s){kept}"


async def _remove_files(call: Call, vm: VmState, remove: list[str], own_files: list[str]) -> None:
    """delete's files: the disk images (libvirt: vol-delete in a storage pool), the seed and
    Ignition files plain QEMU's vm.conf names, the serial console log."""
    job, backend = call.job, call.backend
    if remove:
        by_backend = await backend.delete_disks(job, vm, remove)
        if rest := [p for p in remove if p not in by_backend]:
            await job.change(f"removing the disk image(s) {', '.join(rest)}", fs.remove_files(rest))
            await backend.files_changed(job, rest)
    if own_files:
        await job.change(f"removing the VM's seed/Ignition file(s) {', '.join(own_files)}", fs.remove_files(own_files))
    await remove_serial_log(job, vm)


async def modify(call: Call) -> str:
    req, job = call.req, call.job
    if req.add_disk is not None or req.remove_disk is not None:
        return await change_disks(call)  # ops.manage.disks: one disk change per call, nothing else
    vm = await existing(call)
    details = call.details
    details.requested = {"memory_mib": req.memory_mib, "vcpus": req.vcpus}
    disk, grow_to = await _disk_change(call, vm) if req.disk is not None else (None, None)
    restart_needed = vm.running and _config_changes(req, vm)
    restart = restart_needed and require_consent(call, vm)
    await _apply(call, vm, disk, grow_to)
    changes = _change_words(req, disk, grow_to)
    if req.dry_run:
        if restart:
            await stop_guest(call, vm, force=req.force, then="")
            await call.backend.start(job, vm)
        return f"would modify {call.where}: {changes}" + (", then restart it" if restart else "")
    await _verify(call, disk)
    job.commit()  # the configuration is verified: a failed restart below must not revert it
    if restart:
        state = await _restart(call, vm)
        return f"modified {call.where}: {changes}; restarted it to apply, it is {state}"
    if restart_needed:
        details.restart_required = True
        job.note("the guest is running: the new memory/vCPUs apply at its next boot (pass confirm=true to "
                 "restart it now)")  # fmt: skip
        return f"modified {call.where}: {changes}; the memory/vCPU change applies at its next boot"
    return f"modified {call.where}: {changes}"


async def _disk_change(call: Call, vm: VmState) -> tuple[VmDisk, int | None]:
    """The disk to grow and its new size (None: already that size); a shrink is refused here,
    before anything changes."""
    assert call.req.disk is not None and call.req.disk.size_bytes is not None
    want = call.req.disk.size_bytes
    disk = _pick_disk(call, vm, call.req.disk.path)
    if call.policy is not None:
        await guard.check_paths(call.job, call.policy, {"disk image": disk.path})
    capacity = await image_size(call, vm, disk)
    call.details.before = vm.config({disk.path or "": capacity})
    call.details.requested |= {"disk_target": disk.target, "disk_size_bytes": want}
    if want < capacity:
        raise InvalidInput(
            f"disk {disk.target} ({disk.path}) of {call.where} is {sizes.human(capacity)}; "
            f"{sizes.human(want)} would shrink it, which is refused (it destroys "
            "the data beyond the new end); give a size of at least the current one"
        )
    if want == capacity:
        call.job.note(f"disk {disk.target} is already {sizes.human(capacity)}: unchanged")
        return disk, None
    return disk, want


def _config_changes(req: ManageRequest, vm: VmState) -> bool:
    """Memory or vCPUs differ from the definition (a running guest sees them after a restart)."""
    return (req.memory_mib is not None and req.memory_mib != vm.memory_mib) or (
        req.vcpus is not None and req.vcpus != vm.vcpus
    )


async def _apply(call: Call, vm: VmState, disk: VmDisk | None, grow_to: int | None) -> None:
    req, job, backend = call.req, call.job, call.backend
    # The disk first: growing cannot be undone, so if it fails nothing else has changed yet.
    if disk is not None and grow_to is not None:
        await job.report(0, 3, f"growing {disk.target} to {sizes.human(grow_to)}")
        if vm.running:
            await backend.resize_disk_live(job, vm, disk, grow_to)
        elif not await backend.grow_disk(job, vm, disk, grow_to):  # libvirt: vol-resize, in a storage pool
            assert disk.path and disk.format
            await job.change(
                f"growing the disk image {disk.path} to {sizes.human(grow_to)}",
                qemu_img.resize(disk.path, disk.format, grow_to),
            )
            await backend.files_changed(job, [disk.path])
    if req.vcpus is not None and req.vcpus != vm.vcpus:
        await job.report(1, 3, f"setting {req.vcpus} vCPU(s)")
        await backend.set_vcpus(job, vm, req.vcpus)
    if req.memory_mib is not None and req.memory_mib != vm.memory_mib:
        await job.report(2, 3, f"setting {req.memory_mib} MiB of memory")
        await backend.set_memory(job, vm, req.memory_mib)


async def _verify(call: Call, disk: VmDisk | None) -> None:
    """Read the definition (and the image) back: requested vs applied."""
    req = call.req
    after = await read_back(call)
    if after is None:
        raise CommandFailed(f"{call.where} disappeared while being modified", call.spec.name)
    applied: dict[str, int | str | None] = {"memory_mib": after.memory_mib, "vcpus": after.vcpus}
    mismatch = [
        f"{key} requested {want}, definition reads {applied[key]}"
        for key, want in (("memory_mib", req.memory_mib), ("vcpus", req.vcpus))
        if want is not None and applied[key] != want
    ]
    if disk is not None:
        new_capacity = await image_size(call, after, disk)
        applied |= {"disk_target": disk.target, "disk_size_bytes": new_capacity}
        call.details.after = after.config({disk.path or "": new_capacity})
        if req.disk and new_capacity != req.disk.size_bytes:
            mismatch.append(f"disk size requested {req.disk.size_bytes}, image reads {new_capacity}")
    call.details.applied = applied
    if mismatch:
        raise CommandFailed(f"{call.where}: the change did not apply as requested: {'; '.join(mismatch)}")


async def _restart(call: Call, vm: VmState) -> str:
    """Stop the guest (ACPI, or power off with force) and start it; returns the state it reads back in."""
    then = (
        "The new configuration is saved and applies at its next boot; pass force=true to power it "
        "off for the restart, or restart it yourself."
    )
    await call.job.report(3, 3, f"restarting '{vm.name}'")
    await stop_guest(call, vm, force=call.req.force, then=then)
    await call.backend.start(call.job, vm)
    restarted = await read_back(call)
    return restarted.state if restarted else "?"


def _pick_disk(call: Call, vm: VmState, path: str | None) -> VmDisk:
    disks = [d for d in vm.disks if d.device == "disk"]
    if path is not None:
        match = [d for d in disks if d.path == path]
        if not match:
            known = ", ".join(f"{d.target}={d.path}" for d in disks) or "none"
            raise NotFound(f"{call.where} has no disk at {path} (its disks: {known})")
        disk = match[0]
    elif disks:
        disk = disks[0]
    else:
        raise NotFound(f"{call.where} has no disk to resize")
    if not disk.file_backed or not disk.path:
        raise InvalidInput(f"disk {disk.target} of {call.where} is not a file image; resize it on the host")
    if disk.format not in qemu_img.FORMATS:
        raise InvalidInput(
            f"disk {disk.target} of {call.where} is {disk.format or 'of unknown format'}; "
            f"only {' and '.join(qemu_img.FORMATS)} images can be grown"
        )
    return disk


def _change_words(req: ManageRequest, disk: VmDisk | None, grow_to: int | None) -> str:
    words = []
    if req.memory_mib is not None:
        words.append(f"memory {req.memory_mib} MiB")
    if req.vcpus is not None:
        words.append(f"{req.vcpus} vCPU(s)")
    if disk is not None:
        words.append(f"disk {disk.target} " + (f"grown to {sizes.human(grow_to)}" if grow_to else "unchanged"))
    return ", ".join(words)
