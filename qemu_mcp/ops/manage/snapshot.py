"""manage_snapshot: create, list, revert and delete a VM's snapshots, on both backends.

Like manage_vm (actions.py): the host is resolved, the policy asked (allowed_actions names these
snapshot-create, snapshot-revert, snapshot-delete), the VM's two locks taken (lock.py: the same
ones manage_vm takes, so a snapshot never races a stop or a modify), the VM resolved once by its
exact name (libvirt: to its UUID), the backend's steps run in a Job (dry run, undo, progress),
and every change is audited (intent before, outcome after). revert and delete are dangerous:
they go ahead only with consent (confirm=true, an accepted elicitation, the CLI's --yes).
list only reads: no lock, no audit, nothing written (a stale pidfile is left to manage_vm).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from qemu_mcp import levels
from qemu_mcp.audit import AuditEntry
from qemu_mcp.auth import STDIO, Principal
from qemu_mcp.backends.base import VmBackend, VmState
from qemu_mcp.backends.job import Job, ProgressFn
from qemu_mcp.backends.libvirt.manage import LibvirtBackend
from qemu_mcp.backends.libvirt.snapshot import LibvirtSnapshots
from qemu_mcp.backends.qemu.manage import QemuBackend
from qemu_mcp.backends.qemu.snapshot import QemuSnapshots
from qemu_mcp.backends.snapshots import NewSnapshot, SnapshotBackend, SnapshotListing
from qemu_mcp.config import HostSpec
from qemu_mcp.errors import CommandFailed, Conflict, InvalidInput, NotFound, QemuMcpError
from qemu_mcp.models import ManageSnapshotData, ManageSnapshotResult, SnapshotDetails, SnapshotInfo
from qemu_mcp.ops.backend import backend_of
from qemu_mcp.ops.fleet_core import FleetCore, HostRef
from qemu_mcp.ops.manage.actions import allowed_host, audited, undone_on_failure
from qemu_mcp.ops.manage.call import Consent, NeedsConfirmation
from qemu_mcp.ops.manage.lock import vm_locks
from qemu_mcp.ops.manage.snapshot_request import SnapshotRequest, snapshot_question


@dataclass
class SnapshotCall:
    req: SnapshotRequest
    spec: HostSpec
    machine: VmBackend
    snaps: SnapshotBackend
    job: Job
    vm: VmState
    consent: Consent
    details: SnapshotDetails

    @property
    def where(self) -> str:
        return f"VM '{self.req.name}' on host '{self.spec.name}'"


async def backends_for(fleet: FleetCore, spec: HostSpec, vm_dir: str | None) -> tuple[VmBackend, SnapshotBackend]:
    """The host's VM backend (to resolve the VM, and for its locks) and its snapshot backend."""
    if await backend_of(fleet, spec) == "qemu":
        machine = QemuBackend(fleet.accel_verdicts, spec, vm_dir)
        return machine, QemuSnapshots(spec, machine)
    if vm_dir is not None:
        raise InvalidInput(
            f"vm_dir does not apply to host '{spec.name}', a libvirt host (libvirt finds VMs by name); "
            "it says where VMs live on plain-QEMU hosts"
        )
    return LibvirtBackend(fleet.accel_verdicts, spec), LibvirtSnapshots(spec)


async def existing_vm(machine: VmBackend, job: Job, name: str, host: str) -> VmState:
    vm = await machine.inspect(job, name)
    if vm is None:
        raise NotFound(f"VM '{name}' on host '{host}' does not exist; list_vms shows the names that exist")
    return vm


# ---- entry point


async def manage_snapshot(
    fleet: FleetCore, ref: HostRef | None, req: SnapshotRequest, *,
    consent: Consent | None = None, progress: ProgressFn | None = None, who: Principal = STDIO,
) -> ManageSnapshotResult:  # fmt: skip
    ref = ref or HostRef()
    if req.action == "list":
        return await _list(fleet, ref, req)
    entry = fleet.audit.begin(
        who=who.subject, tool=levels.SNAPSHOT, action=req.action, host=ref.host or "local", vm=req.name,
        arguments=_audit_arguments(ref, req),
    )  # fmt: skip
    consent = consent or (Consent(True, "confirm") if req.confirm else Consent())
    return await audited(entry, _change(fleet, ref, req, consent, progress, who, entry))


def _audit_arguments(ref: HostRef, req: SnapshotRequest) -> dict[str, object]:
    """The call's arguments as parsed; audit.redact blanks ssh_pwd."""
    return {
        "name": req.name, "action": req.action, "snapshot": req.snapshot, "description": req.description,
        "include_memory": req.include_memory, "vm_dir": req.vm_dir, "confirm": req.confirm,
        "dry_run": req.dry_run, "host": ref.host, "ssh_port": ref.ssh_port, "ssh_user": ref.ssh_user,
        "ssh_pwd": ref.ssh_pwd, "ssh_key": ref.ssh_key,
    }  # fmt: skip


async def _change(
    fleet: FleetCore, ref: HostRef, req: SnapshotRequest, consent: Consent, progress: ProgressFn | None,
    who: Principal, entry: AuditEntry,
) -> ManageSnapshotResult:  # fmt: skip
    spec, policy = allowed_host(fleet, ref, entry, req.action, req.name, who, levels.SNAPSHOT)
    machine, snaps = await backends_for(fleet, spec, req.vm_dir)
    job = Job(fleet.runner(spec), spec.name, dry_run=req.dry_run, progress=progress)
    async with fleet.op_slots.hold(policy), vm_locks(fleet, spec, machine, job, req.name):
        entry.commands = job.commands
        vm = await existing_vm(machine, job, req.name, spec.name)
        entry.vm_uuid = vm.uuid or None
        call = SnapshotCall(req, spec, machine, snaps, job, vm, consent, SnapshotDetails(dry_run=req.dry_run))
        message = await undone_on_failure(job, FLOWS[req.action](call))
    if fleet.known_backend(spec) is None:
        fleet.learn_backend(spec, machine.kind)
    if req.dry_run:
        planned = sum(1 for c in job.commands if c.changes_host)
        message = f"dry run: {message}; {planned} step(s) would change the host, none was run"
    return _result(call, message)


def _result(call: SnapshotCall, message: str) -> ManageSnapshotResult:
    details = call.details
    details.commands = call.job.commands
    details.notes = call.job.notes
    req = call.req
    data = ManageSnapshotData(
        host=call.spec.name, vm_name=req.name, snapshot=req.snapshot, action=req.action, details=details
    )
    return ManageSnapshotResult(success=True, message=message, data=data)


async def _list(fleet: FleetCore, ref: HostRef, req: SnapshotRequest) -> ManageSnapshotResult:
    """Reads only: a job in dry-run mode, so nothing the backends would tidy up on the way is touched."""
    spec = fleet.resolve(ref)
    machine, snaps = await backends_for(fleet, spec, req.vm_dir)
    job = Job(fleet.runner(spec), spec.name, dry_run=True)
    vm = await existing_vm(machine, job, req.name, spec.name)
    listing = await snaps.listing(job, vm)
    call = SnapshotCall(req, spec, machine, snaps, job, vm, Consent(), SnapshotDetails())
    _show(call, listing)
    count = len(listing.snapshots)
    return _result(call, f"{call.where} has {count} snapshot(s)" if count else f"{call.where} has no snapshots")


def _show(call: SnapshotCall, listing: SnapshotListing) -> None:
    call.details.snapshots = listing.snapshots
    call.details.tree = listing.tree


# ---- confirmation


async def snapshot_confirmation_question(
    fleet: FleetCore, ref: HostRef | None, req: SnapshotRequest, who: Principal = STDIO
) -> str | None:
    """What to ask the user before this call, or None (nothing dangerous, or it will fail anyway:
    the flow reports that). Reads the VM and its snapshots; changes nothing."""
    if req.dry_run or req.confirm or req.operation.level is not levels.DANGEROUS:
        return None
    try:
        spec = fleet.resolve(ref)
        fleet.inventory.policy_for(spec).check_action(
            req.action, req.name, subject=who.subject, token_read_only=who.read_only, tool=levels.SNAPSHOT
        )
        machine, snaps = await backends_for(fleet, spec, req.vm_dir)
        job = Job(fleet.runner(spec), spec.name, dry_run=True)
        vm = await existing_vm(machine, job, req.name, spec.name)
        snap = (await snaps.listing(job, vm)).find(req.target)
    except QemuMcpError:
        return None
    return snapshot_question(req, spec.name, vm.running, snap) if snap is not None else None


def _require_consent(call: SnapshotCall, snap: SnapshotInfo) -> None:
    q = snapshot_question(call.req, call.spec.name, call.vm.running, snap)
    if q is None or call.consent.given or call.req.dry_run:
        return
    what = f"{'reverting' if call.req.action == 'revert' else 'deleting'} snapshot '{snap.name}' of {call.where}"
    if call.consent.how in ("declined", "cancelled"):
        raise NeedsConfirmation(f"{what} was not confirmed (the user {call.consent.how}); nothing was changed", q)
    unavailable = " (this client cannot answer a confirmation request)" if call.consent.how == "unavailable" else ""
    raise NeedsConfirmation(f"{what} needs confirmation: pass confirm=true{unavailable}; nothing was changed", q)


# ---- the flows


async def _consented(call: SnapshotCall) -> SnapshotInfo:
    """The snapshot revert or delete names, once it is found and the user agreed."""
    listing = await call.snaps.listing(call.job, call.vm)
    snap = listing.find(call.req.target)
    if snap is None:
        names = ", ".join(f"'{s.name}'" for s in listing.snapshots) or "none"
        raise NotFound(f"{call.where} has no snapshot '{call.req.target}' (its snapshots: {names})")
    call.details.snapshot = snap
    _require_consent(call, snap)
    return snap


async def _read_back(call: SnapshotCall) -> SnapshotListing:
    listing = await call.snaps.listing(call.job, call.vm)
    _show(call, listing)
    return listing


async def _create(call: SnapshotCall) -> str:
    req, vm, job = call.req, call.vm, call.job
    if req.include_memory and not vm.running:
        raise Conflict(
            f"{call.where} is {vm.state}: it has no memory to save; omit include_memory (a shut-off VM's "
            "snapshot holds its disks and configuration)"
        )
    if (await call.snaps.listing(job, vm)).find(req.target) is not None:
        raise Conflict(f"{call.where} already has a snapshot named '{req.target}'; choose another name, or delete it")
    await job.report(0, 2, f"taking snapshot '{req.target}' of '{vm.name}'")
    how = await call.snaps.create(job, vm, NewSnapshot(req.target, req.description, req.include_memory))
    if req.dry_run:
        return f"would take snapshot '{req.target}' of {call.where}: {how}"
    await job.report(1, 2, "reading the snapshots back")
    made = (await _read_back(call)).find(req.target)
    if made is None:
        raise CommandFailed(f"snapshot '{req.target}' of {call.where} is not there after taking it", call.spec.name)
    call.details.snapshot = made
    return f"took snapshot '{req.target}' of {call.where}: {how}"


async def _revert(call: SnapshotCall) -> str:
    req, vm, job = call.req, call.vm, call.job
    snap = await _consented(call)
    call.details.before = vm.config()
    await job.report(0, 2, f"reverting '{vm.name}' to snapshot '{snap.name}'")
    await call.snaps.revert(job, vm, snap)
    if req.dry_run:
        return f"would revert {call.where} to snapshot '{snap.name}'"
    await job.report(1, 2, f"reading '{vm.name}' back")
    after = await existing_vm(call.machine, job, req.name, call.spec.name)
    call.details.after = after.config()
    when = f" (taken {snap.created})" if snap.created else ""
    return f"reverted {call.where} to snapshot '{snap.name}'{when}; it is {after.state}"


async def _delete(call: SnapshotCall) -> str:
    req, vm, job = call.req, call.vm, call.job
    snap = await _consented(call)
    await job.report(0, 2, f"deleting snapshot '{snap.name}' of '{vm.name}'")
    await call.snaps.delete(job, vm, snap)
    if req.dry_run:
        return f"would delete snapshot '{snap.name}' of {call.where}"
    await job.report(1, 2, "reading the snapshots back")
    if (await _read_back(call)).find(snap.name) is not None:
        raise CommandFailed(f"snapshot '{snap.name}' of {call.where} is still there after deleting it", call.spec.name)
    return f"deleted snapshot '{snap.name}' of {call.where}"


FLOWS: dict[str, Callable[[SnapshotCall], Awaitable[str]]] = {
    "create": _create,
    "revert": _revert,
    "delete": _delete,
}
