"""list_storage_pools: libvirt storage pools, or a plain-QEMU host's vm_dir and image_dir; with
`pool`, that pool's volumes and the VMs using them. One host or the whole inventory."""

from __future__ import annotations

from qemu_mcp import validation
from qemu_mcp.backends.libvirt import pools as libvirt_pools
from qemu_mcp.backends.qemu import storage as qemu_storage
from qemu_mcp.config import HostSpec
from qemu_mcp.errors import NotFound
from qemu_mcp.models import ListStoragePoolsData, StoragePoolInfo, VolumeInfo
from qemu_mcp.ops.backend import with_backend
from qemu_mcp.ops.fleet_core import FleetCore, HostRef, across_hosts

Found = tuple[list[StoragePoolInfo], list[VolumeInfo]]


async def _pools(fleet: FleetCore, spec: HostSpec) -> Found:
    pools = await with_backend(
        fleet,
        spec,
        lambda runner: libvirt_pools.list_pools(runner, spec),
        lambda runner: qemu_storage.list_dirs(runner, spec),
    )
    return pools, []


async def _pool(fleet: FleetCore, spec: HostSpec, name: str, *, required: bool) -> Found:
    """One pool and its volumes; a host without it answers nothing unless it was asked for by name."""
    try:
        pool, volumes = await with_backend(
            fleet,
            spec,
            lambda runner: libvirt_pools.describe_pool(runner, spec, name),
            lambda runner: qemu_storage.describe_dir(runner, spec, name),
        )
    except NotFound:
        if required:
            raise
        return [], []
    return [pool], volumes


async def list_storage_pools(
    fleet: FleetCore, ref: HostRef | None = None, pool: str | None = None
) -> ListStoragePoolsData:
    """Pools of one host (ref.host given) or of every inventory host concurrently; with `pool`, the
    pool of that exact name (on every host that has one) with its volumes."""
    if pool is not None:
        validation.pool_name(pool)
    one_host = bool(ref and (ref.host or ref.has_ssh_args))
    specs, answers, errors = await across_hosts(
        fleet,
        ref,
        lambda s: _pools(fleet, s) if pool is None else _pool(fleet, s, pool, required=one_host),
        "listing its storage pools",
    )
    pools = [p for _, (found, _) in answers for p in found]
    hosts = ", ".join(s.name for s in specs)
    if pool is not None and not pools and not errors:
        raise NotFound(f"no host of {hosts} has a storage pool named '{pool}'; list_storage_pools without `pool` "
                       "shows the names that exist")  # fmt: skip
    volumes = None if pool is None else [v for _, (_, found) in answers for v in found]
    return ListStoragePoolsData(host=hosts, pool_count=len(pools), pools=pools, volumes=volumes, errors=errors)
