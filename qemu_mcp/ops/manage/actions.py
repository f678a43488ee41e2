"""manage_vm: create, start, stop, reboot, delete, modify — the backend-independent flows.

One call = resolve the host, pick its backend, take the VM's lock, run the action's flow with
a Job, and on failure undo what the call created (newest first) before re-raising with a
sentence saying which step failed and what was undone.
"""

from __future__ import annotations

import asyncio
import posixpath
import time
from collections.abc import Awaitable, Callable, Hashable
from dataclasses import dataclass

from qemu_mcp import levels, sizes
from qemu_mcp.audit import AuditEntry
from qemu_mcp.auth import STDIO, Principal
from qemu_mcp.commands import fs, qemu_img
from qemu_mcp.config import HostSpec
from qemu_mcp.errors import (
    CommandFailed,
    CommandTimeout,
    ConfirmationRequired,
    Conflict,
    InvalidInput,
    NotFound,
    PolicyDenied,
    QemuMcpError,
)
from qemu_mcp.models import ManageDetails, ManageVmData, ManageVmResult
from qemu_mcp.ops import guard
from qemu_mcp.ops.fleet import Fleet, HostRef
from qemu_mcp.ops.libvirt_read import LibvirtUnusable
from qemu_mcp.ops.manage.interface import CreatePlan, VmBackend, VmDisk, VmState
from qemu_mcp.ops.manage.job import Job, ProgressFn, Undo
from qemu_mcp.ops.manage.request import ManageRequest
from qemu_mcp.parsers.path_status import parse_path_status
from qemu_mcp.parsers.qemu_img import virtual_size
from qemu_mcp.policy import Policy

POLL_INTERVAL = 0.5  # seconds between state polls while a guest shuts down


@dataclass(frozen=True)
class Consent:
    """Whether the user agreed to a dangerous step, and how we know (for the error text)."""

    given: bool = False
    # confirm (confirm=true), elicitation (accepted), cli (--yes), declined, cancelled,
    # unavailable (the client cannot be asked), none (not asked)
    how: str = "none"


class NeedsConfirmation(ConfirmationRequired):
    def __init__(self, message: str, question: str) -> None:
        super().__init__(message)
        self.question = question


@dataclass
class Call:
    req: ManageRequest
    spec: HostSpec
    backend: VmBackend
    job: Job
    consent: Consent
    details: ManageDetails
    policy: Policy | None = None  # None: no allowed_paths check (unit tests that build a Call by hand)

    @property
    def where(self) -> str:
        return f"VM '{self.req.name}' on host '{self.spec.name}'"


# ---- entry points


async def backend_for(fleet: Fleet, spec: HostSpec, req: ManageRequest | None = None) -> VmBackend:
    """The host's backend; on an auto host not seen yet, one `virsh uri` decides (and is remembered):
    libvirt when virsh answers, plain QEMU (VMs in vm_dir) when virsh is missing or unusable."""
    # Imported here: the backends import this package's interface, so a top-level import is a cycle.
    from qemu_mcp.ops.backend import backend_of

    vm_dir = req.vm_dir if req is not None else None
    if await backend_of(fleet, spec) == "qemu":
        from qemu_mcp.ops.qemu_manage import QemuBackend

        return QemuBackend(fleet, spec, vm_dir)
    if req is not None and vm_dir is not None and req.action != "create":
        raise InvalidInput(
            f"vm_dir does not apply to action={req.action} on host '{spec.name}', a libvirt host (libvirt "
            "finds VMs by name); it is used by create there, and by every action on plain-QEMU hosts"
        )
    from qemu_mcp.ops.libvirt_manage import LibvirtBackend

    return LibvirtBackend(fleet, spec)


def lock_key(spec: HostSpec, name: str, scope: str | None = None) -> Hashable:
    """The same VM reached through two inventory names still gets one lock. `scope`: where the
    backend keeps VMs (libvirt: the URI, the default; plain QEMU: the vm_dir)."""
    return ("vm", spec.address or "local", spec.port if spec.address else 0, scope or spec.libvirt_uri, name)


async def manage_vm(
    fleet: Fleet,
    ref: HostRef | None,
    req: ManageRequest,
    *,
    consent: Consent | None = None,
    progress: ProgressFn | None = None,
    who: Principal = STDIO,
) -> ManageVmResult:
    """The audited entry point: the intent record is on disk before anything else happens (even
    the host's resolution), the outcome record before the result is returned."""
    ref = ref or HostRef()
    entry = fleet.audit.begin(
        who=who.subject, tool=levels.MANAGE, action=req.action, host=ref.host or "local", vm=req.name,
        arguments=_audit_arguments(ref, req),
    )  # fmt: skip
    try:
        result = await _manage_vm(fleet, ref, req, consent, progress, who, entry)
    except BaseException as e:
        entry.end(_outcome(e), error=e)
        raise
    entry.end("ok", message=result.message)
    return result


def _audit_arguments(ref: HostRef, req: ManageRequest) -> dict[str, object]:
    """The call's arguments as parsed; audit.redact blanks ssh_pwd."""
    disk = None if req.disk is None else {"path": req.disk.path, "size_bytes": req.disk.size_bytes}
    return {
        "name": req.name, "action": req.action, "arch": req.arch, "memory_mib": req.memory_mib,
        "vcpus": req.vcpus, "disk": disk, "iso": req.iso, "vm_dir": req.vm_dir, "force": req.force,
        "confirm": req.confirm, "dry_run": req.dry_run, "start": req.start, "timeout": req.timeout,
        "host": ref.host, "ssh_port": ref.ssh_port, "ssh_user": ref.ssh_user, "ssh_pwd": ref.ssh_pwd,
        "ssh_key": ref.ssh_key,
    }  # fmt: skip


def _outcome(e: BaseException) -> str:
    if isinstance(e, PolicyDenied | ConfirmationRequired):
        return "refused"
    if isinstance(e, asyncio.CancelledError):
        return "cancelled"
    return "failed"


async def _manage_vm(
    fleet: Fleet,
    ref: HostRef,
    req: ManageRequest,
    consent: Consent | None,
    progress: ProgressFn | None,
    who: Principal,
    entry: AuditEntry,
) -> ManageVmResult:
    spec = fleet.resolve(ref)
    entry.host = spec.name
    policy = fleet.inventory.policy_for(spec)
    policy.check_action(req.action, req.name, subject=who.subject, token_read_only=who.read_only)
    consent = consent or (Consent(True, "confirm") if req.confirm else Consent())
    backend = await backend_for(fleet, spec, req)
    scope = getattr(backend, "vm_dir", None)
    async with fleet.op_slots.hold(policy), fleet.vm_locks.hold(lock_key(spec, req.name, scope)):
        job = Job(fleet.runner(spec), spec.name, dry_run=req.dry_run, progress=progress)
        entry.commands = job.commands
        call = Call(req, spec, backend, job, consent, ManageDetails(dry_run=req.dry_run), policy)
        try:
            message = await FLOWS[req.action](call)
        except BaseException as e:
            # Shielded: a cancelled call still removes what it created.
            done, failed = await asyncio.shield(job.rollback())
            if isinstance(e, QemuMcpError):
                e.message += _undo_sentence(done, failed)
                e.args = (e.message,)
            if isinstance(e, LibvirtUnusable) and fleet.known_backend(spec) is None:
                fleet.learn_backend(spec, "qemu")
            raise
        job.commit()
    if fleet.known_backend(spec) is None:
        fleet.learn_backend(spec, backend.kind)
    details = call.details
    details.commands = job.commands
    details.notes = job.notes
    if req.dry_run:
        planned = sum(1 for c in job.commands if c.changes_host)
        message = f"dry run: {message}; {planned} command(s) would change the host, none was run"
    return ManageVmResult(
        success=True,
        message=message,
        data=ManageVmData(host=spec.name, vm_name=req.name, action=req.action, details=details),
    )


async def confirmation_question(
    fleet: Fleet, ref: HostRef | None, req: ManageRequest, who: Principal = STDIO
) -> str | None:
    """What to ask the user before this call, or None when nothing needs asking (or the call
    will fail anyway, e.g. a policy refuses it: the flow reports that error). Reads the VM's
    state; changes nothing."""
    if req.dry_run or req.confirm or not _may_need_consent(req):
        return None
    try:
        spec = fleet.resolve(ref)
        fleet.inventory.policy_for(spec).check_action(
            req.action, req.name, subject=who.subject, token_read_only=who.read_only
        )
        backend = await backend_for(fleet, spec, req)
        vm = await backend.inspect(Job(fleet.runner(spec), spec.name, dry_run=True), req.name)
    except QemuMcpError:
        return None
    return question(req, spec.name, vm) if vm is not None else None


def operation(req: ManageRequest, vm: VmState | None) -> levels.Operation:
    """Which row of the levels table this call is. vm None (state not known yet): the most
    dangerous form the call may take on a running VM."""
    running = vm is None or vm.running
    return levels.manage_operation(req.action, force=req.force and running, restart=req.changes_config and running)


def _may_need_consent(req: ManageRequest) -> bool:
    return operation(req, None).level is levels.DANGEROUS


def question(req: ManageRequest, host: str, vm: VmState) -> str | None:
    """The confirmation question for a dangerous step (levels.py), or None if this call has none."""
    op = operation(req, vm)
    if op.level is not levels.DANGEROUS:
        return None
    name = f"VM '{vm.name}' on host '{host}'"
    if op.name == "manage_vm delete":
        images = [d.path for d in vm.disks if d.owned_image and d.path]
        what = f" and its disk image(s) {', '.join(images)}" if images else ""
        off = " It is running and will be powered off first." if vm.running else ""
        return f"Delete {name}{what}? This cannot be undone.{off}"
    if op.name == "manage_vm stop (force)":
        return f"Power off {name} at once, like pulling the plug? Unsaved data in the guest is lost."
    if op.name == "manage_vm reboot (force)":
        return f"Hard-reset {name}, like pressing the reset button? Unsaved data in the guest is lost."
    if op.name == "manage_vm modify (restart)":
        how = "power it off at once" if req.force else "shut it down"
        return (
            f"{name} is running: {how} and start it again now, so the new memory/vCPUs apply? "
            "If not, they apply at its next boot."
        )
    return f"{op.name} of {name}: {op.what}. Go ahead?"  # a dangerous operation without its own words


def _require_consent(call: Call, vm: VmState) -> bool:
    """True when the step may go ahead. modify without consent goes ahead without the restart."""
    q = question(call.req, call.spec.name, vm)
    if q is None or call.consent.given or call.req.dry_run:
        return True
    if call.req.action == "modify":
        return False
    verb = {"delete": "deleting", "stop": "powering off", "reboot": "hard-resetting"}.get(
        call.req.action, f"{call.req.action} of"
    )
    if call.consent.how in ("declined", "cancelled"):
        raise NeedsConfirmation(
            f"{verb} {call.where} was not confirmed (the user {call.consent.how}); nothing was changed", q
        )
    raise NeedsConfirmation(
        f"{verb} {call.where} needs confirmation: pass confirm=true"
        + (" (this client cannot answer a confirmation request)" if call.consent.how == "unavailable" else "")
        + "; nothing was changed",
        q,
    )


def _undo_sentence(done: list[str], failed: list[str]) -> str:
    out = ""
    if done:
        out += "; undone: " + ", ".join(done)
    if failed:
        out += "; COULD NOT UNDO (remove by hand): " + "; ".join(failed)
    return out


# ---- helpers shared by the flows


async def _existing(call: Call) -> VmState:
    vm = await call.backend.inspect(call.job, call.req.name)
    if vm is None:
        raise NotFound(f"{call.where} does not exist; list_vms shows the names that exist")
    call.details.before = vm.config()
    return vm


async def _read_back(call: Call) -> VmState | None:
    if call.req.dry_run:
        return None
    vm = await call.backend.inspect(call.job, call.req.name)
    call.details.after = vm.config() if vm else None
    return vm


async def _path_kinds(call: Call, purpose: str, paths: list[str]) -> dict[str, str]:
    result = await call.job.read(purpose, fs.path_status(paths))
    if result.exit_status != 0:
        raise call.job.step_failed(purpose, result)
    return dict(parse_path_status(result.stdout, paths))


async def _image_size(call: Call, disk: VmDisk) -> int:
    assert disk.path and disk.format
    purpose = f"reading the size of {disk.path}"
    result = await call.job.read(purpose, qemu_img.info(disk.path, disk.format))
    if result.exit_status != 0:
        raise call.job.step_failed(purpose, result)
    return virtual_size(result.stdout)


async def _wait_stopped(call: Call, timeout: float) -> bool:
    """Poll until the guest is shut off; progress is elapsed seconds of `timeout`."""
    start = time.monotonic()
    while True:
        if await call.backend.status(call.job, call.req.name) in ("stopped", "crashed"):
            return True
        elapsed = time.monotonic() - start
        if elapsed >= timeout:
            return False
        await call.job.report(
            elapsed, timeout, f"waiting for '{call.req.name}' to shut down ({elapsed:.0f}/{timeout:.0f} s)"
        )
        await asyncio.sleep(min(POLL_INTERVAL, timeout - elapsed))


def _not_stopped(call: Call, timeout: float, then: str) -> CommandTimeout:
    return CommandTimeout(
        f"{call.where} did not shut down within {timeout:g} s after the ACPI shutdown request "
        f"(the guest may have no OS, or ignore ACPI); it is still running. {then}",
        call.spec.name,
    )


async def _stop(call: Call, *, force: bool, then: str) -> None:
    if force:
        await call.backend.power_off(call.job, call.req.name)
        return
    await call.backend.shutdown(call.job, call.req.name)
    if call.req.dry_run:
        call.job.note(f"would wait up to {call.req.timeout:g} s for the guest to power off")
    elif not await _wait_stopped(call, call.req.timeout):
        raise _not_stopped(call, call.req.timeout, then)


# ---- the flows


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
    kinds = await _path_kinds(call, "checking the disk path, the ISO and the directories", paths)
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
        await backend.start(job, req.name)
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
    after = await _read_back(call)
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


async def start(call: Call) -> str:
    vm = await _existing(call)
    if vm.running:
        resume = "virsh resume" if call.backend.kind == "libvirt" else "QMP cont"
        hint = f" (resume it with {resume})" if vm.status == "paused" else ""
        raise Conflict(f"{call.where} is already {vm.state}{hint}; nothing to start")
    await call.job.report(0, 1, f"starting '{vm.name}'")
    await call.backend.start(call.job, vm.name)
    if call.req.dry_run:
        return f"would start {call.where}"
    after = await _read_back(call)
    if after is None or not after.running:
        state = after.state if after else "gone"
        raise CommandFailed(f"{call.where} was started but reads back as '{state}'", call.spec.name)
    return f"started {call.where}; it is {after.state}"


async def stop(call: Call) -> str:
    vm = await _existing(call)
    if not vm.running:
        raise Conflict(f"{call.where} is already {vm.state}; nothing to stop")
    if call.req.force:
        _require_consent(call, vm)
    await _stop(
        call,
        force=call.req.force,
        then="Retry with force=true to power it off at once (like pulling the plug).",
    )
    if call.req.dry_run:
        return f"would {'power off' if call.req.force else 'shut down'} {call.where}"
    after = await _read_back(call)
    if after is not None and after.running:
        raise CommandFailed(f"{call.where} still reads as '{after.state}' after stopping it", call.spec.name)
    how = "powered off (forced)" if call.req.force else "shut down"
    return f"{call.where} {how}; it is {after.state if after else 'gone (it was transient)'}"


async def reboot(call: Call) -> str:
    vm = await _existing(call)
    if not vm.running:
        raise Conflict(f"{call.where} is {vm.state}, so it cannot reboot; use action=start to boot it")
    if call.req.force:
        _require_consent(call, vm)
        await call.backend.reset(call.job, vm.name)
        how = "reset (forced)"
    else:
        timeout = call.req.timeout
        if not await call.backend.reboot(call.job, vm.name, timeout):
            raise CommandTimeout(
                f"{call.where} did not reboot within {timeout:g} s after the ACPI reboot request "
                "(the guest may have no OS, or ignore ACPI); it is still running as before. "
                "Retry with force=true to reset it at once (like pressing the reset button).",
                call.spec.name,
            )
        how = "rebooted"
    if call.req.dry_run:
        return f"would {'reset' if call.req.force else 'reboot'} {call.where}"
    after = await _read_back(call)
    return f"{call.where} {how}; it is {after.state if after else 'gone'}"


async def delete(call: Call) -> str:
    req, job, backend, details = call.req, call.job, call.backend, call.details
    vm = await _existing(call)
    if vm.running and not req.force:
        raise Conflict(
            f"{call.where} is {vm.state}; stop it first (action=stop), or pass force=true to power it off and delete it"
        )
    _require_consent(call, vm)

    owned: list[str] = []
    for d in vm.disks:
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
    users = await backend.disk_users(job, vm.name, owned) if owned else {}
    remove = [p for p in owned if not users.get(p)]
    for p in owned:
        if users.get(p):
            details.disks_kept.append(f"{p} (also used by VM(s) {', '.join(users[p])})")

    total = 2 + int(vm.running)
    if vm.running:
        await job.report(0, total, f"powering off '{vm.name}'")
        await backend.power_off(job, vm.name)
    await job.report(total - 2, total, f"removing the definition of '{vm.name}'")
    await backend.undefine(job, vm)
    if remove:
        await job.report(total - 1, total, "removing the disk images")
        await job.change(f"removing the disk image(s) {', '.join(remove)}", fs.remove_files(remove))
    await backend.remove_leftovers(job, vm)
    details.disks_removed = remove
    if req.dry_run:
        return f"would delete {call.where} and remove {len(remove)} disk image(s)"

    # Verify: no definition, no image left.
    if await _read_back(call) is not None:
        raise CommandFailed(f"{call.where} still exists after undefining it", call.spec.name)
    if remove:
        left = [p for p, k in (await _path_kinds(call, "checking the images are gone", remove)).items()
                if k != "missing"]  # fmt: skip
        if left:
            raise CommandFailed(f"{call.where} was undefined but {', '.join(left)} is still there", call.spec.name)
    kept = f"; kept {len(details.disks_kept)} (see details.disks_kept)" if details.disks_kept else ""
    return f"deleted {call.where} and {len(remove)} disk image(s){kept}"


async def modify(call: Call) -> str:
    req, job, backend, details = call.req, call.job, call.backend, call.details
    vm = await _existing(call)
    details.requested = {"memory_mib": req.memory_mib, "vcpus": req.vcpus}

    disk: VmDisk | None = None
    grow_to: int | None = None
    capacity: int | None = None
    if req.disk is not None:
        assert req.disk.size_bytes is not None
        disk = _pick_disk(call, vm, req.disk.path)
        if call.policy is not None:
            await guard.check_paths(job, call.policy, {"disk image": disk.path})
        capacity = await _image_size(call, disk)
        details.before = vm.config({disk.path or "": capacity})
        details.requested |= {"disk_target": disk.target, "disk_size_bytes": req.disk.size_bytes}
        if req.disk.size_bytes < capacity:
            raise InvalidInput(
                f"disk {disk.target} ({disk.path}) of {call.where} is {sizes.human(capacity)}; "
                f"{sizes.human(req.disk.size_bytes)} would shrink it, which is refused (it destroys "
                "the data beyond the new end); give a size of at least the current one"
            )
        if req.disk.size_bytes == capacity:
            job.note(f"disk {disk.target} is already {sizes.human(capacity)}: unchanged")
        else:
            grow_to = req.disk.size_bytes

    restart_needed = vm.running and (
        (req.memory_mib is not None and req.memory_mib != vm.memory_mib)
        or (req.vcpus is not None and req.vcpus != vm.vcpus)
    )
    restart = restart_needed and _require_consent(call, vm)

    # The disk first: growing cannot be undone, so if it fails nothing else has changed yet.
    if disk is not None and grow_to is not None:
        await job.report(0, 3, f"growing {disk.target} to {sizes.human(grow_to)}")
        if vm.running:
            await backend.resize_disk_live(job, vm, disk, grow_to)
        else:
            assert disk.path and disk.format
            await job.change(
                f"growing the disk image {disk.path} to {sizes.human(grow_to)}",
                qemu_img.resize(disk.path, disk.format, grow_to),
            )
    if req.vcpus is not None and req.vcpus != vm.vcpus:
        await job.report(1, 3, f"setting {req.vcpus} vCPU(s)")
        await backend.set_vcpus(job, vm, req.vcpus)
    if req.memory_mib is not None and req.memory_mib != vm.memory_mib:
        await job.report(2, 3, f"setting {req.memory_mib} MiB of memory")
        await backend.set_memory(job, vm, req.memory_mib)

    changes = _change_words(req, disk, grow_to)
    if req.dry_run:
        if restart:
            await _stop(call, force=req.force, then="")
            await backend.start(job, vm.name)
        return f"would modify {call.where}: {changes}" + (", then restart it" if restart else "")

    # Verify by reading the definition (and the image) back: requested vs applied.
    after = await _read_back(call)
    if after is None:
        raise CommandFailed(f"{call.where} disappeared while being modified", call.spec.name)
    applied: dict[str, int | str | None] = {"memory_mib": after.memory_mib, "vcpus": after.vcpus}
    mismatch = [
        f"{key} requested {want}, definition reads {applied[key]}"
        for key, want in (("memory_mib", req.memory_mib), ("vcpus", req.vcpus))
        if want is not None and applied[key] != want
    ]
    if disk is not None:
        new_capacity = await _image_size(call, disk)
        applied |= {"disk_target": disk.target, "disk_size_bytes": new_capacity}
        details.after = after.config({disk.path or "": new_capacity})
        if req.disk and new_capacity != req.disk.size_bytes:
            mismatch.append(f"disk size requested {req.disk.size_bytes}, image reads {new_capacity}")
    details.applied = applied
    if mismatch:
        raise CommandFailed(f"{call.where}: the change did not apply as requested: {'; '.join(mismatch)}")
    job.commit()  # the configuration is verified: a failed restart below must not revert it

    if restart:
        then = (
            "The new configuration is saved and applies at its next boot; pass force=true to power it "
            "off for the restart, or restart it yourself."
        )
        await job.report(3, 3, f"restarting '{vm.name}'")
        await _stop(call, force=req.force, then=then)
        await backend.start(job, vm.name)
        restarted = await _read_back(call)
        state = restarted.state if restarted else "?"
        return f"modified {call.where}: {changes}; restarted it to apply, it is {state}"
    if restart_needed:
        details.restart_required = True
        job.note("the guest is running: the new memory/vCPUs apply at its next boot (pass confirm=true to "
                 "restart it now)")  # fmt: skip
        return f"modified {call.where}: {changes}; the memory/vCPU change applies at its next boot"
    return f"modified {call.where}: {changes}"


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


FLOWS: dict[str, Callable[[Call], Awaitable[str]]] = {
    "create": create,
    "start": start,
    "stop": stop,
    "reboot": reboot,
    "delete": delete,
    "modify": modify,
}
