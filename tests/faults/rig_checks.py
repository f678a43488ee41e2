"""Shared by the transport fault cases: waiting (bounded) for something on a rig host, and what a
case checks once it is done: closing the Fleet leaves no SSH connection open, no task running,
and (seen from the host) no sshd session serving us."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager

from qemu_mcp.config import HostSpec, Inventory
from qemu_mcp.errors import HostError
from qemu_mcp.ops.fleet import Fleet, HostRef
from qemu_mcp.ops.host_io import host_stats
from tests.faults.conftest import FaultRecord
from tests.rig.netns import NetnsHost

SETTLE = 5.0  # seconds for tasks and remote sessions to end after the close


def other_tasks() -> set[asyncio.Task[object]]:
    return {t for t in asyncio.all_tasks() if t is not asyncio.current_task()}


async def close_and_check(
    fault: FaultRecord,
    fleet: Fleet,
    tasks_before: set[asyncio.Task[object]],
    hosts: Sequence[NetnsHost] = (),
    settle: float = SETTLE,
) -> None:
    """Close the Fleet; anything still open `settle` s later is recorded as leaked."""
    runners = fleet.pool.runners()
    await fleet.close()
    for runner in runners:
        if getattr(runner, "open_connections", 0):
            fault.leaked(f"an SSH connection to host '{runner.host}' after fleet.close()")
    deadline = time.monotonic() + settle
    while other_tasks() - tasks_before and time.monotonic() < deadline:
        await asyncio.sleep(0.05)
    for task in other_tasks() - tasks_before:
        fault.leaked(f"task {task.get_name()} ({task.get_coro()!r}) after fleet.close()")
    for h in hosts:
        while h.sshd_sessions() and time.monotonic() < deadline:
            await asyncio.sleep(0.1)
        if h.sshd_sessions():
            fault.leaked(f"{h.sshd_sessions()} sshd session process(es) on {h.ns} after fleet.close()")


async def wait_until(condition: Callable[[], bool], what: str, limit: float = 10.0) -> None:
    deadline = time.monotonic() + limit
    while not condition():
        assert time.monotonic() < deadline, f"waited {limit} s for {what}"
        await asyncio.sleep(0.05)


@asynccontextmanager
async def checked_fleet(
    fault: FaultRecord, specs: Sequence[HostSpec], hosts: Sequence[NetnsHost] = (), settle: float = SETTLE
) -> AsyncIterator[Fleet]:
    """A Fleet of `specs`, closed and checked for leaks (close_and_check) however the case ends."""
    tasks = other_tasks()
    fleet = Fleet(Inventory(list(specs)))
    try:
        yield fleet
    finally:
        await close_and_check(fault, fleet, tasks, hosts, settle)


async def broken_mid_host_stats(
    fleet: Fleet, host: str, interval: int, breaking: Callable[[], None]
) -> tuple[str, float]:
    """Start a host_stats sampling for `interval` s, call `breaking` a second in, and return the
    error the call ended with and how many seconds after the break it came."""
    stats = asyncio.create_task(host_stats(fleet, HostRef(host=host), interval=interval))
    await asyncio.sleep(1.0)  # iostat is sampling
    breaking()
    broken = time.monotonic()
    try:
        await stats
    except HostError as e:
        return str(e), time.monotonic() - broken
    raise AssertionError(f"host_stats on '{host}' succeeded although it was broken mid-command")
