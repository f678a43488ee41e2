"""What every manage_vm flow works with: the Call, the confirmation rules (levels.py), and
small steps shared by the flows (read the VM, read back, wait for a shutdown)."""

from __future__ import annotations

from dataclasses import dataclass

from qemu_mcp import levels
from qemu_mcp.backends.base import Target, VmBackend, VmDisk, VmState
from qemu_mcp.backends.job import Job
from qemu_mcp.config import HostSpec
from qemu_mcp.consent import Consent
from qemu_mcp.errors import CommandTimeout, ConfirmationRequired, NotFound
from qemu_mcp.host import fs, qemu_img
from qemu_mcp.models import ManageDetails
from qemu_mcp.ops.manage.request import ManageRequest
from qemu_mcp.parsers.path_status import parse_path_status
from qemu_mcp.parsers.qemu_img import virtual_size
from qemu_mcp.policy import Policy


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
    uuid: str | None = None  # the VM this call resolved its name to: audit records name it

    @property
    def where(self) -> str:
        return f"VM '{self.req.name}' on host '{self.spec.name}'"


# ---- confirmation


def operation(req: ManageRequest, vm: VmState | None) -> levels.Operation:
    """Which row of the levels table this call is. vm None (state not known yet): the most
    dangerous form the call may take on a running VM."""
    running = vm is None or vm.running
    return levels.manage_operation(
        req.action, force=req.force and running, restart=req.changes_config and running,
        delete_file=req.deletes_disk_file,
    )  # fmt: skip


def may_need_consent(req: ManageRequest) -> bool:
    return operation(req, None).level is levels.DANGEROUS


def question(req: ManageRequest, host: str, vm: VmState) -> str | None:
    """The confirmation question for a dangerous step (levels.py), or None if this call has none."""
    op = operation(req, vm)
    if op.level is not levels.DANGEROUS:
        return None
    name = f"VM '{vm.name}' on host '{host}'"
    if op.name == "manage_vm delete":
        images = [d.path for d in vm.disks if d.owned_image and d.path] + list(vm.created_files)
        what = f" and its disk image(s) {', '.join(images)}" if images else ""
        off = " It is running and will be powered off first." if vm.running else ""
        return f"Delete {name}{what}? This cannot be undone.{off}"
    if op.name == "manage_vm modify (delete-disk-file)":
        disk = next((d for d in vm.disks if d.target == req.remove_disk), None)
        path = f" and delete its image file {disk.path}" if disk is not None and disk.path else " and delete its file"
        return f"Remove disk {req.remove_disk} from {name}{path}? The data on it is lost; this cannot be undone."
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


def require_consent(call: Call, vm: VmState) -> bool:
    """True when the step may go ahead. modify without consent goes ahead without the restart."""
    q = question(call.req, call.spec.name, vm)
    if q is None or call.consent.given or call.req.dry_run:
        return True
    if call.req.action == "modify" and not call.req.deletes_disk_file:
        return False
    verb = {
        "delete": "deleting",
        "stop": "powering off",
        "reboot": "hard-resetting",
        "modify": f"deleting the file of disk {call.req.remove_disk} of",
    }.get(call.req.action, f"{call.req.action} of")
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


# ---- helpers shared by the flows


async def existing(call: Call) -> VmState:
    vm = await call.backend.inspect(call.job, call.req.name)
    call.uuid = vm.uuid if vm is not None else None
    if vm is None:
        raise NotFound(f"{call.where} does not exist; list_vms shows the names that exist")
    call.details.before = vm.config()
    return vm


async def read_back(call: Call) -> VmState | None:
    if call.req.dry_run:
        return None
    vm = await call.backend.inspect(call.job, call.req.name)
    call.details.after = vm.config() if vm else None
    return vm


async def path_kinds(call: Call, purpose: str, paths: list[str]) -> dict[str, str]:
    result = await call.job.read(purpose, fs.path_status(paths))
    if result.exit_status != 0:
        raise call.job.step_failed(purpose, result)
    return dict(parse_path_status(result.stdout, paths))


async def image_size(call: Call, vm: Target, disk: VmDisk) -> int:
    """The disk's virtual size: as the backend reads it (libvirt: domblkinfo), else qemu-img info."""
    capacity = await call.backend.disk_capacity(call.job, vm, disk)
    if capacity is not None:
        return capacity
    assert disk.path and disk.format
    purpose = f"reading the size of {disk.path}"
    result = await call.job.read(purpose, qemu_img.info(disk.path, disk.format))
    if result.exit_status != 0:
        raise call.job.step_failed(purpose, result)
    return virtual_size(result.stdout)


def not_stopped(call: Call, timeout: float, then: str) -> CommandTimeout:
    return CommandTimeout(
        f"{call.where} did not shut down within {timeout:g} s after the ACPI shutdown request "
        f"(the guest may have no OS, or ignore ACPI); it is still running. {then}",
        call.spec.name,
    )


async def stop_guest(call: Call, vm: VmState, *, force: bool, then: str) -> None:
    if force:
        await call.backend.power_off(call.job, vm)
        return
    await call.backend.shutdown(call.job, vm)
    if call.req.dry_run:
        call.job.note(f"would wait up to {call.req.timeout:g} s for the guest to power off")
    elif not await call.backend.wait_stopped(call.job, vm, call.req.timeout):
        raise not_stopped(call, call.req.timeout, then)
