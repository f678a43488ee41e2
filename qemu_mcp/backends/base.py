"""What a backend (libvirt: ops.libvirt_manage; plain QEMU: ops.qemu_manage) implements for manage_vm.

The shared flows in `ops.manage.actions` own everything that does not depend on how VMs are
kept: request checks, the per-VM lock, confirmation, the disk image (qemu-img) and its
directory, waiting for a guest to stop, undo on failure, reading back and shaping the result.
A backend supplies the primitives below. Each takes the call's Job: commands that only look
go through `job.read`, commands that change the host through `job.change` (recorded, not run,
in a dry run; give an `Undo` where one exists). Report failures with the `qemu_mcp.errors`
classes, in sentences that say what to do.
"""

from __future__ import annotations

import asyncio
import posixpath
import time
from dataclasses import dataclass, field
from typing import Protocol
from uuid import uuid4

from qemu_mcp.backends.job import Job
from qemu_mcp.backends.provision import NetworkChoice, Provision
from qemu_mcp.disk_spec import NewDisk
from qemu_mcp.models import DiskInfo, VmConfig, VmStatus


@dataclass(frozen=True)
class VmDisk:
    target: str  # guest device name: vda, sda
    path: str | None  # host path (file) or device
    format: str | None  # qcow2, raw
    device: str = "disk"  # disk, cdrom, floppy
    file_backed: bool = True  # a plain file on the host (not a block device, not network storage)
    readonly: bool = False
    shareable: bool = False
    created: bool = True  # plain QEMU: vm.conf says whether qemu-mcp made this image

    @property
    def owned_image(self) -> bool:
        """An image delete may remove: a writable, unshared file that is a disk (never an ISO)."""
        return (
            self.device == "disk"
            and self.file_backed
            and bool(self.path)
            and not self.readonly
            and not self.shareable
            and self.created
        )


class Target(Protocol):
    """A VM a call acts on, resolved once: its name for messages, its UUID for commands. libvirt
    commands address only the UUID (virsh would read a name as an id first); plain QEMU finds the
    VM by its directory, the name. VmState and CreatePlan are Targets."""

    @property
    def name(self) -> str: ...

    @property
    def uuid(self) -> str: ...


@dataclass(frozen=True)
class VmState:
    """A VM as a backend reports it: its state and its *persistent* configuration (next boot)."""

    name: str
    status: VmStatus
    state: str  # the backend's own word: libvirt's "shut off", "running", ...
    uuid: str = ""
    persistent: bool = True
    arch: str | None = None
    machine: str | None = None
    domain_type: str | None = None
    vcpus: int | None = None
    memory_mib: int | None = None
    disks: tuple[VmDisk, ...] = ()
    extra: dict[str, str] = field(default_factory=dict)
    # Files qemu-mcp made for the VM besides its disks (libvirt <metadata>: seed ISO, base image):
    # delete removes them too, unless another VM uses them.
    created_files: tuple[str, ...] = ()

    @property
    def running(self) -> bool:
        """A guest process exists (paused and shutting-down guests count)."""
        return self.status not in ("stopped", "crashed")

    def config(self, capacities: dict[str, int] | None = None) -> VmConfig:
        caps = capacities or {}
        return VmConfig(
            status=self.status,
            state=self.state,
            arch=self.arch,
            machine=self.machine,
            domain_type=self.domain_type,
            vcpus=self.vcpus,
            memory_mib=self.memory_mib,
            disks=[
                DiskInfo(
                    target=d.target,
                    device=d.device,
                    path=d.path,
                    format=d.format,
                    readonly=d.readonly,
                    capacity_bytes=caps.get(d.path or ""),
                )
                for d in self.disks
            ],
        )


@dataclass(frozen=True)
class CreatePlan:
    """A create call with every default filled in, checked against the host."""

    name: str
    arch: str
    memory_mib: int
    vcpus: int
    disk_path: str
    disk_format: str
    disk_size: int
    iso: str | None
    start: bool
    vm_dir: str = ""  # the VMs' directory (the request's, else the host's)
    home: str | None = None  # the VM's own directory, when the backend keeps one (plain QEMU)
    uuid: str = field(default_factory=lambda: str(uuid4()))  # chosen here, so a create is found again
    # (kind, path) of files this create makes besides the disk: ("seed", ...), ("base-image", ...)
    # (backends.libvirt.metadata.KINDS); libvirt records them in the domain's <metadata>.
    made_files: tuple[tuple[str, str], ...] = ()
    provision: Provision = field(default_factory=Provision)  # network, forward, seed, Ignition (issue 11)
    image: str | None = None  # create from a base image (issue 11): its host path
    image_format: str | None = None  # the base's format, read with qemu-img info
    image_size: int | None = None  # the base's virtual size
    linked: bool = True  # a qcow2 overlay on the base (True) or a full copy


@dataclass
class CreateFacts:
    """What the backend found out before creating: filled by `prepare_create`, read by `define`."""

    accel: str  # libvirt domain type: kvm or qemu (TCG)
    network: str | None = None  # libvirt network to attach, None for user-mode networking
    nic: NetworkChoice | None = None  # what the NIC is on, once the host is checked (issue 11)
    firmware: tuple[str, str] | None = None  # UEFI code + NVRAM template (aarch64)
    xml: str | None = None  # what `define` defined (libvirt)
    config: str | None = None  # what `define` wrote (plain QEMU's vm.conf)


# Where a disk change took effect (manage_vm add_disk / remove_disk): the answer says which.
LIVE = "live+persistent"  # the running guest has it now, and the definition keeps it
PERSISTENT = "persistent"  # only the definition (libvirt --config, vm.conf): from the next boot on

STOP_POLL = 0.5  # seconds between state polls while a guest shuts down (backends without events)


class BackendDefaults:
    """What a backend without a directory per VM (libvirt) does for the layout hooks."""

    def layout(self, vm_dir: str, name: str) -> tuple[str | None, str]:
        """(the VM's own directory or None, the default disk image path) for a new VM."""
        return None, posixpath.join(vm_dir, f"{name}.qcow2")

    async def claim(self, job: Job, plan: CreatePlan, facts: CreateFacts) -> None:
        """Before the disk image is made: take the name on the host, marked as being created (plain
        QEMU: make the VM's directory, exclusively, with a `creating` marker; libvirt: define the
        domain with a `creating` mark in its metadata); push the undo."""
        return None

    async def forward_ports(self, job: Job) -> set[int]:
        """The SSH-forward ports the host's other VMs have recorded (running or not), so a new
        forward does not take one a stopped VM will bind when it starts (issue 11)."""
        return set()

    async def remove_leftovers(self, job: Job, vm: VmState) -> None:
        """After delete removed the disk images: what is left of the VM (plain QEMU: its directory)."""
        return None

    # ---- disk files. The shared flows make, grow and remove disk images with qemu-img and rm; a
    # backend that keeps some elsewhere (libvirt: volumes of storage pools) does those itself.

    async def create_disk(self, job: Job, plan: CreatePlan) -> bool:
        """Make plan.disk_path (with its undo) and return True, or False: the flow makes it (qemu-img)."""
        return False

    async def grow_disk(self, job: Job, vm: VmState, disk: VmDisk, size_bytes: int) -> bool:
        """Grow a shut-off VM's disk and return True, or False: the flow grows it (qemu-img resize)."""
        return False

    async def delete_disks(self, job: Job, vm: VmState, paths: list[str]) -> list[str]:
        """Remove those of `paths` the backend keeps itself; returns them (the flow rm's the others)."""
        return []

    async def files_changed(self, job: Job, paths: list[str]) -> None:
        """After the flow changed files itself (qemu-img, rm): libvirt refreshes the pools holding them."""
        return None

    async def disk_capacity(self, job: Job, vm: Target, disk: VmDisk) -> int | None:
        """A disk's virtual size in bytes, or None: the flow reads it with qemu-img info."""
        return None

    async def status(self, job: Job, vm: Target) -> VmStatus:
        raise NotImplementedError  # every backend has its own (VmBackend)

    async def wait_stopped(self, job: Job, vm: Target, timeout: float) -> bool:
        """Poll `status` until the guest is shut off (True) or `timeout` passed (False); progress is
        elapsed seconds. Backends with events on the host (libvirt) wait on those instead."""
        start = time.monotonic()
        while True:
            if await self.status(job, vm) in ("stopped", "crashed"):
                return True
            elapsed = time.monotonic() - start
            if elapsed >= timeout:
                return False
            await job.report(elapsed, timeout, f"waiting for '{vm.name}' to shut down ({elapsed:.0f}/{timeout:.0f} s)")
            await asyncio.sleep(min(STOP_POLL, timeout - elapsed))


class VmBackend(Protocol):
    kind: str  # "libvirt" or "qemu"

    def layout(self, vm_dir: str, name: str) -> tuple[str | None, str]: ...

    async def claim(self, job: Job, plan: CreatePlan, facts: CreateFacts) -> None: ...

    async def remove_leftovers(self, job: Job, vm: VmState) -> None: ...

    async def create_disk(self, job: Job, plan: CreatePlan) -> bool: ...

    async def grow_disk(self, job: Job, vm: VmState, disk: VmDisk, size_bytes: int) -> bool: ...

    async def delete_disks(self, job: Job, vm: VmState, paths: list[str]) -> list[str]: ...

    async def files_changed(self, job: Job, paths: list[str]) -> None: ...

    async def disk_capacity(self, job: Job, vm: Target, disk: VmDisk) -> int | None: ...

    async def forward_ports(self, job: Job) -> set[int]: ...

    async def inspect(self, job: Job, name: str) -> VmState | None:
        """The VM named exactly `name` (never an id or UUID), resolved: its UUID, state and persistent
        configuration; None if there is no VM of that name."""
        ...

    async def status(self, job: Job, vm: Target) -> VmStatus:
        """Cheap state poll (stop waits with it); call job.read(..., record=False)."""
        ...

    async def prepare_create(self, job: Job, plan: CreatePlan) -> CreateFacts:
        """Read-only checks for a new VM: emulator and firmware present, acceleration, network."""
        ...

    async def define(self, job: Job, plan: CreatePlan, facts: CreateFacts) -> None:
        """Register the VM (its disk image exists already); push the undo that unregisters it."""
        ...

    async def start(self, job: Job, vm: Target) -> None: ...

    async def shutdown(self, job: Job, vm: Target) -> None:
        """Ask the guest to power off (ACPI) and return at once; the shared flow waits."""
        ...

    async def power_off(self, job: Job, vm: Target) -> None:
        """Stop the guest at once, like pulling the plug."""
        ...

    async def wait_stopped(self, job: Job, vm: Target, timeout: float) -> bool:
        """Until the guest is shut off (True), or `timeout` seconds passed (False), with progress."""
        ...

    async def reboot(self, job: Job, vm: Target, timeout: float) -> bool:
        """Ask the guest to reboot (ACPI); True once it did within `timeout`, False if not."""
        ...

    async def reset(self, job: Job, vm: Target) -> None:
        """Hard reset, like pressing the reset button."""
        ...

    async def undefine(self, job: Job, vm: VmState) -> None:
        """Remove the VM's definition and its backend metadata (NVRAM, snapshots); not its disks."""
        ...

    async def set_memory(self, job: Job, vm: VmState, mib: int) -> None:
        """Persistent memory size (maximum and current); push an undo restoring vm.memory_mib."""
        ...

    async def set_vcpus(self, job: Job, vm: VmState, count: int) -> None:
        """Persistent vCPU count (maximum and current); push an undo restoring vm.vcpus."""
        ...

    async def resize_disk_live(self, job: Job, vm: VmState, disk: VmDisk, size_bytes: int) -> None:
        """Grow a disk of a running guest (the guest sees the new size at once)."""
        ...

    async def disk_users(self, job: Job, vm: Target, paths: list[str]) -> dict[str, list[str]]:
        """Which OTHER VMs on the host use each path (delete keeps those)."""
        ...

    async def attach_disk(self, job: Job, vm: VmState, disk: NewDisk, *, live: bool) -> str:
        """Add a disk whose image exists to the persistent definition and, when `live`, to the running
        guest; push the undo. Returns LIVE, or PERSISTENT when the running guest cannot take it now
        (with a job note saying why)."""
        ...

    async def detach_disk(self, job: Job, vm: VmState, disk: VmDisk, *, live: bool, timeout: float) -> bool:
        """Remove a disk from the persistent definition and, when `live`, from the running guest,
        waiting up to `timeout` s for the guest to release it. False: the guest has not released it
        yet (the request stays pending; the definition no longer has it)."""
        ...
