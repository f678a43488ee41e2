"""list_storage_pools on a libvirt host: every pool, or one pool with its volumes and their users,
each in one round trip (the scripts are in backends.libvirt.scripts)."""

from __future__ import annotations

from qemu_mcp.backends.libvirt import scripts
from qemu_mcp.backends.libvirt.errors import check_batch, error_lines
from qemu_mcp.backends.volume_users import DiskUse, with_users
from qemu_mcp.config import HostSpec
from qemu_mcp.errors import CommandFailed, NotFound
from qemu_mcp.models import StoragePoolInfo, VolumeInfo
from qemu_mcp.parsers.disk_sources import parse_disk_sources
from qemu_mcp.parsers.dominfo import flag, parse_dominfo
from qemu_mcp.parsers.pool_xml import PoolDefinition, VolumeDefinition, parse_pool_xml, parse_volume_xml
from qemu_mcp.parsers.sections import Tagged, new_marker, tagged_sections
from qemu_mcp.parsers.vol_list import ListedVolume, parse_vol_list
from qemu_mcp.transport.base import CommandResult, Runner


def pool_info(host: str, info_text: str, d: PoolDefinition, volume_count: int | None) -> StoragePoolInfo:
    """One pool from its pool-info (state, autostart, persistent) and pool-dumpxml (the rest)."""
    info = parse_dominfo(info_text)
    state = info.get("state", "unknown")
    active = state != "inactive" and state != "unknown"
    return StoragePoolInfo(
        host=host,
        name=d.name,
        kind="libvirt",
        uuid=d.uuid,
        state=state,
        active=active,
        autostart=flag(info, "autostart"),
        persistent=flag(info, "persistent"),
        type=d.type,
        target_path=d.target_path,
        # An inactive pool reports 0 for all three: unknown, not empty.
        capacity_bytes=d.capacity if active else None,
        allocation_bytes=d.allocation if active else None,
        available_bytes=d.available if active else None,
        volume_count=volume_count if active else None,
    )


def pools_from(host: str, stdout: str, marker: str) -> list[StoragePoolInfo]:
    """POOLS_SCRIPT's output as pool records (pure); pools undefined while it ran are left out."""
    sections = tagged_sections(stdout, marker)
    info = {s.rest: s.text for s in sections if s.tag == "info"}
    vols = {s.rest: s.text for s in sections if s.tag == "vols" and s.text.strip()}
    pools = []
    for s in sections:
        if s.tag != "xml" or not s.text.strip():
            continue
        count = len(parse_vol_list(vols[s.rest])) if s.rest in vols else None
        pools.append(pool_info(host, info.get(s.rest, ""), parse_pool_xml(s.text), count))
    return pools


async def list_pools(runner: Runner, spec: HostSpec) -> list[StoragePoolInfo]:
    return await scripts.read_tagged(runner, spec, scripts.list_pools, pools_from, "listing storage pools")


def _volume(host: str, pool: str, listed: ListedVolume, section: Tagged | None) -> VolumeInfo:
    d: VolumeDefinition | None = None
    if section is not None and section.text.strip():
        d = parse_volume_xml(section.text)
    if d is None or d.name != listed.name:  # vol-dumpxml failed (e.g. a name virsh printed escaped)
        return VolumeInfo(host=host, pool=pool, name=listed.name, path=listed.path,
                          notes=["libvirt did not describe this volume (vol-dumpxml failed)"])  # fmt: skip
    return VolumeInfo(
        host=host,
        pool=pool,
        name=d.name,
        path=d.path or listed.path,
        type=d.type,
        format=d.format,
        capacity_bytes=d.capacity,
        allocation_bytes=d.allocation,
        backing_file=d.backing_path,
        backing_format=d.backing_format,
    )


def _disks(sections: list[Tagged]) -> list[DiskUse]:
    uses = []
    for s in sections:
        if s.tag == "domain" and s.text.strip():
            dom = parse_disk_sources(s.text)
            uses += [DiskUse(dom.name, d.target, d.device, d.path, d.pool, d.volume, d.backing) for d in dom.disks]
    return uses


def pool_from(host: str, name: str, stdout: str, marker: str) -> tuple[StoragePoolInfo, list[VolumeInfo]]:
    """POOL_SCRIPT's output (pure). The pool's XML must carry the name asked for: the pool the name
    resolved to was undefined and another defined under its UUID in between otherwise."""
    sections = tagged_sections(stdout, marker)
    by_tag = {s.tag: s for s in sections}
    xml = by_tag.get("xml")
    if xml is None or not xml.text.strip():
        raise ValueError(f"storage pool '{name}' vanished while it was read")
    d = parse_pool_xml(xml.text)
    if d.name != name and d.name.rstrip(" ") == name.rstrip(" "):
        raise NotFound(f"storage pool '{name}' not found on host '{host}' (there is '{d.name}', which differs in "
                       "trailing spaces); list_storage_pools without `pool` shows the names that exist")  # fmt: skip
    if d.name != name:
        raise ValueError(f"storage pool '{name}' changed while it was read (its UUID now names '{d.name}')")
    listed = parse_vol_list(by_tag["vols"].text) if "vols" in by_tag else []
    described = {s.rest: s for s in sections if s.tag == "vol"}
    volumes = [_volume(host, d.name, v, described.get(str(i))) for i, v in enumerate(listed, start=1)]
    pool = pool_info(host, by_tag["info"].text if "info" in by_tag else "", d, len(listed))
    if "vols-error" in by_tag:
        pool.notes.append(f"volumes not listed: {' '.join(by_tag['vols-error'].text.split())}")
    return pool, with_users(volumes, _disks(sections))


async def describe_pool(runner: Runner, spec: HostSpec, name: str) -> tuple[StoragePoolInfo, list[VolumeInfo]]:
    """The pool named exactly `name` (never a UUID) and its volumes, in one round trip."""
    marker = new_marker()
    result = await runner.run(scripts.describe_pool(spec.libvirt_uri, marker, name), read_only=True)
    if f"{marker} uuid " not in result.stdout:
        _not_found_or_failed(result, spec, name)
    try:
        return pool_from(spec.name, name, result.stdout, marker)
    except ValueError as e:
        raise CommandFailed(f"reading storage pool '{name}' on host '{spec.name}' failed: {e}; try again",
                            host=spec.name, exit_status=result.exit_status, stderr=result.stderr) from None  # fmt: skip


def _not_found_or_failed(result: CommandResult, spec: HostSpec, name: str) -> None:
    for line in error_lines(result):
        if scripts.NOT_FOUND in line:
            raise NotFound(f"storage pool '{name}' not found on host '{spec.name}'; list_storage_pools without "
                           "`pool` shows the names that exist")  # fmt: skip
        if scripts.AMBIGUOUS in line:
            raise NotFound(f"storage pool '{name}' on host '{spec.name}': {scripts.AMBIGUOUS}")
    check_batch(result, spec, f"reading storage pool '{name}'")
    raise CommandFailed(f"reading storage pool '{name}' on host '{spec.name}' printed nothing",
                        host=spec.name, exit_status=result.exit_status, stderr=result.stderr)  # fmt: skip
