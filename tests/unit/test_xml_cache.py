"""The XML cache's rules (backends/libvirt/xml_cache.py) with a stand-in for the event watch and
clock; the real watch and libvirtd are in tests/integration/test_xml_cache.py."""

from __future__ import annotations

from qemu_mcp.backends.libvirt.xml_cache import XmlCache, fingerprint, xml_name

U1, U2 = "11111111-1111-1111-1111-111111111111", "22222222-2222-2222-2222-222222222222"


def doc(name: str, uuid: str) -> str:
    return f"<domain type='qemu'>\n  <name>{name}</name>\n  <uuid>{uuid}</uuid>\n</domain>\n"


def stats(state: str = "5", maximum: str = "65536", **extra: str) -> dict[str, str]:
    return {"state.state": state, "state.reason": "0", "cpu.time": "1", "balloon.maximum": maximum, **extra}


class Runner:
    changes = 0


class Watch:
    """What XmlCache uses of EventWatch."""

    def __init__(self) -> None:
        self.generation, self.is_ready, self.ensured = 0, True, 0
        self.runner = Runner()

    def ensure(self) -> None:
        self.ensured += 1

    def ready(self) -> bool:
        return self.is_ready


class Clock:
    now = 100.0

    def __call__(self) -> float:
        return self.now


def cache() -> tuple[XmlCache, Watch, Clock]:
    """A cache past its host's first listing (which starts no watch)."""
    watch, clock = Watch(), Clock()
    c = XmlCache(watch, ttl=60, clock=clock)  # type: ignore[arg-type]
    c.ticket()
    return c, watch, clock


def test_the_first_listing_starts_no_watch_the_second_does() -> None:
    watch = Watch()
    c = XmlCache(watch)  # type: ignore[arg-type]
    c.ticket()
    assert watch.ensured == 0
    c.ticket()
    assert watch.ensured == 1


def kept(c: XmlCache, names: dict[str, str], stats_by_name: dict[str, dict[str, str]] | None = None) -> None:
    """Both domains read under a ticket and kept."""
    by_name = stats_by_name or {n: stats() for n in names.values()}
    c.keep(c.ticket(), {u: doc(n, u) for u, n in names.items()}, by_name)


def test_kept_xml_is_reused_while_domstats_match() -> None:
    c, watch, _ = cache()
    kept(c, {U1: "a", U2: "b"})
    assert watch.ensured == 1 and len(c) == 2 and c.fresh(U1)  # the cache() listing, then this one
    assert c.reuse(U1, {"a": stats(**{"cpu.time": "999"}), "b": stats()}) == doc("a", U1)  # CPU time: not in the XML


def test_a_change_domstats_shows_drops_the_xml() -> None:
    c, _, _ = cache()
    kept(c, {U1: "a", U2: "b"})
    assert c.reuse(U1, {"a": stats(maximum="131072")}) is None  # setmaxmem --config: no event
    assert c.reuse(U2, {"a": stats()}) is None  # b is not in the listing's domstats (renamed, gone)
    assert len(c) == 0 and not c.fresh(U1)


def test_an_event_drops_its_domain_only_and_an_unclear_line_drops_all() -> None:
    c, _, _ = cache()
    kept(c, {U1: "a", U2: "it's \"b\""})
    c.saw("event 'metadata-change' for domain 'a': type description, uri <null>\n")
    assert not c.fresh(U1) and c.fresh(U2)
    c.saw("error: Disconnected from qemu:///system due to end of file\n")
    assert len(c) == 0


def test_quoted_names_match_their_events() -> None:
    c, _, _ = cache()
    name = "it's \"b\""
    c.keep(c.ticket(), {U2: doc("it&apos;s &quot;b&quot;", U2)}, {name: stats()})
    assert xml_name(doc("it&apos;s &quot;b&quot;", U2)) == name and c.fresh(U2)
    assert xml_name(doc("a&amp;lt;b&gt;", U1)) == "a&lt;b>"
    c.saw(f"event 'lifecycle' for domain '{name}': Defined Updated\n")
    assert not c.fresh(U2)


def test_what_an_event_may_concern_is_not_kept_when_the_event_came_during_the_read() -> None:
    c, _, _ = cache()
    ticket = c.ticket()
    c.saw("event 'lifecycle' for domain 'a': Defined Updated\n")  # while the batch ran
    c.keep(ticket, {U1: doc("a", U1), U2: doc("b", U2)}, {"a": stats(), "b": stats()})
    assert not c.fresh(U1) and c.fresh(U2)
    ticket = c.ticket()
    c.saw("garbage\n")
    c.keep(ticket, {U1: doc("a", U1)}, {"a": stats()})
    assert len(c) == 0


def test_nothing_is_kept_or_trusted_without_a_ready_watch_of_the_same_generation() -> None:
    c, watch, _ = cache()
    watch.is_ready = False
    kept(c, {U1: "a"})
    assert len(c) == 0
    watch.is_ready = True
    ticket = c.ticket()
    watch.generation += 1  # the watch ended and was replaced while the batch ran
    c.keep(ticket, {U1: doc("a", U1)}, {"a": stats()})
    assert len(c) == 0
    kept(c, {U1: "a"})
    watch.is_ready = False
    assert not c.fresh(U1) and c.reuse(U1, {"a": stats()}) is None


def test_our_own_changes_to_the_host_drop_what_was_kept_and_what_was_read_meanwhile() -> None:
    c, watch, _ = cache()
    kept(c, {U1: "a"})
    watch.runner.changes += 1  # a changing command started (transport/base.counts_changes)
    assert not c.fresh(U1)
    ticket = c.ticket()
    watch.runner.changes += 1  # and ended while the listing's batch ran
    c.keep(ticket, {U1: doc("a", U1)}, {"a": stats()})
    assert not c.fresh(U1)
    kept(c, {U1: "a"})
    assert c.fresh(U1)


def test_kept_xml_expires_and_unlisted_domains_are_dropped() -> None:
    c, _, clock = cache()
    kept(c, {U1: "a", U2: "b"})
    c.retain([U2])
    assert not c.fresh(U1) and c.fresh(U2)
    clock.now += 61
    assert not c.fresh(U2)


def test_turned_off_it_keeps_nothing() -> None:
    c, watch, _ = cache()
    c.enabled = False
    kept(c, {U1: "a"})
    c.ticket()
    assert len(c) == 0 and watch.ensured == 0


def test_fingerprint_is_what_the_xml_also_says() -> None:
    s = {"state.state": "1", "cpu.time": "5", "block.count": "1", "block.0.name": "vda", "block.0.path": "/x",
         "block.0.rd.bytes": "7", "net.0.name": "vnet0", "net.0.rx.bytes": "9", "balloon.current": "1024"}  # fmt: skip
    assert fingerprint(s) == (("state.state", "1"), ("block.count", "1"), ("block.0.name", "vda"),
                              ("block.0.path", "/x"), ("net.0.name", "vnet0"), ("balloon.current", "1024"))  # fmt: skip
