"""The libvirt read path: list VMs and describe one, on the host's virsh sessions
(session_read.py) or, when there is none to use, each in one SSH round trip."""

from __future__ import annotations

from qemu_mcp.backends.libvirt import addresses, host_addresses, listing, metadata, session_read, target, virsh
from qemu_mcp.backends.libvirt.errors import NOT_FOUND_MARKS, check_batch, error_lines
from qemu_mcp.backends.libvirt.session import SessionUnavailable, VirshSessions
from qemu_mcp.backends.libvirt.states import vm_status
from qemu_mcp.config import HostSpec
from qemu_mcp.errors import NotFound
from qemu_mcp.models import DiskInfo, VmDetail, VmInfo
from qemu_mcp.models_addresses import AddressInfo
from qemu_mcp.parsers.domain_xml import DomainDefinition, domain_definition, domain_root
from qemu_mcp.parsers.dominfo import flag, parse_dominfo
from qemu_mcp.parsers.domstats import block_devices, cpu_time_ns, domstat_int, parse_domstats, state_name
from qemu_mcp.parsers.sections import marked_sections, new_marker, split_sections, tagged_sections
from qemu_mcp.parsers.virsh_list import parse_name_lines
from qemu_mcp.transport.base import Runner


async def list_domains(runner: Runner, spec: HostSpec, sessions: VirshSessions | None = None) -> list[VmInfo]:
    """Every domain on the host: on a virsh session (one batch when warm) or in one round trip.
    Whatever a session could not answer cleanly (ValueError: a document that does not parse) is
    asked again one-shot, whose answer and errors are the ones users know. Listings of one host
    that overlap share a run (never one that started before them)."""
    if sessions is None:
        return await _listed_one_shot(runner, spec)
    vms: list[VmInfo] = await sessions.listing(lambda: _list_on_sessions(runner, spec, sessions))
    return list(vms)


async def _list_on_sessions(runner: Runner, spec: HostSpec, sessions: VirshSessions) -> list[VmInfo]:
    """Run once for every listing of the host that arrived meanwhile (VirshSessions.listing)."""
    try:
        vms = _vms(spec, await session_read.list_all(sessions, spec), sessions.parsed)
    except (SessionUnavailable, ValueError):
        return await _listed_one_shot(runner, spec)
    sessions.uuids = {vm.name: vm.uuid for vm in vms}
    return await _with_host_addresses(runner, spec, vms)


async def _listed_one_shot(runner: Runner, spec: HostSpec) -> list[VmInfo]:
    listing = await _list_one_shot(runner, spec)
    return await _with_host_addresses(runner, spec, _vms(spec, listing), listing.addresses)


async def _with_host_addresses(
    runner: Runner, spec: HostSpec, vms: list[VmInfo], found: list[AddressInfo] | None = None
) -> list[VmInfo]:
    """DHCP leases + neighbours, once per host (never per VM), when a running VM can have any:
    `found` when the listing brought them (one-shot), else asked now in a command of their own."""
    if host_addresses.worth_asking(vms):
        if found is None:
            found = await host_addresses.host_addresses(runner, spec.libvirt_uri, new_marker())
        host_addresses.attach(vms, found)
    return vms


Parsed = tuple[str, DomainDefinition, bool]  # a domain's XML, its definition, whether its create never finished


def _vms(spec: HostSpec, listing: session_read.Listing, parsed: dict[str, Parsed] | None = None) -> list[VmInfo]:
    """`parsed`: what an earlier listing of the host parsed, by UUID; XML identical to the text
    parsed then is not parsed again (a warm listing parses only what changed). Updated in place."""
    stats = listing.stats
    vms: list[VmInfo] = []
    seen: dict[str, Parsed] = {}
    for uuid in listing.uuids:
        xml = listing.xml.get(uuid, "")
        if not xml.strip():
            continue  # undefined between the listing and its dumpxml
        hit = parsed.get(uuid) if parsed is not None else None
        if hit is None or hit[0] != xml:
            root = domain_root(xml)
            hit = (xml, domain_definition(root), metadata.create_state(root) == metadata.CREATING)
        seen[uuid] = hit
        _xml, d, creating = hit
        vm = build_vm(spec.name, d, stats.get(d.name, {}),
                      autostart=uuid in listing.autostart, persistent=uuid in listing.persistent)  # fmt: skip
        vms.append(_with_create_note(addresses.with_access(spec, vm, xml), creating))
    if parsed is not None:
        parsed.clear()
        parsed.update(seen)
    return vms


async def _list_one_shot(runner: Runner, spec: HostSpec) -> session_read.Listing:
    """One round trip (see qemu_mcp.backends.libvirt.listing)."""
    marker = new_marker()
    result = await runner.run(listing.list_all_domains(spec.libvirt_uri, marker), read_only=True)
    if not result.stdout.strip() or (result.exit_status != 0 and marker not in result.stdout):
        check_batch(result, spec, "listing domains")
        return session_read.Listing([], set(), set(), {})  # no output and no error: no domains
    head = marked_sections(result.stdout, marker)[0]
    uuids = [u for u in parse_name_lines(head) if u.strip()]
    sections = split_sections(result.stdout, marker, listing.FIXED_SECTIONS + len(uuids))
    stats = sections[listing.DOMSTATS]
    if not stats.strip() and error_lines(result):
        check_batch(result, spec, "listing domains")
    leases = [s.text for s in tagged_sections(sections[listing.LEASES], marker) if s.tag == "leases"]
    return session_read.Listing(
        uuids,
        set(parse_name_lines(sections[listing.AUTOSTART])),
        set(parse_name_lines(sections[listing.PERSISTENT])),
        parse_domstats(stats),
        dict(zip(uuids, sections[listing.FIXED_SECTIONS :], strict=True)),
        host_addresses.addresses_from(leases, [sections[listing.NEIGHBOURS]]),
    )


async def describe_domain(runner: Runner, spec: HostSpec, name: str, sessions: VirshSessions | None = None) -> VmDetail:
    """The domain named exactly `name` (never an id or UUID) with its XML: on a virsh session, or in
    one round trip (also when the session's answer is not clean, as for list_domains)."""
    if sessions is not None:
        try:
            reads = await session_read.describe(sessions, spec, name)
            return await _with_guest_addresses(runner, spec, _detail(spec, reads), sessions)
        except (SessionUnavailable, ValueError):
            pass
    return await _with_guest_addresses(runner, spec, _detail(spec, await _describe_one_shot(runner, spec, name)), None)


async def _with_guest_addresses(
    runner: Runner, spec: HostSpec, vm: VmDetail, sessions: VirshSessions | None
) -> VmDetail:
    """A running domain's addresses from the guest agent, DHCP leases and ARP (`virsh domifaddr`),
    on the session when there is one, else in one round trip."""
    if vm.status != "running":
        return vm
    if sessions is not None:
        try:
            outputs = await sessions.run(addresses.domifaddr_commands(vm.uuid), spec.command_timeout)
            errors = "\n".join(e for o in outputs for e in o.errors)
            vm.addresses, notes = addresses.parse_sources([o.text for o in outputs], errors)
            vm.notes += notes
            return vm
        except SessionUnavailable:
            pass
    vm.addresses, notes = await addresses.guest_addresses(runner, spec, vm.uuid)
    vm.notes += notes
    return vm


def _detail(spec: HostSpec, reads: session_read.DomainReads) -> VmDetail:
    root = domain_root(reads.xml)
    d = domain_definition(root)
    info = parse_dominfo(reads.info)
    vm = build_vm(
        spec.name,
        d,
        parse_domstats(reads.stats).get(d.name, {}),
        autostart=flag(info, "autostart"),
        persistent=flag(info, "persistent"),
    )
    creating = metadata.create_state(root) == metadata.CREATING
    vm = _with_create_note(addresses.with_access(spec, vm, reads.xml), creating)
    return VmDetail(**vm.model_dump(), xml=reads.xml.strip())


async def _describe_one_shot(runner: Runner, spec: HostSpec, name: str) -> session_read.DomainReads:
    marker = new_marker()
    slot = virsh.UUID_SLOT
    argv = target.by_name(
        spec.libvirt_uri, name, [virsh.dumpxml(slot), virsh.domstats(slot), virsh.dominfo(slot)], marker
    )
    result = await runner.run(argv, read_only=True)
    uuid, out = target.split_uuid(result.stdout)
    xml, stats_s, info_s = split_sections(out, marker, 3)
    if not xml.strip():
        if any(m in result.stderr for m in NOT_FOUND_MARKS):
            raise NotFound(
                f"domain '{name}' not found on host '{spec.name}' (virsh: {' '.join(error_lines(result))}); "
                "list_vms shows the names that exist"
            )
        check_batch(result, spec, f"reading domain '{name}'")
    return session_read.DomainReads(uuid or "", xml, stats_s, info_s)


def _with_create_note(vm: VmInfo, creating: bool) -> VmInfo:
    """A domain whose create never finished (its metadata still says so) carries a note."""
    if creating:
        vm.notes.append(metadata.unfinished_note(vm.name))
    return vm


def build_vm(
    host: str, d: DomainDefinition, stats: dict[str, str], *, autostart: bool | None, persistent: bool | None
) -> VmInfo:
    code = domstat_int(stats, "state.state")
    state = state_name(code) if code is not None else "unknown"
    status = vm_status(state)
    sizes = {b.get("name"): b for b in block_devices(stats)}
    # Copies: `d` may be a cached parse, reused by the next listing (_vms); results are the caller's.
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
        nics=[n.model_copy() for n in d.nics],
        graphics=[g.model_copy() for g in d.graphics],
        autostart=autostart,
        persistent=persistent,
        cpu_time_ns=cpu_time_ns(stats),
    )


def _with_sizes(disk: DiskInfo, block: dict | None, *, running: bool) -> DiskInfo:
    if not block:
        return disk.model_copy()
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
