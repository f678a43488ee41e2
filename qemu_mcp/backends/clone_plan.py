"""A clone (manage_vm action=clone, issue 11) with everything decided: shared by the two backends'
clone modules (backends/libvirt/clone.py, backends/qemu/clone.py) and the flow in ops/manage/clone.py."""

from __future__ import annotations

from dataclasses import dataclass, field
from uuid import uuid4

from qemu_mcp.backends.base import VmDisk, VmState


@dataclass(frozen=True)
class ClonedDisk:
    source: VmDisk  # the source VM's disk (its path is the overlay's base, or what is copied)
    path: str  # the clone's qcow2 disk


@dataclass(frozen=True)
class ClonePlan:
    name: str
    source: VmState
    disks: tuple[ClonedDisk, ...]
    linked: bool
    vm_dir: str
    home: str | None  # the clone's own directory (plain QEMU)
    uuid: str = field(default_factory=lambda: str(uuid4()))
    # The clone's own identity (issue 11): its NoCloud seed (bytes hidden from repr: user-data may
    # hold a password hash) at seed_path, and the port its SSH forward gets when the source has one.
    seed: bytes | None = field(default=None, repr=False)
    seed_path: str | None = None
    forward_port: int = 0

    def new_path(self, old: str | None) -> str | None:
        return next((d.path for d in self.disks if d.source.path == old), None)

    @property
    def new_seed(self) -> str | None:
        """The clone's own seed ISO's path, when it gets one (cloud_init given)."""
        return self.seed_path if self.seed is not None else None

    def files(self) -> list[tuple[str, str, bytes]]:
        """(what, host path, bytes) to upload, as Provision.files() for a create."""
        if self.seed is None or not self.seed_path:
            return []
        return [("the clone's cloud-init seed ISO", self.seed_path, self.seed)]


def is_seed(path: str | None) -> bool:
    """A cloud-init seed ISO as create attaches it (<vm_dir>/<name>/seed.iso, <disk_dir>/<name>-seed.iso)."""
    return bool(path) and (path.endswith("/seed.iso") or path.endswith("-seed.iso"))  # type: ignore[union-attr]
