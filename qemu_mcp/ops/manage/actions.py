"""manage_vm's entry point: audit, policy, backend, per-VM lock, confirmation, rollback.

One call = resolve the host, pick its backend, take the VM's locks (lock.py: in this process, then
on the host), run the action's flow (create.py, power.py, change.py) with a Job, and on failure
undo what the call created (newest first) before re-raising with a sentence saying which step
failed and what was undone.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import TypeVar

from qemu_mcp import levels
from qemu_mcp.audit import AuditEntry
from qemu_mcp.auth import STDIO, Principal
from qemu_mcp.backends.base import VmBackend
from qemu_mcp.backends.job import Job, ProgressFn
from qemu_mcp.backends.libvirt.manage import LibvirtBackend
from qemu_mcp.backends.qemu.manage import QemuBackend
from qemu_mcp.config import HostSpec
from qemu_mcp.errors import (
    ConfirmationRequired,
    InvalidInput,
    PolicyDenied,
    QemuMcpError,
)
from qemu_mcp.models import ManageDetails, ManageVmData, ManageVmResult
from qemu_mcp.ops.backend import backend_of
from qemu_mcp.ops.fleet_core import FleetCore, HostRef
from qemu_mcp.ops.manage.call import Call, Consent, NeedsConfirmation, may_need_consent, question
from qemu_mcp.ops.manage.change import delete, modify
from qemu_mcp.ops.manage.clone import clone
from qemu_mcp.ops.manage.create import create
from qemu_mcp.ops.manage.lock import call_locks, lock_key
from qemu_mcp.ops.manage.power import reboot, start, stop
from qemu_mcp.ops.manage.provision_request import audit_fields
from qemu_mcp.ops.manage.request import ManageRequest
from qemu_mcp.policy import Policy

R = TypeVar("R")
__all__ = ["Consent", "NeedsConfirmation", "backend_for", "confirmation_question", "lock_key", "manage_vm"]


# ---- entry points


async def backend_for(fleet: FleetCore, spec: HostSpec, req: ManageRequest | None = None) -> VmBackend:
    """The host's backend; on an auto host not seen yet, one `virsh uri` decides (and is remembered):
    libvirt when virsh answers, plain QEMU (VMs in vm_dir) when virsh is missing or unusable."""
    vm_dir = req.vm_dir if req is not None else None
    if await backend_of(fleet, spec) == "qemu":
        return QemuBackend(fleet.accel_verdicts, spec, vm_dir)
    if req is not None and vm_dir is not None and req.action not in ("create", "clone"):
        raise InvalidInput(
            f"vm_dir does not apply to action={req.action} on host '{spec.name}', a libvirt host (libvirt "
            "finds VMs by name); it is used by create and clone there (the new disks' directory), and by "
            "every action on plain-QEMU hosts"
        )
    return LibvirtBackend(fleet.accel_verdicts, spec)


async def manage_vm(
    fleet: FleetCore,
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
    return await audited(entry, _manage_vm(fleet, ref, req, consent, progress, who, entry))


async def audited(entry: AuditEntry, work: Awaitable[R]) -> R:
    """The call's outcome record, written before its result (or error) goes back."""
    try:
        result = await work
    except BaseException as e:
        entry.end(_outcome(e), error=e)
        raise
    entry.end("ok", message=getattr(result, "message", None))
    return result


def _audit_arguments(ref: HostRef, req: ManageRequest) -> dict[str, object]:
    """The call's arguments as parsed; audit.redact blanks ssh_pwd."""
    disk = None if req.disk is None else {"path": req.disk.path, "size_bytes": req.disk.size_bytes}
    return {
        "name": req.name, "action": req.action, "arch": req.arch, "memory_mib": req.memory_mib,
        "vcpus": req.vcpus, "disk": disk, "iso": req.iso, "vm_dir": req.vm_dir, "force": req.force,
        "confirm": req.confirm, "dry_run": req.dry_run, "start": req.start, "timeout": req.timeout,
        "wait_for_ip": req.wait_for_ip,
        "host": ref.host, "ssh_port": ref.ssh_port, "ssh_user": ref.ssh_user, "ssh_pwd": ref.ssh_pwd,
        "ssh_key": ref.ssh_key, "add_disk": _add_disk_audit(req), "remove_disk": req.remove_disk,
        "keep_file": req.keep_file, "image": req.image, "linked": req.linked, "source": req.source,
        **audit_fields(req),
    }  # fmt: skip


def _add_disk_audit(req: ManageRequest) -> dict[str, object] | None:
    spec = req.add_disk
    return None if spec is None else {"size_bytes": spec.size_bytes, "path": spec.path, "format": spec.format,
                                      "bus": spec.bus}  # fmt: skip


def _outcome(e: BaseException) -> str:
    if isinstance(e, PolicyDenied | ConfirmationRequired):
        return "refused"
    if isinstance(e, asyncio.CancelledError):
        return "cancelled"
    return "failed"


async def _manage_vm(
    fleet: FleetCore,
    ref: HostRef,
    req: ManageRequest,
    consent: Consent | None,
    progress: ProgressFn | None,
    who: Principal,
    entry: AuditEntry,
) -> ManageVmResult:
    spec, policy = allowed_host(fleet, ref, entry, req.action, req.name, who)
    consent = consent or (Consent(True, "confirm") if req.confirm else Consent())
    backend = await backend_for(fleet, spec, req)
    job = Job(fleet.runner(spec), spec.name, dry_run=req.dry_run, progress=progress)
    names = [req.name, *([req.source] if req.source else [])]  # clone: its source too
    async with fleet.op_slots.hold(policy), call_locks(fleet, spec, backend, job, names):
        entry.commands = job.commands
        call = Call(req, spec, backend, job, consent, ManageDetails(dry_run=req.dry_run), policy)
        try:
            message = await undone_on_failure(job, FLOWS[req.action](call))
        finally:
            entry.vm_uuid = call.uuid
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


def allowed_host(
    fleet: FleetCore, ref: HostRef, entry: AuditEntry, action: str, vm: str, who: Principal, tool: str = levels.MANAGE
) -> tuple[HostSpec, Policy]:
    """The call's host (recorded in its audit entry) and policy, once the policy allows the action."""
    spec = fleet.resolve(ref)
    entry.host = spec.name
    policy = fleet.inventory.policy_for(spec)
    policy.check_action(action, vm, subject=who.subject, token_read_only=who.read_only, tool=tool)
    return spec, policy


async def confirmation_question(
    fleet: FleetCore, ref: HostRef | None, req: ManageRequest, who: Principal = STDIO
) -> str | None:
    """What to ask the user before this call, or None when nothing needs asking (or the call
    will fail anyway, e.g. a policy refuses it: the flow reports that error). Reads the VM's
    state; changes nothing."""
    if req.dry_run or req.confirm or not may_need_consent(req):
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


async def undone_on_failure(job: Job, flow: Awaitable[R]) -> R:
    """Run a flow; if it fails, undo what it created (newest first) and say so in its error."""
    try:
        result = await flow
    except BaseException as e:
        # Shielded: a cancelled call still removes what it created.
        done, failed = await asyncio.shield(job.rollback())
        if isinstance(e, QemuMcpError):
            e.message += _undo_sentence(done, failed)
            e.args = (e.message,)
        raise
    job.commit()
    return result


def _undo_sentence(done: list[str], failed: list[str]) -> str:
    out = ""
    if done:
        out += "; undone: " + ", ".join(done)
    if failed:
        out += "; COULD NOT UNDO (remove by hand): " + "; ".join(failed)
    return out


FLOWS: dict[str, Callable[[Call], Awaitable[str]]] = {
    "create": create,
    "start": start,
    "stop": stop,
    "reboot": reboot,
    "delete": delete,
    "modify": modify,
    "clone": clone,
}
