from __future__ import annotations

import pytest

from qemu_mcp.parsers.domstats import (
    block_devices,
    cpu_time_ns,
    domstat_int,
    net_devices,
    parse_domstats,
    state_name,
)

# Shape of a running guest with a tap NIC (keys as libvirt documents them for net.N.*).
RUNNING = """\
Domain: 'web 1'
  state.state=1
  state.reason=1
  cpu.time=123456789
  net.count=1
  net.0.name=vnet0
  net.0.rx.bytes=1042
  net.0.rx.pkts=12
  net.0.tx.bytes=900
  block.count=2
  block.0.name=vda
  block.0.path=/var/lib/libvirt/images/web=1.qcow2
  block.0.capacity=1073741824
  block.1.name=sda
  block.1.rd.reqs=3

Domain: 'it's a "vm"; x'
  state.state=5
  state.reason=0
  cpu.time=500000000
"""


def test_parse_blocks_and_odd_names() -> None:
    stats = parse_domstats(RUNNING)
    assert list(stats) == ["web 1", 'it\'s a "vm"; x']
    assert stats["web 1"]["cpu.time"] == "123456789"
    # Only the first '=' splits: values may contain '='.
    assert stats["web 1"]["block.0.path"] == "/var/lib/libvirt/images/web=1.qcow2"


def test_name_with_trailing_quote_and_leading_space() -> None:
    stats = parse_domstats("Domain: ' x''\n  state.state=5\n\nDomain: ''\n  state.state=1\n")
    assert stats == {" x'": {"state.state": "5"}, "": {"state.state": "1"}}


def test_empty_and_crlf() -> None:
    assert parse_domstats("") == {}
    assert parse_domstats("\n\n") == {}
    assert parse_domstats("Domain: 'a'\r\n  k=v\r\n") == {"a": {"k": "v"}}


@pytest.mark.parametrize("text", ["  state.state=1\n", "Domain: 'a'\n  novalue\n", "Domain: 'a'\ngarbage=1\n"])
def test_garbage_raises(text: str) -> None:
    with pytest.raises(ValueError, match="unexpected line"):
        parse_domstats(text)


def test_domstat_int() -> None:
    stats = {"a": "12", "b": "page-sampling", "c": "-1"}
    assert domstat_int(stats, "a") == 12
    assert domstat_int(stats, "c") == -1
    assert domstat_int(stats, "b") is None
    assert domstat_int(stats, "missing") is None


def test_block_and_net_devices() -> None:
    stats = parse_domstats(RUNNING)["web 1"]
    assert block_devices(stats) == [
        {"name": "vda", "path": "/var/lib/libvirt/images/web=1.qcow2", "capacity": 1073741824},
        {"name": "sda", "rd.reqs": 3},
    ]
    assert net_devices(stats) == [{"name": "vnet0", "rx.bytes": 1042, "rx.pkts": 12, "tx.bytes": 900}]


def test_devices_follow_count() -> None:
    # A NIC without host-side stats (user-mode) still counts; keys past .count are ignored;
    # a numeric-looking name stays a string.
    stats = {"net.count": "2", "net.1.name": "123", "net.5.rx.bytes": "9", "block.count": "x"}
    assert net_devices(stats) == [{}, {"name": "123"}]
    assert block_devices(stats) == []
    assert block_devices({}) == []


@pytest.mark.parametrize(
    ("code", "word"),
    [(0, "no state"), (1, "running"), (2, "idle"), (3, "paused"), (4, "in shutdown"),
     (5, "shut off"), (6, "crashed"), (7, "pmsuspended"), (99, "no state")],
)  # fmt: skip
def test_state_name(code: int, word: str) -> None:
    assert state_name(code) == word


def test_cpu_time_ignored_when_shut_off() -> None:
    stats = parse_domstats(RUNNING)
    assert cpu_time_ns(stats["web 1"]) == 123456789
    assert cpu_time_ns(stats['it\'s a "vm"; x']) is None
    assert cpu_time_ns({"state.state": "1"}) is None
