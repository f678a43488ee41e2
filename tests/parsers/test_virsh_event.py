"""parse_event_line on what the captured fixture does not show (virsh-event-watch.* covers the
common lines): events with no detail, names it cannot be sure of, lines that are no events."""

from __future__ import annotations

from qemu_mcp.parsers.virsh_event import DomainEvent, parse_event_line


def test_a_generic_event_has_no_detail() -> None:
    assert parse_event_line("event 'reboot' for domain 'vm1'\n") == DomainEvent("reboot", "vm1")


def test_a_name_or_detail_with_the_separator_is_no_certain_name() -> None:
    assert parse_event_line("event 'lifecycle' for domain 'a': b': Defined Added") == DomainEvent("lifecycle", None)
    assert parse_event_line("event 'block-job' for domain 'vm") == DomainEvent("block-job", None)


def test_other_lines_are_no_events() -> None:
    for line in ("error: Disconnected from qemu:///system due to end of file", "", "events registered",
                 "event '' for domain 'a': x", "event 'it's' for domain 'a': x"):  # fmt: skip
        assert parse_event_line(line) is None
