"""manage_vm modify add_disk / remove_disk (issue 12 item 4), on both backends.

add_disk: a free guest device name on the bus (vdb, vdc, ... / sda, ...), a file that does not
exist yet (the given path, else `<disk dir>/<vm>-<target>.qcow2` on libvirt hosts and
`<vm dir>/<target>.qcow2` on plain-QEMU hosts, with -1, -2 ... when taken), reserved with O_EXCL and
made with qemu-img; then attached to the definition and, on a running VM, to the guest (live).
If attaching fails, the new file is removed and nothing else was touched.

remove_disk: detached from the definition and the running guest; its file is kept unless
keep_file=false, which is dangerous (levels.py) and asks for confirmation. The boot disk (the
VM's first disk) and CD-ROMs are refused. A file still held by a running guest (its detach is
pending) is never deleted.
"""

from __future__ import annotations

import posixpath

from qemu_mcp import sizes
from qemu_mcp.backends.base import LIVE, PERSISTENT, VmDisk, VmState
from qemu_mcp.backends.job import Undo
from qemu_mcp.disk_spec import AddDisk, NewDisk, default_paths, free_target
from qemu_mcp.errors import CommandFailed, Conflict, InvalidInput, NotFound
from qemu_mcp.host import fs, qemu_img
from qemu_mcp.ops import guard
from qemu_mcp.ops.manage.call import Call, existing, path_kinds, read_back, require_consent

CANDIDATES = 10  # default names looked at in one round trip
WORDS = {
    LIVE: "live and persistent (the running guest has the change now, and keeps it)",
    PERSISTENT: "persistent only (from the VM's next start)",
}


async def change_disks(call: Call) -> str:
    vm = await existing(call)
    if call.req.add_disk is not None:
        return await add_disk(call, vm, call.req.add_disk)
    assert call.req.remove_disk is not None
    return await remove_disk(call, vm, call.req.remove_disk)


# ---- add


async def add_disk(call: Call, vm: VmState, spec: AddDisk) -> str:
    job, details = call.job, call.details
    live = vm.running
    if live and spec.bus == "sata":
        live = False
        job.note("SATA disks cannot be hot-plugged: the disk is added to the definition and appears at the "
                 "VM's next start (use bus=virtio or bus=scsi to add it to the running guest)")  # fmt: skip
    target = free_target(spec.bus, (d.target for d in vm.disks))
    path = await _new_path(call, vm, spec, target)
    if call.policy is not None:
        await guard.check_paths(job, call.policy, {"disk image": path})
    new = NewDisk(target=target, path=path, format=spec.format, bus=spec.bus, size_bytes=spec.size_bytes)
    details.requested = {"add_disk_target": target, "add_disk_path": path, "add_disk_size_bytes": spec.size_bytes,
                         "add_disk_format": spec.format, "add_disk_bus": spec.bus}  # fmt: skip
    await job.report(0, 3, f"creating {path} ({sizes.human(spec.size_bytes)} {spec.format})")
    await job.change(f"reserving {path} (never overwrites a file)", fs.reserve_file(path),
                     undo=Undo(f"removing the new disk image {path}", fs.remove_files([path])))  # fmt: skip
    await job.change(f"creating the disk image {path}", qemu_img.create(path, spec.format, spec.size_bytes))
    details.disks_created = [path]
    await job.report(1, 3, f"attaching {path} as {target}")
    mode = await call.backend.attach_disk(job, vm, new, live=live)
    details.applied = {"disk_target": target, "disk_path": path, "mode": mode}
    what = f"disk {target} ({sizes.human(spec.size_bytes)} {spec.format}, {spec.bus}) at {path}"
    if call.req.dry_run:
        return f"would add {what} to {call.where}: {WORDS[mode]}"
    await job.report(2, 3, "reading the VM back")
    after = await read_back(call)
    if after is None or not any(d.target == target and d.path == path for d in after.disks):
        raise CommandFailed(f"{call.where}: {target} is not in the definition read back after attaching it")
    if vm.running and mode == PERSISTENT:
        details.restart_required = True
    return f"added {what} to {call.where}: {WORDS[mode]}"


async def _new_path(call: Call, vm: VmState, spec: AddDisk, target: str) -> str:
    """The given path if nothing is there, else the first free default name."""
    if spec.path is not None:
        kind = (await path_kinds(call, f"checking {spec.path} is free", [spec.path]))[spec.path]
        if kind != "missing":
            raise Conflict(
                f"{spec.path} already exists on host '{call.spec.name}' ({kind}); qemu-mcp never overwrites a "
                "file: choose another path, or leave path out for a free name in the VM's disk directory"
            )
        return spec.path
    directory, stem = _disk_dir(call, vm), (target if call.backend.kind == "qemu" else f"{vm.name}-{target}")
    candidates = default_paths(directory, stem, spec.format)[:CANDIDATES]
    kinds = await path_kinds(call, f"choosing a free file name in {directory}", candidates)
    for candidate in candidates:
        if kinds.get(candidate) == "missing":
            return candidate
    raise Conflict(f"{candidates[0]} and {len(candidates) - 1} more names are taken in {directory}; give path=...")


def _disk_dir(call: Call, vm: VmState) -> str:
    """plain QEMU: the VM's own directory; libvirt: the directory of its first disk image (else vm_dir)."""
    if call.backend.kind == "qemu" and vm.extra.get("home"):
        return vm.extra["home"]
    first = next((d.path for d in vm.disks if d.device == "disk" and d.file_backed and d.path), None)
    return posixpath.dirname(first) if first else (call.req.vm_dir or call.spec.vm_dir)


# ---- remove


def _removable(call: Call, vm: VmState, target: str) -> VmDisk:
    disk = next((d for d in vm.disks if d.target == target), None)
    if disk is None:
        known = ", ".join(f"{d.target} ({d.path or d.device})" for d in vm.disks) or "none"
        raise NotFound(f"{call.where} has no disk {target} (its disks: {known}); nothing was changed")
    if disk.device != "disk":
        raise InvalidInput(f"{target} of {call.where} is a {disk.device}, not a disk; nothing was changed")
    disks = [d for d in vm.disks if d.device == "disk"]
    if disk == disks[0]:
        only = "its only disk" if len(disks) == 1 else "its boot disk (the first disk)"
        raise InvalidInput(
            f"{target} is {only} of {call.where}: qemu-mcp does not remove it (the VM would not boot); "
            "delete the VM instead (action=delete) if that is what you want; nothing was changed"
        )
    if call.req.deletes_disk_file and (not disk.file_backed or not disk.path or disk.readonly or disk.shareable):
        raise InvalidInput(
            f"{target} of {call.where} is not a writable, unshared image file ({disk.path}); qemu-mcp does not "
            "delete it: pass keep_file=true to only detach it; nothing was changed"
        )
    return disk


async def remove_disk(call: Call, vm: VmState, target: str) -> str:
    job, details = call.job, call.details
    disk = _removable(call, vm, target)
    details.requested = {"remove_disk": target, "keep_file": "yes" if call.req.keep_file else "no"}
    delete = call.req.deletes_disk_file and disk.path is not None
    if delete and disk.path is not None:
        if call.policy is not None:
            await guard.check_paths(job, call.policy, {"disk image": disk.path})
        users = (await call.backend.disk_users(job, vm, [disk.path])).get(disk.path)
        if users:
            raise Conflict(f"{disk.path} is also used by VM(s) {', '.join(users)}: it is not deleted; pass "
                           "keep_file=true to only detach it; nothing was changed")  # fmt: skip
    require_consent(call, vm)  # keep_file=false: dangerous, confirmed or refused here
    await job.report(0, 2, f"detaching {target}")
    released = await call.backend.detach_disk(job, vm, disk, live=vm.running, timeout=call.req.timeout)
    mode = LIVE if vm.running and released else PERSISTENT
    details.applied = {"disk_target": target, "disk_path": disk.path, "mode": mode}
    kept = _kept(call, disk, delete, released)
    if delete and not kept and disk.path:
        await job.report(1, 2, f"deleting {disk.path}")
        await job.change(f"deleting the disk image {disk.path}", fs.remove_files([disk.path]))
        details.disks_removed = [disk.path]
    if call.req.dry_run:
        return f"would remove disk {target} from {call.where}: {WORDS[mode]}"
    await _verify_removed(call, disk, delete and not kept)
    if vm.running and not released:
        details.restart_required = True
    return f"removed disk {target} from {call.where}: {WORDS[mode]}" + (f"; {kept}" if kept else "")


def _kept(call: Call, disk: VmDisk, delete: bool, released: bool) -> str:
    """Why the file stays ("" when it is deleted); recorded in details.disks_kept and the notes."""
    if disk.path is None:
        return ""
    why = ""
    if not released:
        why = f"{disk.path} kept: the running guest has not released {disk.target} yet (a guest without an " \
              f"OS never does); it is gone from the definition and leaves the guest at its next stop"  # fmt: skip
        call.job.note(why)
    elif not delete:
        why = f"{disk.path} kept (keep_file=true)"
    if why:
        call.details.disks_kept.append(why)
    return why


async def _verify_removed(call: Call, disk: VmDisk, deleted: bool) -> None:
    after = await read_back(call)
    if after is None:
        raise CommandFailed(f"{call.where} disappeared while its disk {disk.target} was removed", call.spec.name)
    if any(d.target == disk.target for d in after.disks):
        raise CommandFailed(f"{call.where}: {disk.target} is still in the definition read back", call.spec.name)
    if deleted and disk.path:
        kind = (await path_kinds(call, f"checking {disk.path} is gone", [disk.path]))[disk.path]
        if kind != "missing":
            raise CommandFailed(f"{call.where}: {disk.target} was detached but {disk.path} is still there")
