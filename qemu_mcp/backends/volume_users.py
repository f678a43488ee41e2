"""Which VM uses which volume, for both backends (pure).

A VM uses a volume directly when one of its disks names the volume's path (or, on libvirt, the
pool and volume by name). It uses it as a backing image when the volume is in that disk's backing
chain: the chain a running domain's XML lists, and, for any VM, the chain the pool's own volumes
show (an overlay's backing file, that image's backing file, ...).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from qemu_mcp.models import VolumeInfo, VolumeUse

BACKING = "backing"
MAX_CHAIN = 64


@dataclass(frozen=True)
class DiskUse:
    vm: str
    target: str | None
    device: str  # disk, cdrom, ...
    path: str | None
    pool: str | None = None
    volume: str | None = None
    backing: tuple[str, ...] = ()  # paths of the backing chain, where the VM's XML lists them


def _direct(volume: VolumeInfo, disk: DiskUse) -> bool:
    if volume.path is not None and disk.path == volume.path:
        return True
    return disk.volume is not None and disk.pool == volume.pool and disk.volume == volume.name


def with_users(volumes: list[VolumeInfo], disks: Iterable[DiskUse]) -> list[VolumeInfo]:
    """The volumes with used_by filled in (each use once, in the order found)."""
    uses: dict[int, list[VolumeUse]] = {i: [] for i in range(len(volumes))}
    by_path = {v.path: i for i, v in enumerate(volumes) if v.path}
    for disk in disks:
        for i, volume in enumerate(volumes):
            if _direct(volume, disk):
                uses[i].append(VolumeUse(vm=disk.vm, target=disk.target, role=disk.device))
                _mark_chain(volumes, by_path, i, disk, uses)
        for path in disk.backing:
            if path in by_path:
                uses[by_path[path]].append(VolumeUse(vm=disk.vm, target=disk.target, role=BACKING))
    return [v.model_copy(update={"used_by": _unique(uses[i])}) for i, v in enumerate(volumes)]


def _unique(uses: list[VolumeUse]) -> list[VolumeUse]:
    found = {(u.vm, u.target, u.role): u for u in reversed(uses)}
    return [found[key] for key in dict.fromkeys((u.vm, u.target, u.role) for u in uses)]


def _mark_chain(
    volumes: list[VolumeInfo], by_path: dict[str, int], start: int, disk: DiskUse, uses: dict[int, list[VolumeUse]]
) -> None:
    """Every listed volume below volumes[start] in its backing chain is used by `disk` as backing."""
    seen = {start}
    backing = volumes[start].backing_file
    while backing in by_path and len(seen) < MAX_CHAIN:
        i = by_path[backing]
        if i in seen:
            return  # a loop in the chain: qemu refuses to open such an image anyway
        seen.add(i)
        uses[i].append(VolumeUse(vm=disk.vm, target=disk.target, role=BACKING))
        backing = volumes[i].backing_file
