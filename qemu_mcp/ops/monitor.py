"""monitor_vm: read a running VM's counters on a fixed schedule and turn the deltas into rates.

Reading k starts at start + k*interval on the event loop's clock (sleep until that deadline),
so a slow reading delays only itself and the schedule never drifts. Reading 0 is the
baseline, so even count=1 takes two readings `interval` apart.
"""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass

from qemu_mcp import validation
from qemu_mcp.backends.counters import GONE, RawCounters, Sampler
from qemu_mcp.backends.libvirt.sampler import LibvirtSampler
from qemu_mcp.backends.qemu.sampler import QemuSampler
from qemu_mcp.config import HostSpec
from qemu_mcp.errors import Conflict, HostError, InvalidInput, NotFound
from qemu_mcp.models_monitor import (
    ALL_METRICS,
    LatestSample,
    Metric,
    MonitorData,
    MonitorSample,
    MonitorTiming,
)
from qemu_mcp.ops.backend import with_backend
from qemu_mcp.ops.fleet_core import FleetCore, HostRef
from qemu_mcp.ops.rates import build_sample

# (sample number, total or None, the sample) -> awaited before the next reading is scheduled.
ProgressFn = Callable[[int, int | None, MonitorSample], Awaitable[None]]
MAX_CACHED = 256  # newest sample per (host, VM) kept for vmstats://
MONITORABLE = ("running", "idle")  # idle = running, blocked on I/O


def parse_metrics(value: str | Sequence[str] | None) -> tuple[Metric, ...]:
    """'all', one name, 'cpu,disk', or a list of those -> metrics in canonical order."""
    words = [] if value is None else [value] if isinstance(value, str) else list(value)
    names = [p.strip().lower() for w in words for p in str(w).split(",") if p.strip()]
    if not names or "all" in names:
        return ALL_METRICS
    bad = sorted({n for n in names if n not in ALL_METRICS})
    if bad:
        raise InvalidInput(
            f"unknown metric(s) {', '.join(repr(b) for b in bad)}: use cpu, memory, disk, network or all"
        )
    return tuple(m for m in ALL_METRICS if m in names)


def check_schedule(interval: float, count: int, max_duration: float) -> None:
    if not isinstance(interval, int | float) or not math.isfinite(interval) or interval < 1:
        raise InvalidInput(f"interval {interval!r} is too short: use at least 1 second")
    if isinstance(count, bool) or not isinstance(count, int) or count < 0:
        raise InvalidInput(f"count {count!r} must be a whole number >= 0 (0 = until cancelled)")
    if not math.isfinite(max_duration) or max_duration <= 0:
        raise InvalidInput(f"max_duration {max_duration!r} must be a positive number of seconds")


def sample_timeout(spec: HostSpec, interval: float) -> float:
    """A reading is one short command: give up long before the host's general command timeout."""
    return min(spec.command_timeout, max(10.0, 2 * interval))


def remember(fleet: FleetCore, sample: MonitorSample) -> None:
    cache = fleet.latest_samples
    key = (sample.host, sample.vm_name)
    cache.pop(key, None)  # re-insert: dict order = recency
    cache[key] = (sample, time.time())
    while len(cache) > MAX_CACHED:
        cache.pop(next(iter(cache)))


def _check_monitorable(first: RawCounters, spec: HostSpec, name: str) -> None:
    if first.state == GONE:
        raise NotFound(
            f"domain '{name}' not found on host '{spec.name}'; list_vms shows the names that exist"
        )
    if first.state not in MONITORABLE:
        raise Conflict(
            f"VM '{name}' on host '{spec.name}' is {first.state}: only running VMs can be monitored; "
            + ("resume it first" if first.state == "paused" else "start it first")
        )


async def monitor_vm(
    fleet: FleetCore,
    name: str,
    ref: HostRef | None = None,
    *,
    metrics: str | Sequence[str] | None = "all",
    interval: float = 5.0,
    count: int = 1,
    progress: ProgressFn | None = None,
    max_duration: float | None = None,
) -> MonitorData:
    """Sample `count` times (0 = until cancelled or max_duration, default the host's setting)."""
    validation.vm_name(name)
    chosen = parse_metrics(metrics)
    spec = fleet.resolve(ref)
    limit = spec.monitor_max_duration if max_duration is None else max_duration
    check_schedule(interval, count, limit)
    timeout = sample_timeout(spec, interval)
    samplers: list[Sampler] = []

    async def first_reading(sampler: Sampler) -> RawCounters:
        samplers.append(sampler)
        return await sampler.read()

    # The first reading also settles the backend of an auto host (virsh unusable: plain QEMU).
    first = await with_backend(
        fleet,
        spec,
        lambda runner: first_reading(LibvirtSampler(runner, spec, name, chosen, timeout, fleet.sessions(spec))),
        lambda runner: first_reading(QemuSampler(runner, spec, name, chosen, timeout)),
    )
    sampler = samplers[-1]
    _check_monitorable(first, spec, name)
    return await run_series(
        sampler,
        first,
        metrics=chosen,
        interval=float(interval),
        count=count,
        max_duration=limit,
        host=spec.name,
        vm_name=name,
        progress=progress,
        on_sample=lambda s: remember(fleet, s),
    )


async def run_series(
    sampler: Sampler,
    first: RawCounters,
    *,
    metrics: Sequence[Metric],
    interval: float,
    count: int,
    max_duration: float,
    host: str,
    vm_name: str,
    progress: ProgressFn | None = None,
    on_sample: Callable[[MonitorSample], None] | None = None,
) -> MonitorData:
    """The sampling loop over any Sampler; `first` is the baseline reading, just taken."""
    loop = asyncio.get_running_loop()
    data = MonitorData(
        host=host,
        vm_name=vm_name,
        metrics=list(metrics),
        count=count,
        samples=0,
        timing=MonitorTiming(interval_s=interval),
    )
    # Anchored where the baseline reading ended (it may include opening the SSH connection), so
    # sample 1 covers about one interval, like the others.
    schedule = _Schedule(first.taken_at, interval)
    prev, elapsed_sum = first, 0.0
    while count == 0 or data.samples < count:
        due = schedule.next_slot(loop.time(), data.timing)
        if schedule.k * interval > max_duration + 1e-6:
            data.ended = "max-duration"
            data.note = f"stopped at the maximum duration of {max_duration:g} s"
            break
        await asyncio.sleep(max(0.0, due - loop.time()))
        cur = await _read_or_end(sampler, data)
        if cur is None or _ended_by_stop(cur, data, vm_name):
            break
        sample = build_sample(
            prev, cur, metrics, host=host, vm_name=vm_name, index=data.samples + 1, lag=cur.started - due
        )
        elapsed_sum += sample.elapsed_s
        _record_sample(data, sample, elapsed_sum)
        if on_sample is not None:
            on_sample(sample)
        if progress is not None:
            await progress(data.samples, count or None, sample)
        prev = cur
    if data.resets and data.note is None:
        data.note = f"the VM restarted during the series ({data.resets} sample(s) without rates)"
    return data


@dataclass
class _Schedule:
    """Reading k is due at start + k*interval."""

    start: float
    interval: float
    k: int = 0

    def next_slot(self, now: float, timing: MonitorTiming) -> float:
        """Move to the next reading and return when it is due. If the previous reading overran
        this slot, skip the slots already gone by (counted in timing.skipped)."""
        self.k += 1
        late = now - (self.start + self.k * self.interval)
        if late > 0:
            missed = math.ceil(late / self.interval) if late >= self.interval else 0
            self.k += missed
            timing.skipped += missed
        return self.start + self.k * self.interval


async def _read_or_end(sampler: Sampler, data: MonitorData) -> RawCounters | None:
    """The next reading; None when a host error ends a series that has samples already (the
    error is raised when there are none)."""
    try:
        return await sampler.read()
    except HostError as e:
        if data.samples == 0:
            raise
        data.ended, data.note = "host-error", f"sampling stopped after {data.samples} sample(s): {e}"
        return None


def _ended_by_stop(cur: RawCounters, data: MonitorData, vm_name: str) -> bool:
    """True (and the series' end noted) when the VM stopped or vanished since the last reading."""
    if not cur.stopped:
        return False
    what = "no longer exists" if cur.state == GONE else f"is {cur.state}"
    data.ended = "vm-stopped"
    data.note = (
        f"VM '{vm_name}' {what} (seen at {cur.wall.isoformat(timespec='seconds')}): "
        f"the series ends after {data.samples} sample(s)"
    )
    return True


def _record_sample(data: MonitorData, sample: MonitorSample, elapsed_sum: float) -> None:
    """Count a sample in the series and in its timing (elapsed_sum: of every sample so far)."""
    data.add(sample)
    data.resets += sample.counter_reset
    data.timing.max_lag_s = max(data.timing.max_lag_s, sample.lag_s)
    data.timing.mean_elapsed_s = round(elapsed_sum / data.samples, 3)


async def latest_sample(fleet: FleetCore, host: str, name: str) -> LatestSample:
    """The cached newest sample of a VM, or one fresh sample (1 s) when none is cached."""
    validation.vm_name(name)
    spec = fleet.resolve(HostRef(host=host))
    cached = fleet.latest_samples.get((spec.name, name))
    if cached is not None:
        sample, at = cached
        return LatestSample(
            host=spec.name, vm_name=name, age_s=round(time.time() - at, 3), fresh=False, sample=sample
        )
    data = await monitor_vm(fleet, name, HostRef(host=host), interval=1, count=1)
    if not data.samples:
        raise Conflict(data.note or f"VM '{name}' on host '{spec.name}' gave no sample")
    sample, at = fleet.latest_samples[(spec.name, name)]
    return LatestSample(
        host=spec.name, vm_name=name, age_s=round(time.time() - at, 3), fresh=True, sample=sample
    )
