"""iostat JSON and /proc/diskstats parsers, over the captured hostio fixtures and edge cases."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from qemu_mcp.host.iostat import MARK
from qemu_mcp.ops.host_io import diskstats_rates, parse_host_io
from qemu_mcp.parsers.diskstats import parse_diskstats
from qemu_mcp.parsers.iostat import parse_iostat
from qemu_mcp.parsers.sections import split_sections

from .fixture_views import FIXTURES

DIRS = sorted(d for d in FIXTURES.iterdir() if d.is_dir())


@pytest.mark.parametrize("d", DIRS, ids=[d.name for d in DIRS])
def test_iostat_fixture_keeps_iostats_numbers(d: Path) -> None:
    text = (d / "hostio-iostat.host.txt").read_text()
    raw = json.loads(text)["sysstat"]["hosts"][0]["statistics"][-1]["disk"]
    devices = parse_iostat(text)
    assert [x.device for x in devices] == [r["disk_device"] for r in raw]
    for dev, r in zip(devices, raw, strict=True):
        assert dev.reads_per_s == r["r/s"] and dev.writes_per_s == r["w/s"]
        assert dev.read_bytes_per_s == r["rkB/s"] * 1024 and dev.write_bytes_per_s == r["wkB/s"] * 1024
        assert dev.util_percent == r["util"] and dev.queue_size == r["aqu-sz"]
    # The capture wrote and read 32 MiB with direct I/O while iostat measured.
    assert sum(x.write_bytes_per_s for x in devices) > 16 * 2**20
    assert parse_host_io(text, 1)[0] == "iostat"


@pytest.mark.parametrize("d", DIRS, ids=[d.name for d in DIRS])
def test_diskstats_fixture_rates_by_hand(d: Path) -> None:
    text = (d / "hostio-diskstats.host.txt").read_text()
    _, names, first, second = split_sections(text, MARK, 4)
    a, b = parse_diskstats(first), parse_diskstats(second)
    assert a.uptime_s is not None and b.uptime_s is not None and b.uptime_s > a.uptime_s
    # The same arithmetic as iostat -x, done here from the raw lines (fields 3.. of a line).
    lines_a = {ln.split()[2]: [int(x) for x in ln.split()[3:]] for ln in first.splitlines()[1:]}
    lines_b = {ln.split()[2]: [int(x) for x in ln.split()[3:]] for ln in second.splitlines()[1:]}
    dt = b.uptime_s - a.uptime_s
    source, devices = parse_host_io(text, 1)
    assert source == "diskstats"
    used = {n for n, f in lines_b.items() if f[0] or f[4]}
    assert {x.device for x in devices} == used & set(names.split())
    for dev in devices:
        fa, fb = lines_a[dev.device], lines_b[dev.device]
        assert dev.reads_per_s == round((fb[0] - fa[0]) / dt, 2)
        assert dev.write_bytes_per_s == round((fb[6] - fa[6]) * 512 / dt, 1)
        assert dev.util_percent == round((fb[9] - fa[9]) / (dt * 10), 2)
    assert sum(x.write_bytes_per_s for x in devices) > 16 * 2**20


def test_iostat_older_field_names_and_errors() -> None:
    old = {"sysstat": {"hosts": [{"statistics": [{"disk": [{"disk_device": "sda", "r/s": 1.5, "w/s": 0,
           "rkB/s": 2, "wkB/s": 0, "avgqu-sz": 0.25, "util": 3.0}]}]}]}}  # fmt: skip
    (dev,) = parse_iostat(json.dumps(old))
    assert dev.queue_size == 0.25 and dev.read_bytes_per_s == 2048 and dev.read_await_ms is None
    empty = {"sysstat": {"hosts": [{"statistics": []}]}}
    assert parse_iostat(json.dumps(empty)) == []
    for bad in ("", "not json", '{"sysstat": {}}'):
        with pytest.raises(ValueError, match="not iostat JSON"):
            parse_iostat(bad)


def test_diskstats_old_kernel_lines_partitions_and_garbage() -> None:
    # 11 counters (kernel < 4.18); sda1 is a partition: not in /sys/block, so left out.
    a = parse_diskstats("100.00 50.00\n   8 0 sda 10 0 80 5 4 0 16 2 0 6 7\n   8 1 sda1 10 0 80 5 4 0 16 2 0 6 7\n")
    b = parse_diskstats(
        "102.00 51.00\n   8 0 sda 30 0 480 25 4 0 16 2 1 406 207\n   8 1 sda1 30 0 480 25 4 0 16 2 0 6 7\n"
    )
    (sda,) = diskstats_rates(a, b, {"sda"}, 1.0)
    assert (sda.reads_per_s, sda.read_bytes_per_s, sda.read_await_ms) == (10.0, 102400.0, 1.0)
    assert (sda.writes_per_s, sda.write_await_ms, sda.util_percent, sda.queue_size) == (0.0, 0.0, 20.0, 0.1)
    # No uptime lines: the interval stands in; counters that went back never give negative rates.
    c = parse_diskstats("   8 0 sda 5 0 8 1 0 0 0 0 0 0 0\n")
    (back,) = diskstats_rates(b, c, None, 2.0)
    assert back.reads_per_s == 0 and back.read_bytes_per_s == 0
    with pytest.raises(ValueError, match="unexpected line"):
        parse_diskstats("   8 0 sda 1 2 x\n")
