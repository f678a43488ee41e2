"""Samples from two consecutive readings: rates from counter deltas, restarts flagged (pure).

A counter that went down means it started again from zero (the VM restarted, a disk or NIC
was re-plugged): that rate is None and the sample or device says counter_reset, never a
negative rate. The same holds when the run id changed (a new domain ID: the VM restarted
between readings even if its counters have since grown past the old values).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from qemu_mcp.backends.counters import DiskCounters, NetCounters, RawCounters
from qemu_mcp.models_monitor import (
    CpuSample,
    DiskDeviceSample,
    DiskSample,
    MemorySample,
    Metric,
    MonitorSample,
    NetInterfaceSample,
    NetSample,
)

NS = 1_000_000_000


def went_back(prev: int | None, cur: int | None) -> bool:
    return prev is not None and cur is not None and cur < prev


def rate(prev: int | None, cur: int | None, elapsed: float) -> float | None:
    """Per-second increase; None when unknown, when the time base is not positive, or on a reset."""
    if prev is None or cur is None or elapsed <= 0 or cur < prev:
        return None
    return (cur - prev) / elapsed


def restarted(prev: RawCounters, cur: RawCounters) -> bool:
    if prev.run_id is not None and cur.run_id is not None and prev.run_id != cur.run_id:
        return True
    return went_back(prev.cpu_time_ns, cur.cpu_time_ns) or went_back(prev.vcpu_time_ns, cur.vcpu_time_ns)


def _r(value: float | None, digits: int = 2) -> float | None:
    return None if value is None else round(value, digits)


def _clamp(value: float | None, hi: float) -> float | None:
    # Readings are timed at our end of the connection, so a busy VM can show 100.4 %: cap it.
    return None if value is None else max(0.0, min(value, hi))


def _mib(kib: int | None) -> float | None:
    return None if kib is None else round(kib / 1024, 2)


def cpu_sample(prev: RawCounters, cur: RawCounters, elapsed: float, reset: bool, ts: str) -> CpuSample:
    vcpus = cur.vcpus
    if reset:
        return CpuSample(timestamp=ts, vcpus=vcpus, cpu_time_s=_seconds(cur.cpu_time_ns), counter_reset=True)
    # vCPU thread time when the backend has it; else the whole process stands in for it.
    busy = rate(prev.vcpu_time_ns, cur.vcpu_time_ns, elapsed)
    if busy is None:
        busy = rate(prev.cpu_time_ns, cur.cpu_time_ns, elapsed)
    cores = None if busy is None else busy / NS  # host cores' worth of vCPU time
    n = vcpus or 1
    process = rate(prev.cpu_time_ns, cur.cpu_time_ns, elapsed)
    user = rate(prev.cpu_user_ns, cur.cpu_user_ns, elapsed)
    system = rate(prev.cpu_system_ns, cur.cpu_system_ns, elapsed)
    return CpuSample(
        timestamp=ts,
        cpu_percent=_r(_clamp(None if cores is None else cores * 100 / n, 100.0)),
        host_core_percent=_r(_clamp(None if cores is None else cores * 100, 100.0 * n)),
        process_percent=_r(None if process is None else process * 100 / NS),
        user_percent=_r(None if user is None else user * 100 / NS),
        system_percent=_r(None if system is None else system * 100 / NS),
        vcpus=vcpus,
        cpu_time_s=_seconds(cur.cpu_time_ns),
    )


def _seconds(ns: int | None) -> float | None:
    return None if ns is None else round(ns / NS, 3)


def memory_sample(cur: RawCounters, ts: str) -> MemorySample:
    m = cur.memory
    if m is None:
        return MemorySample(timestamp=ts)
    used = None
    if m.available and m.usable is not None:
        used = round(max(0, m.available - m.usable) * 100 / m.available, 2)
    return MemorySample(
        timestamp=ts,
        current_mib=_mib(m.current),
        maximum_mib=_mib(m.maximum),
        available_mib=_mib(m.available),
        unused_mib=_mib(m.unused),
        usable_mib=_mib(m.usable),
        rss_mib=_mib(m.rss),
        used_percent=used,
    )


def disk_device(
    prev: DiskCounters | None, cur: DiskCounters, elapsed: float, reset: bool
) -> DiskDeviceSample:
    base = DiskDeviceSample(
        name=cur.name,
        path=cur.path,
        rd_bytes=cur.rd_bytes,
        wr_bytes=cur.wr_bytes,
        rd_reqs=cur.rd_reqs,
        wr_reqs=cur.wr_reqs,
        capacity_bytes=cur.capacity,
        allocation_bytes=cur.allocation,
        physical_bytes=cur.physical,
    )
    if prev is None:
        return base  # new device: no rates yet
    back = reset or any(
        went_back(getattr(prev, k), getattr(cur, k)) for k in ("rd_bytes", "wr_bytes", "rd_reqs", "wr_reqs")
    )
    if back:
        return base.model_copy(update={"counter_reset": True})
    return base.model_copy(
        update={
            "rd_bytes_per_s": _r(rate(prev.rd_bytes, cur.rd_bytes, elapsed), 1),
            "wr_bytes_per_s": _r(rate(prev.wr_bytes, cur.wr_bytes, elapsed), 1),
            "rd_iops": _r(rate(prev.rd_reqs, cur.rd_reqs, elapsed)),
            "wr_iops": _r(rate(prev.wr_reqs, cur.wr_reqs, elapsed)),
        }
    )


_NET_COUNTERS = ("rx_bytes", "rx_pkts", "tx_bytes", "tx_pkts")


def net_interface(
    prev: NetCounters | None, cur: NetCounters, elapsed: float, reset: bool
) -> NetInterfaceSample:
    base = NetInterfaceSample(
        name=cur.name,
        rx_bytes=cur.rx_bytes,
        tx_bytes=cur.tx_bytes,
        rx_errs=cur.rx_errs,
        rx_drop=cur.rx_drop,
        tx_errs=cur.tx_errs,
        tx_drop=cur.tx_drop,
    )
    if prev is None:
        return base
    if reset or any(went_back(getattr(prev, k), getattr(cur, k)) for k in _NET_COUNTERS):
        return base.model_copy(update={"counter_reset": True})
    return base.model_copy(
        update={
            "rx_bytes_per_s": _r(rate(prev.rx_bytes, cur.rx_bytes, elapsed), 1),
            "tx_bytes_per_s": _r(rate(prev.tx_bytes, cur.tx_bytes, elapsed), 1),
            "rx_packets_per_s": _r(rate(prev.rx_pkts, cur.rx_pkts, elapsed)),
            "tx_packets_per_s": _r(rate(prev.tx_pkts, cur.tx_pkts, elapsed)),
        }
    )


def build_sample(
    prev: RawCounters,
    cur: RawCounters,
    metrics: Sequence[Metric],
    *,
    host: str,
    vm_name: str,
    index: int,
    lag: float,
) -> MonitorSample:
    elapsed = cur.taken_at - prev.taken_at
    reset = restarted(prev, cur)
    ts = cur.wall.isoformat(timespec="milliseconds").replace("+00:00", "Z")
    sample = MonitorSample(
        host=host,
        vm_name=vm_name,
        index=index,
        timestamp=ts,
        state=cur.state,
        elapsed_s=round(elapsed, 3),
        lag_s=round(lag, 3),
        counter_reset=reset,
        summary="",
    )
    parts: dict[str, object] = {}
    if "cpu" in metrics:
        parts["cpu"] = cpu_sample(prev, cur, elapsed, reset, ts)
    if "memory" in metrics:
        parts["memory"] = memory_sample(cur, ts)
    if "disk" in metrics:
        old = {d.name: d for d in prev.disks}
        parts["disk"] = DiskSample(
            timestamp=ts, devices=[disk_device(old.get(d.name), d, elapsed, reset) for d in cur.disks]
        )
    if "network" in metrics:
        old_n = {n.name: n for n in prev.nets}
        parts["network"] = NetSample(
            timestamp=ts,
            interfaces=[net_interface(old_n.get(n.name), n, elapsed, reset) for n in cur.nets],
        )
    sample = sample.model_copy(update=parts)
    return sample.model_copy(update={"summary": summarize(sample)})


def human_bytes(n: float | None) -> str:
    if n is None:
        return "-"
    for unit in ("B", "KiB", "MiB", "GiB"):
        if abs(n) < 1024 or unit == "GiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    raise AssertionError("unreachable")  # pragma: no cover


def _pct(v: float | None) -> str:
    return "-" if v is None else f"{v:.1f}%"


def summarize(s: MonitorSample) -> str:
    """`#3 12:00:05 cpu 4.1% mem rss 45.2 MiB disk r 1.0 MiB/s w 0 B/s net rx 0 B/s tx 0 B/s`."""
    words = [f"#{s.index}", s.timestamp[11:19]]
    if s.state != "running":
        words.append(f"[{s.state}]")
    if s.counter_reset:
        words.append("[restarted: no rates]")
    if s.cpu is not None:
        words.append(f"cpu {_pct(s.cpu.cpu_percent)}")
    if s.memory is not None:
        m = s.memory
        words.append(
            f"mem used {_pct(m.used_percent)}"
            if m.used_percent is not None
            else f"mem rss {human_bytes(None if m.rss_mib is None else m.rss_mib * 2**20)}"
        )
    if s.disk is not None:
        rd = _total(d.rd_bytes_per_s for d in s.disk.devices)
        wr = _total(d.wr_bytes_per_s for d in s.disk.devices)
        words.append(f"disk r {human_bytes(rd)}/s w {human_bytes(wr)}/s")
    if s.network is not None:
        rx = _total(n.rx_bytes_per_s for n in s.network.interfaces)
        tx = _total(n.tx_bytes_per_s for n in s.network.interfaces)
        words.append(f"net rx {human_bytes(rx)}/s tx {human_bytes(tx)}/s")
    return " ".join(words)


def _total(values: Iterable[float | None]) -> float | None:
    known = [v for v in values if v is not None]
    return sum(known) if known else None
