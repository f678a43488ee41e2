"""Domain XML that a warm listing need not read again (virt-manager keeps its XML the same way:
until an event says the domain changed).

A domain's XML, once read, is kept while all of these hold, else it is read again:
- the host's event watch (event_watch.py) was ready when the XML was asked for, is still the
  same watch, and has reported no event for that domain (or one it could not pin to a domain)
  since the XML was asked for, nor ended;
- the domain's domstats in the listing that reuses it show the same state, vCPUs, memory and
  disks and NICs as when it was read: changes libvirt announces with no event
  (`setmaxmem --config`, `setvcpus --config`) show there;
- no command that may change the host ran through this process's runner for it since the XML
  was asked for (transport/base.counts_changes): our own changes never wait for an event;
- it is younger than XML_TTL seconds: a change that is in neither stays for that long at most.
Only listings use it; get_vm_info and every change read the domain afresh.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from qemu_mcp.backends.libvirt.event_watch import EventWatch
from qemu_mcp.parsers.virsh_event import parse_event_line

XML_TTL = 60.0
Stats = dict[str, dict[str, str]]  # parse_domstats: domain name -> its stats
Fingerprint = tuple[tuple[str, str], ...]
_STATE_KEYS = frozenset(
    ("state.state", "state.reason", "vcpu.current", "vcpu.maximum", "balloon.current", "balloon.maximum",
     "block.count", "net.count")
)  # fmt: skip
_DEVICE_KEY = re.compile(r"(?:block|net)\.\d+\.(?:name|path)")
_NAME_LINE = re.compile(r"^  <name>(.*)</name>$", re.MULTILINE)  # the root's own, two spaces in
# libvirt escapes these five in a name (virBufferEscapeString); &amp; last, so "&amp;lt;" stays "&lt;".
# (Not xml.sax.saxutils: it imports urllib.request, 5 ms of every CLI command's start.)
_ENTITIES = (("&lt;", "<"), ("&gt;", ">"), ("&apos;", "'"), ("&quot;", '"'), ("&amp;", "&"))


def fingerprint(stats: dict[str, str]) -> Fingerprint:
    """What of a domain's domstats its XML also says: when it changes, so did the XML."""
    return tuple((k, v) for k, v in stats.items() if k in _STATE_KEYS or _DEVICE_KEY.fullmatch(k))


def xml_name(xml: str) -> str | None:
    match = _NAME_LINE.search(xml)
    if match is None:
        return None
    name = match.group(1)
    for entity, char in _ENTITIES:
        name = name.replace(entity, char)
    return name


@dataclass(frozen=True)
class Ticket:
    """The cache's state when a batch was sent: what the batch read may be kept only if no
    event since could concern it."""

    seq: int
    generation: int
    trusted: bool
    changes: int


@dataclass(frozen=True)
class _Entry:
    xml: str
    name: str
    fingerprint: Fingerprint
    kept_at: float
    changes: int


class XmlCache:
    def __init__(self, watch: EventWatch, ttl: float = XML_TTL, clock: Callable[[], float] = time.monotonic):
        self.watch, self.ttl, self.clock = watch, ttl, clock
        watch.on_line, watch.on_end = self.saw, self.forget
        self._entries: dict[str, _Entry] = {}  # by UUID
        self._seq = 0  # events seen
        self._touched: dict[str, int] = {}  # domain name -> seq of its last event
        self._all_since = 0  # seq of the last event that may concern any domain
        self.enabled = True  # False: every listing reads every domain's XML (scripts/bench.py compares)
        self._tickets = 0

    def ticket(self) -> Ticket:
        """Taken before a listing's batch is sent. From the host's second listing on, it starts the
        watch when it is not running: a process that lists a host once (the CLI) starts none."""
        if not self.enabled:
            return Ticket(self._seq, self.watch.generation, False, self._changes())
        self._tickets += 1
        if self._tickets > 1:
            self.watch.ensure()
        return Ticket(self._seq, self.watch.generation, self.watch.ready(), self._changes())

    def _changes(self) -> int:
        return self.watch.runner.changes

    def fresh(self, uuid: str) -> bool:
        """Worth not asking for: kept, young enough, the watch still on (domstats decide after)."""
        entry = self._entries.get(uuid)
        return (
            self.enabled
            and entry is not None
            and self.clock() - entry.kept_at < self.ttl
            and entry.changes == self._changes()
            and self.watch.ready()
        )

    def reuse(self, uuid: str, stats: Stats) -> str | None:
        """The kept XML of `uuid` when the listing's domstats still match it; else it is dropped."""
        entry = self._entries.get(uuid)
        if entry is None:
            return None
        found = stats.get(entry.name)
        if self.fresh(uuid) and found is not None and fingerprint(found) == entry.fingerprint:
            return entry.xml
        del self._entries[uuid]
        return None

    def keep(self, ticket: Ticket, xml_by_uuid: dict[str, str], stats: Stats) -> None:
        """Keep what a batch sent under `ticket` read, unless an event since may concern it."""
        if not ticket.trusted or ticket.generation != self.watch.generation or not self.watch.ready():
            return
        if self._all_since > ticket.seq or ticket.changes != self._changes():
            return
        now = self.clock()
        for uuid, xml in xml_by_uuid.items():
            name = xml_name(xml)
            if name is None or name not in stats or self._touched.get(name, 0) > ticket.seq:
                continue
            self._entries[uuid] = _Entry(xml, name, fingerprint(stats[name]), now, ticket.changes)

    def retain(self, uuids: Iterable[str]) -> None:
        """Drop what belongs to domains that are no longer listed."""
        listed = set(uuids)
        for uuid in [u for u in self._entries if u not in listed]:
            del self._entries[uuid]

    def saw(self, line: str) -> None:
        """A line of the event watch: drop what it may concern."""
        self._seq += 1
        event = parse_event_line(line)
        if event is None or event.domain is None:
            self.forget()
            return
        self._touched[event.domain] = self._seq
        for uuid in [u for u, e in self._entries.items() if e.name == event.domain]:
            del self._entries[uuid]
        if len(self._touched) > 4 * len(self._entries) + 256:  # bounded: forget names, distrust batches in flight
            self._touched.clear()
            self._all_since = self._seq

    async def close(self) -> None:
        await self.watch.close()

    def forget(self) -> None:
        self._entries.clear()
        self._all_since = self._seq

    def __len__(self) -> int:
        return len(self._entries)
