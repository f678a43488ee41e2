"""The libvirt read path: list VMs and describe one, each in one SSH round trip."""

from __future__ import annotations

from qemu_mcp.backends.libvirt import addresses, host_addresses, listing, metadata, target, virsh
from qemu_mcp.backends.libvirt.errors import NOT_FOUND_MARKS, check_batch, error_lines
from qemu_mcp.backends.libvirt.states import vm_status
from qemu_mcp.config import HostSpec
from qemu_mcp.errors import NotFound
from qemu_mcp.models import DiskInfo, VmDetail, VmInfo
from qemu_mcp.parsers.domain_xml import DomainDefinition, parse_domain_xml
from qemu_mcp.parsers.dominfo import flag, parse_dominfo
from qemu_mcp.parsers.domstats import block_devices, cpu_time_ns, domstat_int, parse_domstats, state_name
from qemu_mcp.parsers.sections import marked_sections, new_marker, split_sections
from qemu_mcp.parsers.virsh_list import parse_name_lines
from qemu_mcp.transport.base import Runner


async def list_domains(runner: Runner, spec: HostSpec) -> list[VmInfo]:
    """Every domain on the host, in one round trip (see qemu_mcp.backends.libvirt.listing)."""
    marker = new_marker()
    result = await runner.run(listing.list_all_domains(spec.libvirt_uri, marker), read_only=True)
    if not result.stdout.strip() or (result.exit_status != 0 and marker not in result.stdout):
        check_batch(result, spec, "listing domains")
        return []  # no output and no error: no domains
    head = marked_sections(result.stdout, marker)[0]
    uuids = [u for u in parse_name_lines(head) if u.strip()]
    sections = split_sections(result.stdout, marker, listing.FIXED_SECTIONS + len(uuids))
    _uuids, autostart_s, persistent_s, stats_s = sections[: listing.FIXED_SECTIONS]
    if not stats_s.strip() and error_lines(result):
        check_batch(result, spec, "listing domains")
    autostart, persistent = set(parse_name_lines(autostart_s)), set(parse_name_lines(persistent_s))
    stats = parse_domstats(stats_s)
    vms: list[VmInfo] = []
    for uuid, xml in zip(uuids, sections[listing.FIXED_SECTIONS :], strict=True):
        if not xml.strip():
            continue  # undefined between the two virsh processes
        d = parse_domain_xml(xml)
        vm = build_vm(spec.name, d, stats.get(d.name, {}), autostart=uuid in autostart, persistent=uuid in persistent)
        vms.append(_with_create_note(addresses.with_access(spec, vm, xml), xml))
    if host_addresses.worth_asking(vms):  # leases + neighbours, once per host (never per VM)
        host_addresses.attach(vms, await host_addresses.host_addresses(runner, spec.libvirt_uri, marker))
    return vms


async def describe_domain(runner: Runner, spec: HostSpec, name: str) -> VmDetail:
    """The domain named exactly `name` (never an id or UUID) with its XML, in one round trip."""
    marker = new_marker()
    slot = virsh.UUID_SLOT
    commands = [virsh.dumpxml(slot), virsh.domstats(slot), virsh.dominfo(slot), *addresses.domifaddr_commands(slot)]
    result = await runner.run(target.by_name(spec.libvirt_uri, name, commands, marker), read_only=True)
    _uuid, out = target.split_uuid(result.stdout)
    xml, stats_s, info_s, *addr_s = split_sections(out, marker, len(commands))
    if not xml.strip():
        if any(m in result.stderr for m in NOT_FOUND_MARKS):
            raise NotFound(
                f"domain '{name}' not found on host '{spec.name}' (virsh: {' '.join(error_lines(result))}); "
                "list_vms shows the names that exist"
            )
        check_batch(result, spec, f"reading domain '{name}'")
    d = parse_domain_xml(xml)
    info = parse_dominfo(info_s)
    vm = build_vm(
        spec.name,
        d,
        parse_domstats(stats_s).get(d.name, {}),
        autostart=flag(info, "autostart"),
        persistent=flag(info, "persistent"),
    )
    vm = _with_create_note(addresses.with_access(spec, vm, xml), xml)
    if vm.status == "running":
        vm.addresses, notes = addresses.parse_sources(addr_s, result.stderr)
        vm.notes += notes
    return VmDetail(**vm.model_dump(), xml=xml.strip())


def _with_create_note(vm: VmInfo, xml: str) -> VmInfo:
    """A domain whose create never finished (its metadata still says so) carries a note."""
    if metadata.create_state(xml) == metadata.CREATING:
        vm.notes.append(metadata.unfinished_note(vm.name))
    return vm


def build_vm(
    host: str, d: DomainDefinition, stats: dict[str, str], *, autostart: bool | None, persistent: bool | None
) -> VmInfo:
    code = domstat_int(stats, "state.state")
    state = state_name(code) if code is not None else "unknown"
    status = vm_status(state)
    sizes = {b.get("name"): b for b in block_devices(stats)}
    disks = [_with_sizes(disk, sizes.get(disk.target), running=status != "stopped") for disk in d.disks]
    vcpus = domstat_int(stats, "vcpu.current") or d.vcpus or 0
    return VmInfo(
        name=d.name,
        uuid=d.uuid or "",
        host=host,
        status=status,
        state=state,
        arch=d.arch,
        machine=d.machine,
        domain_type=d.domain_type,
        vcpus=vcpus,
        max_vcpus=d.max_vcpus,
        memory=d.memory_mib or d.max_memory_mib or 0,
        max_memory=d.max_memory_mib,
        disks=disks,
        nics=d.nics,
        graphics=d.graphics,
        autostart=autostart,
        persistent=persistent,
        cpu_time_ns=cpu_time_ns(stats),
    )


def _with_sizes(disk: DiskInfo, block: dict | None, *, running: bool) -> DiskInfo:
    if not block:
        return disk
    # libvirt's block.N.allocation is the highest written offset while the guest runs, and the
    # host allocation when it is shut off; `physical` is the host-side size while it runs.
    host_bytes = block.get("physical") if running else block.get("allocation")
    capacity = _int(block.get("capacity"))
    allocation = _int(host_bytes)
    return disk.model_copy(
        update={
            "capacity_bytes": disk.capacity_bytes if capacity is None else capacity,
            "allocation_bytes": disk.allocation_bytes if allocation is None else allocation,
        }
    )


def _int(value: object) -> int | None:
    if isinstance(value, int):
        return value
    try:
        return int(str(value))
    except (TypeError, ValueError):
        return None
