"""What a backend implements for manage_snapshot (libvirt: backends.libvirt.snapshot; plain QEMU:
backends.qemu.snapshot). The flow in ops.manage.snapshot owns what does not depend on how VMs are
kept: the request, policy, locks, confirmation, audit, undo, reading back; and the rules below,
which both backends share (which disks a snapshot can hold, when memory is saved).

Each method takes the call's Job (reads through `job.read`, changes through `job.change` or
`job.act`, so a dry run records them without running them) and the VM as `inspect` resolved it:
libvirt commands address its UUID, plain QEMU its directory.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol

from qemu_mcp.backends.base import VmDisk, VmState
from qemu_mcp.backends.job import Job
from qemu_mcp.errors import InvalidInput
from qemu_mcp.models import SnapshotInfo


@dataclass(frozen=True)
class NewSnapshot:
    name: str
    description: str | None = None
    include_memory: bool | None = None  # None: a running VM's memory is saved, where the backend can


@dataclass
class SnapshotListing:
    snapshots: list[SnapshotInfo] = field(default_factory=list)
    tree: str | None = None  # libvirt's snapshot-list --tree

    def find(self, name: str) -> SnapshotInfo | None:
        return next((s for s in self.snapshots if s.name == name), None)


class SnapshotBackend(Protocol):
    async def listing(self, job: Job, vm: VmState) -> SnapshotListing:
        """Every snapshot of the VM, oldest first, in as few round trips as the backend can."""
        ...

    async def create(self, job: Job, vm: VmState, new: NewSnapshot) -> str:
        """Take the snapshot (its name is free: the flow checked); push undos for partial work.
        Returns how it was taken, in words for the answer ("internal: disks and memory")."""
        ...

    async def revert(self, job: Job, vm: VmState, snap: SnapshotInfo) -> None:
        """Put the VM's disks, configuration and (if saved) memory back to the snapshot."""
        ...

    async def delete(self, job: Job, vm: VmState, snap: SnapshotInfo) -> None: ...


def snapshot_disks(vm: VmState, where: str) -> list[VmDisk]:
    """The disks a snapshot holds: every writable disk, each of which must be a qcow2 file (a raw
    image has nowhere to keep a snapshot; CD-ROMs and read-only disks are left out)."""
    disks = [d for d in vm.disks if d.device == "disk" and not d.readonly]
    for d in disks:
        if not d.file_backed or not d.path:
            raise InvalidInput(
                f"disk {d.target} of {where} is not a file image: qemu-mcp snapshots only qcow2 files; "
                "detach it, or snapshot it on the host"
            )
        if d.format != "qcow2":
            raise InvalidInput(
                f"disk {d.target} of {where} ({d.path}) is {d.format or 'of unknown format'}: only qcow2 images "
                "can hold snapshots (a raw image has no room for them); convert it "
                "(qemu-img convert -O qcow2) or detach it, then try again"
            )
    if not disks:
        raise InvalidInput(f"{where} has no writable disk to snapshot")
    return disks


def memory_refused(where: str) -> InvalidInput:
    return InvalidInput(
        f"include_memory=false: a snapshot of the running {where} always holds its memory here (the "
        "disks of a running guest alone are only crash-consistent); omit include_memory, or stop the "
        "VM first for a disk-only snapshot"
    )
