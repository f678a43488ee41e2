"""Rates from counter deltas: over the captured pair of domstats samples, and restart handling."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

import pytest

from qemu_mcp.backends.counters import DiskCounters, NetCounters, RawCounters
from qemu_mcp.backends.libvirt.sampler import counters_from_domstats
from qemu_mcp.models_monitor import ALL_METRICS
from qemu_mcp.ops.rates import build_sample, rate, restarted
from qemu_mcp.parsers.domid import parse_domid
from qemu_mcp.parsers.domstats import parse_domstats
from qemu_mcp.parsers.sections import split_sections
from tests.parsers.fixture_views import FIXTURES, read_commands, split_script

DIRS = sorted(d for d in FIXTURES.iterdir() if d.is_dir())
WALL = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)


def reading(d: Path, name: str, at: float) -> tuple[RawCounters, dict[str, str]]:
    marker, _ = split_script(read_commands(d)[name][1][-1])
    assert marker is not None
    stats_s, id_s = split_sections((d / name).read_text(), marker, 2)
    (stats,) = parse_domstats(stats_s).values()
    return counters_from_domstats(stats, parse_domid(id_s), started=at, taken_at=at, wall=WALL), stats


@pytest.mark.parametrize("d", DIRS, ids=[d.name for d in DIRS])
def test_captured_pair(d: Path) -> None:
    a, sa = reading(d, "virsh-monitor-sample1.qemu-system.txt", 10.0)
    b, sb = reading(d, "virsh-monitor-sample2.qemu-system.txt", 11.25)
    assert a.state == "running" and a.run_id == b.run_id and a.run_id is not None
    s = build_sample(a, b, ALL_METRICS, host="h", vm_name="qmcp-cap-mon", index=1, lag=0.0)
    assert not s.counter_reset and s.elapsed_s == 1.25

    def delta(key: str) -> int:
        return int(sb[key]) - int(sa[key])

    cpu = s.cpu
    assert cpu is not None and cpu.vcpus == 1
    assert cpu.host_core_percent == round(delta("vcpu.0.time") / 1.25 / 1e7, 2) == cpu.cpu_percent
    assert cpu.process_percent == round(delta("cpu.time") / 1.25 / 1e7, 2)
    assert 0 <= cpu.cpu_percent <= 100  # type: ignore[operator]
    mem = s.memory
    assert mem is not None and mem.current_mib == 128.0 and mem.rss_mib == round(int(sb["balloon.rss"]) / 1024, 2)
    assert mem.used_percent is None  # no guest OS, so no balloon driver statistics
    (vda,) = s.disk.devices  # type: ignore[union-attr]
    # The capture read 1 MiB through QEMU's qemu-io between the two samples.
    assert delta("block.0.rd.bytes") == 2**20
    assert vda.rd_bytes_per_s == round(2**20 / 1.25, 1) and vda.rd_iops == round(delta("block.0.rd.reqs") / 1.25, 2)
    assert vda.wr_bytes_per_s == 0 and vda.capacity_bytes == 64 * 2**20
    (nic,) = s.network.interfaces  # type: ignore[union-attr]
    assert nic.name == "qmcpcap0" and nic.rx_bytes == int(sb["net.0.rx.bytes"]) and nic.tx_bytes_per_s == 0
    assert s.summary.startswith("#1 03:04:05 cpu ") and "disk r 819.2 KiB/s" in s.summary


@pytest.mark.parametrize("d", DIRS, ids=[d.name for d in DIRS])
def test_captured_shut_off_domain(d: Path) -> None:
    off, _ = reading(d, "virsh-monitor-off.qemu-system.txt", 0.0)
    # libvirt reports some cpu.time for a shut-off domain without cgroups: it must not be used.
    assert off.stopped and off.state == "shut off" and off.run_id is None and off.cpu_time_ns is None


def counters(at: float, **kw: object) -> RawCounters:
    base = RawCounters(
        started=at, taken_at=at, wall=WALL, state="running", run_id="7", vcpus=2,
        cpu_time_ns=10_000_000_000, vcpu_time_ns=8_000_000_000,
        disks=(DiskCounters("vda", rd_bytes=1000, wr_bytes=0, rd_reqs=10, wr_reqs=0),),
        nets=(NetCounters("vnet0", rx_bytes=500, tx_bytes=500, rx_pkts=5, tx_pkts=5),),
    )  # fmt: skip
    return replace(base, **kw)  # type: ignore[arg-type]


def test_rate_never_negative() -> None:
    assert rate(10, 30, 2.0) == 10.0
    assert rate(30, 10, 2.0) is None and rate(None, 1, 1.0) is None and rate(1, 2, 0.0) is None


def test_two_vcpus_busy_one_core() -> None:
    a = counters(0.0)
    b = counters(2.0, cpu_time_ns=12_500_000_000, vcpu_time_ns=10_000_000_000)
    cpu = build_sample(a, b, ["cpu"], host="h", vm_name="v", index=1, lag=0.0).cpu
    assert cpu is not None
    assert (cpu.cpu_percent, cpu.host_core_percent, cpu.process_percent) == (50.0, 100.0, 125.0)


def test_jitter_is_capped_at_the_vcpu_count() -> None:
    b = counters(1.0, vcpu_time_ns=8_000_000_000 + 2_020_000_000)
    cpu = build_sample(counters(0.0), b, ["cpu"], host="h", vm_name="v", index=1, lag=0.0).cpu
    assert cpu is not None and cpu.cpu_percent == 100.0 and cpu.host_core_percent == 200.0


@pytest.mark.parametrize(
    "change",
    [
        {"cpu_time_ns": 1_000_000_000, "vcpu_time_ns": 500_000_000},  # counters restarted from zero
        {"run_id": "8"},  # new domain ID: restarted even though the counters grew meanwhile
    ],
    ids=["counters-back", "new-domain-id"],
)
def test_restart_gives_no_rates(change: dict[str, object]) -> None:
    a = counters(0.0)
    b = counters(1.0, **change)
    assert restarted(a, b)
    s = build_sample(a, b, ALL_METRICS, host="h", vm_name="v", index=2, lag=0.0)
    assert s.counter_reset and "[restarted: no rates]" in s.summary
    assert s.cpu is not None and s.cpu.counter_reset and s.cpu.cpu_percent is None
    assert s.disk is not None and s.disk.devices[0].counter_reset and s.disk.devices[0].rd_bytes_per_s is None
    assert s.network is not None and s.network.interfaces[0].rx_bytes_per_s is None


def test_device_reset_and_new_device() -> None:
    a = counters(0.0)
    b = counters(
        1.0,
        cpu_time_ns=11_000_000_000,
        vcpu_time_ns=9_000_000_000,
        disks=(DiskCounters("vda", rd_bytes=10, wr_bytes=0, rd_reqs=1, wr_reqs=0), DiskCounters("vdb", rd_bytes=5)),
        nets=(NetCounters("vnet0", rx_bytes=900, tx_bytes=700, rx_pkts=9, tx_pkts=7),),
    )
    s = build_sample(a, b, ALL_METRICS, host="h", vm_name="v", index=1, lag=0.0)
    assert not s.counter_reset and s.cpu is not None and s.cpu.cpu_percent == 50.0
    vda, vdb = s.disk.devices  # type: ignore[union-attr]
    assert vda.counter_reset and vda.rd_bytes_per_s is None  # re-plugged: counters back
    assert not vdb.counter_reset and vdb.rd_bytes_per_s is None  # new: no baseline yet
    (nic,) = s.network.interfaces  # type: ignore[union-attr]
    assert (nic.rx_bytes_per_s, nic.tx_bytes_per_s, nic.rx_packets_per_s) == (400.0, 200.0, 4.0)


def test_only_requested_metrics() -> None:
    s = build_sample(counters(0.0), counters(1.0), ["memory"], host="h", vm_name="v", index=1, lag=0.0)
    assert s.memory is not None and s.cpu is None and s.disk is None and s.network is None
