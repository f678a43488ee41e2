"""Disks in libvirt storage pools: made, grown and removed through libvirt, not behind its back.

A disk whose file sits directly in the target directory of an active file-backed pool (dir, fs,
netfs) is that pool's volume: it is created with `vol-create-as` (sparse: allocation 0), grown
with `vol-resize` and removed with `vol-delete`, all by libvirtd, so a user who is only in the
`libvirt` group can do it, and the pool's volume list stays right. The pool is named by the UUID
libvirt listed for it (never a name a user typed: virsh would read it as a UUID first), the volume
by its path. A file further down (a subdirectory of a pool's target) is not a volume libvirt can
make: qemu-mcp changes it with qemu-img / rm as elsewhere and then refreshes the pool
(`pool-refresh`). Sizes come from `domblkinfo UUID TARGET`.

The pools are read once per call (one round trip: backends.libvirt.pools) and kept in a `Pools`."""

from __future__ import annotations

import posixpath
from dataclasses import dataclass, field

from qemu_mcp import validation
from qemu_mcp.backends.base import CreatePlan, Target, VmDisk, VmState
from qemu_mcp.backends.job import Check, Job, Undo, failure_detail
from qemu_mcp.backends.libvirt import scripts, virsh
from qemu_mcp.backends.libvirt.errors import raise_if_unusable
from qemu_mcp.backends.libvirt.pools import pools_from
from qemu_mcp.config import HostSpec
from qemu_mcp.models import StoragePoolInfo
from qemu_mcp.parsers.dominfo import parse_dominfo
from qemu_mcp.parsers.sections import new_marker
from qemu_mcp.transport.base import CommandResult

FILE_POOL_TYPES = ("dir", "fs", "netfs")
FORMATS = ("qcow2", "raw")


@dataclass(frozen=True)
class Placement:
    """Where a disk path lies: in `pool`, as one of its volumes (`volume`) or deeper down."""

    pool: StoragePoolInfo
    volume: bool

    @property
    def uuid(self) -> str:
        return validation.domain_uuid(self.pool.uuid or "")


def place(path: str, pools: list[StoragePoolInfo]) -> Placement | None:
    """The active file-backed pool whose target directory holds `path` (the deepest one when pool
    targets nest); None when no pool does. Pure."""
    path = posixpath.normpath(path)
    best: Placement | None = None
    for p in pools:
        if not p.active or p.type not in FILE_POOL_TYPES or not p.target_path or not p.uuid:
            continue
        target = posixpath.normpath(p.target_path)
        if not path.startswith(target.rstrip("/") + "/"):
            continue
        if best is None or len(target) > len(posixpath.normpath(best.pool.target_path or "")):
            best = Placement(p, volume=posixpath.dirname(path) == target)
    return best


# ---- virsh words (each a command for virsh.virsh)


def refresh(pool_uuid: str) -> list[str]:
    return ["pool-refresh", "--pool", validation.domain_uuid(pool_uuid)]


def vol_create_as(pool_uuid: str, name: str, size_bytes: int, fmt: str) -> list[str]:
    """A new volume `name` in the pool: sparse (allocation 0), like qemu-img create."""
    if fmt not in FORMATS or not name or "/" in name or name in (".", ".."):
        raise ValueError(f"cannot create volume {name!r} as {fmt!r}")
    return [
        "vol-create-as", "--pool", validation.domain_uuid(pool_uuid), "--name", name,
        "--capacity", f"{int(size_bytes)}B", "--allocation", "0", "--format", fmt,
    ]  # fmt: skip


def vol_resize(path: str, size_bytes: int) -> list[str]:
    """Grow the volume at `path` (never --shrink)."""
    return ["vol-resize", "--vol", validation.abs_path(path), "--capacity", f"{int(size_bytes)}B"]


def vol_delete(path: str) -> list[str]:
    return ["vol-delete", "--vol", validation.abs_path(path)]


def vol_info(path: str) -> list[str]:
    """Exits 0 when libvirt knows a volume at `path` (an undo's probe)."""
    return ["vol-info", "--vol", validation.abs_path(path)]


def domblkinfo(uuid: str, target: str) -> list[str]:
    """Capacity, allocation and physical size of one disk, in bytes (shut off or running)."""
    return ["domblkinfo", "--domain", validation.domain_uuid(uuid), "--device", target]


@dataclass
class Pools:
    """The host's storage pools, read at most once per call, and the libvirt steps on them."""

    job: Job
    spec: HostSpec
    _pools: list[StoragePoolInfo] | None = field(default=None, repr=False)

    def _virsh(self, *commands: list[str]) -> list[str]:
        return virsh.virsh(self.spec.libvirt_uri, list(commands))

    def _check(self, purpose: str, gone_is_fine: bool = False) -> Check:
        def check(result: CommandResult) -> None:
            lines = [ln for ln in result.stderr.splitlines() if ln.startswith("error:")]
            if gone_is_fine:  # deleting: a volume already gone is what was asked for (checked after)
                lines = [ln for ln in lines if "Storage volume not found" not in ln and "failed to get vol" not in ln]
                if not lines:
                    return
            if result.exit_status != 0 or lines:
                raise_if_unusable(result, self.spec)
                raise self.job.step_failed(purpose, result)

        return check

    async def where(self, path: str) -> Placement | None:
        if self._pools is None:
            marker = new_marker()
            purpose = "reading the storage pools"
            result = await self.job.read(purpose, scripts.list_pools(self.spec.libvirt_uri, marker))
            self._pools = []
            if marker in result.stdout:
                self._pools = pools_from(self.spec.name, result.stdout, marker)
            else:  # e.g. no storage driver: the disks are files, as before pools were looked at
                raise_if_unusable(result, self.spec)
                self.job.note(f"the storage pools could not be read ({failure_detail(result)}): disks are "
                              "handled as plain files, and no pool is refreshed")  # fmt: skip
        return place(path, self._pools)

    async def create(self, path: str, fmt: str, size_bytes: int) -> bool:
        """True when `path` was made as a pool volume; False: not a volume of an active pool."""
        where = await self.where(path)
        if where is None or not where.volume:
            return False
        name, pool = posixpath.basename(path), where.pool.name
        purpose = f"creating the volume {name} ({size_bytes} bytes, {fmt}) in storage pool '{pool}'"
        undo = Undo(f"deleting the volume {path}", self._virsh(vol_delete(path)), probe=self._virsh(vol_info(path)),
                    leftover=f"the volume {path}")  # fmt: skip
        # The refresh first: a file put there behind libvirt's back is then a known name, refused.
        argv = self._virsh(refresh(where.uuid), vol_create_as(where.uuid, name, size_bytes, fmt))
        await self.job.change(purpose, argv, undo=undo, check=self._check(purpose))
        return True

    async def grow(self, path: str, size_bytes: int) -> bool:
        where = await self.where(path)
        if where is None or not where.volume:
            return False
        purpose = f"growing the volume {path} to {size_bytes} bytes (storage pool '{where.pool.name}')"
        argv = self._virsh(refresh(where.uuid), vol_resize(path, size_bytes))
        await self.job.change(purpose, argv, check=self._check(purpose))
        return True

    async def delete(self, paths: list[str]) -> list[str]:
        """Delete the paths that are pool volumes; returns those (the others are left to the caller)."""
        placed = {p: w for p in paths if (w := await self.where(p)) is not None and w.volume}
        volumes = list(placed)
        if volumes:
            purpose = f"deleting the volume(s) {', '.join(volumes)}"
            pools = sorted({w.uuid for w in placed.values()})
            argv = self._virsh(*(refresh(u) for u in pools), *(vol_delete(p) for p in volumes))
            await self.job.change(purpose, argv, check=self._check(purpose, gone_is_fine=True))
        return volumes

    async def refresh_for(self, paths: list[str]) -> None:
        """After qemu-mcp changed files itself: refresh every active pool that holds one of them."""
        uuids = sorted({w.uuid for p in paths if (w := await self.where(p)) is not None})
        if uuids:
            purpose = "refreshing the storage pool(s) holding " + ", ".join(paths)
            argv = self._virsh(*(refresh(u) for u in uuids))
            await self.job.change(purpose, argv, check=self._check(purpose))


async def capacity(job: Job, spec: HostSpec, uuid: str, target: str) -> int:
    """A disk's capacity in bytes, as libvirt reads it (`domblkinfo`)."""
    purpose = f"reading the size of {target} (domblkinfo)"
    result = await job.read(purpose, virsh.virsh(spec.libvirt_uri, [domblkinfo(uuid, target)]))
    value = parse_dominfo(result.stdout).get("capacity", "")
    if result.exit_status != 0 or not value.isdigit():
        raise_if_unusable(result, spec)
        raise job.step_failed(purpose, result)
    return int(value)


class PoolDisks:
    """The disk hooks of backends.base.BackendDefaults for libvirt: storage pools first, files else.
    Mixed into LibvirtBackend (one instance per call, so the pools are read once per call)."""

    spec: HostSpec
    _pools_of_call: Pools | None = None

    def _pools(self, job: Job) -> Pools:
        if self._pools_of_call is None or self._pools_of_call.job is not job:
            self._pools_of_call = Pools(job, self.spec)
        return self._pools_of_call

    async def create_disk(self, job: Job, plan: CreatePlan) -> bool:
        return await self._pools(job).create(plan.disk_path, plan.disk_format, plan.disk_size)

    async def grow_disk(self, job: Job, vm: VmState, disk: VmDisk, size_bytes: int) -> bool:
        return bool(disk.path) and await self._pools(job).grow(disk.path or "", size_bytes)

    async def delete_disks(self, job: Job, vm: VmState, paths: list[str]) -> list[str]:
        return await self._pools(job).delete(paths)

    async def files_changed(self, job: Job, paths: list[str]) -> None:
        await self._pools(job).refresh_for(paths)

    async def disk_capacity(self, job: Job, vm: Target, disk: VmDisk) -> int | None:
        return await capacity(job, self.spec, vm.uuid, disk.target)
