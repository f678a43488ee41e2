"""The sampling loop over a scripted Sampler: schedule without drift, ends, progress, cancellation.
All on virtual time (tests.fake_clock): the schedule's arithmetic is checked exactly, and no test waits."""

from __future__ import annotations

import asyncio
import random
from dataclasses import replace
from datetime import UTC, datetime

import pytest

from qemu_mcp.backends.counters import GONE, RawCounters
from qemu_mcp.errors import HostUnreachable, InvalidInput
from qemu_mcp.models_monitor import ALL_METRICS, MonitorSample
from qemu_mcp.ops.monitor import check_schedule, parse_metrics, run_series
from tests.fake_clock import virtual_clock


class FakeSampler:
    """Counters that grow 0.25 core per second; each read takes `delay()` seconds."""

    def __init__(self, delay=lambda: 0.0, script=None) -> None:  # type: ignore[no-untyped-def]
        self.delay, self.script = delay, list(script or [])
        self.starts: list[float] = []
        self.ends: list[float] = []
        self.n = 0

    async def read(self) -> RawCounters:
        loop = asyncio.get_running_loop()
        started = loop.time()
        self.starts.append(started)
        await asyncio.sleep(self.delay())
        self.n += 1
        change = self.script.pop(0) if self.script else {}
        at = loop.time()
        self.ends.append(at)
        base = RawCounters(
            started=started, taken_at=at, wall=datetime.now(UTC), state="running", run_id="1", vcpus=1,
            cpu_time_ns=int(at * 250_000_000), vcpu_time_ns=int(at * 250_000_000),
        )  # fmt: skip
        return replace(base, **change)


async def series(sampler: FakeSampler, **kw):  # type: ignore[no-untyped-def]
    args = dict(metrics=ALL_METRICS, interval=0.1, count=3, max_duration=60.0, host="h", vm_name="v")
    args.update(kw)
    first = await sampler.read()
    return await run_series(sampler, first, **args)  # type: ignore[arg-type]


@virtual_clock
async def test_schedule_does_not_drift_with_slow_reads() -> None:
    rnd = random.Random(5)
    sampler = FakeSampler(delay=lambda: rnd.uniform(0.0, 0.06))
    data = await series(sampler, count=8)
    t0 = sampler.ends[0]  # the schedule is anchored where the baseline reading ended
    offsets = [s - (t0 + k * 0.1) for k, s in enumerate(sampler.starts)]
    # Reading k starts at t0 + k*interval however long reading k-1 took: no accumulation.
    assert offsets[1:] == pytest.approx([0.0] * 8, abs=1e-9), offsets
    assert data.samples == 8 and data.timing.skipped == 0 and data.timing.max_lag_s == 0
    cpu = [c.cpu_percent for c in data.metrics_data.cpu]
    assert cpu == [25.0] * 8  # 0.25 core over each reading's own elapsed time, slow or not


@virtual_clock
async def test_overrun_skips_slots_instead_of_bunching() -> None:
    delays = iter([0.0, 0.25, 0.0, 0.0, 0.0])
    sampler = FakeSampler(delay=lambda: next(delays))
    data = await series(sampler, count=3)
    t0 = sampler.ends[0]
    # Reading 1 ran 0.25 s (past slots 2 and 3), so the next reading waits for slot 4.
    assert [round((s - t0) / 0.1) for s in sampler.starts] == [0, 1, 4, 5]
    assert data.timing.skipped == 2 and data.samples == 3


@virtual_clock
async def test_progress_once_per_sample() -> None:
    seen: list[tuple[int, int | None, str]] = []

    async def progress(k: int, total: int | None, s: MonitorSample) -> None:
        seen.append((k, total, s.summary))

    data = await series(FakeSampler(), count=3, progress=progress)
    assert [(k, t) for k, t, _ in seen] == [(1, 3), (2, 3), (3, 3)]
    assert all(line.startswith(f"#{k} ") for k, _, line in seen)
    assert data.timestamp == [c.timestamp for c in data.metrics_data.cpu]
    assert data.samples == len(data.metrics_data.memory) == len(data.metrics_data.disk) == 3


@pytest.mark.parametrize(("state", "words"), [("shut off", "is shut off"), (GONE, "no longer exists")])
@virtual_clock
async def test_vm_stopping_ends_the_series_with_a_note(state: str, words: str) -> None:
    sampler = FakeSampler(script=[{}, {}, {"state": state}])
    data = await series(sampler, count=0)
    assert data.samples == 1 and data.ended == "vm-stopped"
    assert data.note is not None and words in data.note and "after 1 sample(s)" in data.note


@virtual_clock
async def test_restart_is_counted_and_noted() -> None:
    sampler = FakeSampler(script=[{}, {}, {"run_id": "2", "cpu_time_ns": 1, "vcpu_time_ns": 1}, {"run_id": "2"}])
    data = await series(sampler, count=3)
    assert [c.counter_reset for c in data.metrics_data.cpu] == [False, True, False]
    assert data.resets == 1 and data.note is not None and "restarted" in data.note
    assert all(c.cpu_percent is None or c.cpu_percent >= 0 for c in data.metrics_data.cpu)


@virtual_clock
async def test_max_duration_returns_what_was_collected() -> None:
    data = await series(FakeSampler(), count=0, interval=0.1, max_duration=0.35)
    assert data.samples == 3 and data.ended == "max-duration" and "0.35 s" in (data.note or "")


@virtual_clock
async def test_host_error_after_samples_keeps_them() -> None:
    class Flaky(FakeSampler):
        async def read(self) -> RawCounters:
            if self.n == 3:
                raise HostUnreachable("connection to host 'h' was lost", "h")
            return await super().read()

    data = await series(Flaky(), count=5)
    assert data.samples == 2 and data.ended == "host-error" and "was lost" in (data.note or "")


@virtual_clock
async def test_cancellation_stops_promptly() -> None:
    got: list[int] = []
    sampler = FakeSampler()
    task = asyncio.create_task(series(sampler, count=0, on_sample=lambda s: got.append(s.index)))
    await asyncio.sleep(0.5)
    reads = sampler.n
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    await asyncio.sleep(0.3)
    assert sampler.n == reads and got == list(range(1, len(got) + 1)) and len(got) >= 2


def test_parse_metrics_and_schedule_checks() -> None:
    assert parse_metrics("all") == ALL_METRICS == parse_metrics(None) == parse_metrics(["cpu", "all"])
    assert parse_metrics(["network", "cpu"]) == ("cpu", "network") == parse_metrics("cpu, network")
    with pytest.raises(InvalidInput, match=r"unknown metric.*'gpu'"):
        parse_metrics(["cpu", "gpu"])
    check_schedule(1, 0, 3600)
    for bad in [(0.5, 1, 10), (1, -1, 10), (1, 1.5, 10), (float("nan"), 1, 10), (1, 1, 0)]:
        with pytest.raises(InvalidInput):
            check_schedule(*bad)  # type: ignore[arg-type]
