"""The libvirt read path's commands on the host's virsh sessions (backends/libvirt/session.py).

Same commands, same parsers, same exact targeting as the one-shot path (read.py, target.py,
sampler.py): a name becomes a UUID only by exact comparison with `list --all --uuid --name`, or
from the pool's name -> UUID hint when the domain's own stats, read by that UUID, carry that very
name. Anything unexpected raises SessionUnavailable and the caller runs the one-shot command, whose
errors are the ones users know.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Sequence
from dataclasses import dataclass, field

from qemu_mcp import validation
from qemu_mcp.backends.libvirt import target, virsh
from qemu_mcp.backends.libvirt.errors import NOT_FOUND_MARKS
from qemu_mcp.backends.libvirt.session import Chain, Command, SessionUnavailable, VirshSessions
from qemu_mcp.config import HostSpec
from qemu_mcp.errors import NotFound
from qemu_mcp.models_addresses import AddressInfo
from qemu_mcp.parsers.domstats import parse_domstats
from qemu_mcp.parsers.virsh_list import parse_name_lines
from qemu_mcp.parsers.virsh_session import CommandOutput, Garbled, xml_documents

LISTING = 4  # list --uuid, --autostart, --persistent, domstats; then one dumpxml per known UUID


@dataclass
class Listing:
    """Every domain as virsh printed it: UUIDs in `list` order, domain XML by UUID; the host's
    leases and neighbours when the listing asked for them too (the one-shot script does)."""

    uuids: list[str]
    autostart: set[str]
    persistent: set[str]
    stats: dict[str, dict[str, str]]  # parse_domstats: domain name -> its stats
    xml: dict[str, str] = field(default_factory=dict)
    addresses: list[AddressInfo] | None = None  # None: not asked


async def list_all(sessions: VirshSessions, spec: HostSpec) -> Listing:
    """The domains of the last listing are read in one go: the fixed commands and the XML the
    cache has not kept (xml_cache.py), that XML shared out over the pool's sessions side by side
    (VirshSessions.split); then the XML of domains new since, or whose kept XML domstats shows
    changed. A cold pool: the fixed commands, then the XML."""
    timeout, cache = spec.command_timeout, sessions.xml_cache
    ticket = cache.ticket()
    known = sessions.split([u for u in sessions.listed_uuids if not cache.fresh(u)])
    fixed: list[Command] = [
        virsh.list_uuids(), virsh.list_uuids("--autostart"), virsh.list_uuids("--persistent"), virsh.domstats_all(),
    ]  # fmt: skip
    first, *others = await sessions.run_many(
        [fixed + [xml_chain(part) for part in known[:1]], *([xml_chain(part)] for part in known[1:])], timeout
    )
    failed = [e for o in first[:LISTING] for e in o.errors]
    if failed:
        raise SessionUnavailable(" ".join(failed))
    uuids = [u for u in parse_name_lines(first[0].text) if validation.CANONICAL_UUID.fullmatch(u)]
    stats = parse_domstats(first[3].text)
    listing = Listing(uuids, uuid_set(first[1]), uuid_set(first[2]), stats)
    for part, outputs in zip(known, [first[LISTING:], *others] if known else [], strict=True):
        listing.xml.update(xml_by_uuid(outputs[0], part))
    cache.keep(ticket, listing.xml, stats)
    await asyncio.sleep(0)  # events already received are seen before kept XML is reused
    for uuid in uuids:
        kept = None if uuid in listing.xml else cache.reuse(uuid, stats)
        if kept is not None:
            listing.xml[uuid] = kept
    await _read_missing(sessions, listing, timeout)
    cache.retain(uuids)
    sessions.listed_uuids = uuids
    return listing


async def _read_missing(sessions: VirshSessions, listing: Listing, timeout: float) -> None:
    """The XML of listed domains the first batch did not read and the cache did not have."""
    new = sessions.split([u for u in listing.uuids if u not in listing.xml])
    if not new:
        return
    ticket = sessions.xml_cache.ticket()
    more = await sessions.run_many([[xml_chain(part)] for part in new], timeout)
    read: dict[str, str] = {}
    for part, outputs in zip(new, more, strict=True):
        read.update(xml_by_uuid(outputs[0], part))
    sessions.xml_cache.keep(ticket, read, listing.stats)
    listing.xml.update(read)


def xml_chain(uuids: Sequence[str]) -> Chain:
    """dumpxml of each domain, back to back (positional UUID: a shorter batch line)."""
    return Chain([["dumpxml", validation.domain_uuid(u)] for u in uuids])


UUID_LINE = re.compile(r"^  <uuid>([0-9a-f-]{36})</uuid>$", re.MULTILINE)  # the root's own, two spaces in


def xml_by_uuid(output: CommandOutput, asked: Sequence[str]) -> dict[str, str]:
    """The documents of an xml_chain by their own UUID; a domain that is gone has none."""
    try:
        documents, _gone = xml_documents(output.text + "".join(f"{e}\n" for e in output.errors), "domain")
    except Garbled as e:
        raise SessionUnavailable(str(e)) from None
    found: dict[str, str] = {}
    wanted = set(asked)
    for doc in documents:
        match = UUID_LINE.search(doc)
        uuid = match.group(1) if match else None
        if uuid not in wanted or uuid in found:
            raise SessionUnavailable(f"dumpxml printed a document for {uuid!r}, which was not asked for once")
        found[uuid] = doc
    return found


def uuid_set(output: CommandOutput) -> set[str]:
    return set(parse_name_lines(output.text))


@dataclass(frozen=True)
class DomainReads:
    """What get_vm_info reads of one domain: its XML, domstats and dominfo output."""

    uuid: str
    xml: str
    stats: str
    info: str


async def describe(sessions: VirshSessions, spec: HostSpec, name: str) -> DomainReads:
    """The domain named exactly `name`; NotFound when no domain has that name."""
    hinted = sessions.uuids.get(name)
    if hinted is not None:
        reads = await _read_domain(sessions, spec, hinted)
        if reads is not None and name in parse_domstats(reads.stats):
            return reads
        sessions.uuids.pop(name, None)
    uuid = await resolve(sessions, spec, name, spec.command_timeout)
    if uuid is None:
        raise NotFound(
            f"domain '{name}' not found on host '{spec.name}' (virsh: {target.not_found_line(name)}); "
            "list_vms shows the names that exist"
        )
    reads = await _read_domain(sessions, spec, uuid)
    if reads is None or name not in parse_domstats(reads.stats):
        raise SessionUnavailable(f"domain '{name}' changed while it was read")
    sessions.uuids[name] = uuid
    return reads


async def _read_domain(sessions: VirshSessions, spec: HostSpec, uuid: str) -> DomainReads | None:
    """None when a command failed (the domain is gone, say)."""
    outputs = await sessions.run([virsh.dumpxml(uuid), virsh.domstats(uuid), virsh.dominfo(uuid)], spec.command_timeout)
    if not all(o.ok for o in outputs):
        return None
    xml, stats, info = (o.text for o in outputs)
    return DomainReads(uuid, xml, stats, info)


async def resolve(sessions: VirshSessions, spec: HostSpec, name: str, timeout: float) -> str | None:
    """The UUID of the domain named exactly `name`, or None (target.BY_NAME_SCRIPT's rule)."""
    (listed,) = await sessions.run([virsh.list_uuids("--name")], timeout)
    if not listed.ok:
        raise SessionUnavailable(" ".join(listed.errors))
    for line in listed.text.splitlines():
        uuid, space, rest = line.partition(" ")
        if space and rest == name:
            if not validation.CANONICAL_UUID.fullmatch(uuid):
                raise SessionUnavailable("virsh list printed an unexpected UUID")
            return uuid
    return None


@dataclass(frozen=True)
class Sample:
    """One monitor reading: the domain's name and domstats (None: it is gone), its domid output."""

    uuid: str
    stats: dict[str, str] | None
    name: str = ""
    domid: str = ""


async def sample(
    sessions: VirshSessions, spec: HostSpec, name: str, uuid: str | None, metrics: Sequence[str], timeout: float
) -> Sample | None:
    """A reading of the domain `uuid`, or (uuid None) of the one named exactly `name`, first
    tried with the pool's hint. None: no domain has that name."""
    hinted = uuid is None and sessions.uuids.get(name)
    if hinted:
        found = await _stats(sessions, hinted, metrics, timeout)
        if found.stats is not None and found.name == name:
            return found
    if uuid is None:
        uuid = await resolve(sessions, spec, name, timeout)
        if uuid is None:
            return None
        sessions.uuids[name] = uuid
    return await _stats(sessions, uuid, metrics, timeout)


async def _stats(sessions: VirshSessions, uuid: str, metrics: Sequence[str], timeout: float) -> Sample:
    stats, domid = await sessions.run([virsh.domstats_groups(uuid, metrics), virsh.domid(uuid)], timeout)
    if not stats.ok:
        if any(m in e for e in stats.errors for m in NOT_FOUND_MARKS):
            return Sample(uuid, None)
        raise SessionUnavailable(" ".join(stats.errors))
    domains = parse_domstats(stats.text)
    if len(domains) != 1:
        raise SessionUnavailable(f"virsh domstats printed {len(domains)} domains instead of one")
    ((domain, values),) = domains.items()
    return Sample(uuid, values, domain, domid.text)
