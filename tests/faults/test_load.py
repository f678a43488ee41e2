"""200 concurrent calls over 10 inventory hosts: every call is answered (a result, or a clear
error), none hangs, and closing the Fleet leaves no connection, task or sshd session behind.

The 10 hosts are names for three dedicated sshds in network namespaces, all with libvirt's test
driver, so the load is qemu-mcp's and sshd's, not the guests'.
"""

from __future__ import annotations

import asyncio
import contextlib
import statistics
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from qemu_mcp.config import Inventory
from qemu_mcp.errors import QemuMcpError
from qemu_mcp.ops.fleet import Fleet, HostRef
from qemu_mcp.ops.vms import get_vm_info, list_vms
from qemu_mcp.transport.ssh import SSHRunner
from tests.conftest import key_host
from tests.faults.conftest import FaultRecord
from tests.faults.rig_checks import close_and_check, other_tasks
from tests.rig import TEST_DRIVER_URI
from tests.rig.netns import NetnsHost, netns_host

pytestmark = pytest.mark.integration

CALLS = 200
HOSTS = 10
SSHDS = 3
ALL_ANSWERED_WITHIN = 180.0  # seconds for the whole burst: far beyond any per-call bound


@pytest.fixture
def sshds(rig_dir: Path, client_key: Path) -> Iterator[list[NetnsHost]]:
    with contextlib.ExitStack() as stack:
        yield [stack.enter_context(netns_host(rig_dir, client_key)) for _ in range(SSHDS)]


async def one_call(fleet: Fleet, i: int) -> tuple[float, str | None]:
    """(seconds, error message or None) of call i: a listing or a VM's details, on host i % 10."""
    ref = HostRef(host=f"load{i % HOSTS}")
    start = time.monotonic()
    try:
        if i % 2:
            await get_vm_info(fleet, "test", ref)
        else:
            await list_vms(fleet, ref)
    except QemuMcpError as e:
        return time.monotonic() - start, str(e)
    return time.monotonic() - start, None


@pytest.mark.fault("200 concurrent calls")
async def test_200_concurrent_calls_over_10_hosts(sshds: list[NetnsHost], fault: FaultRecord) -> None:
    tasks = other_tasks()
    fleet = Fleet(Inventory([
        key_host(sshds[n % SSHDS].host, f"load{n}", backend="libvirt", libvirt_uri=TEST_DRIVER_URI)
        for n in range(HOSTS)
    ]))  # fmt: skip
    try:
        start = time.monotonic()
        async with asyncio.timeout(ALL_ANSWERED_WITHIN):
            results = await asyncio.gather(*(one_call(fleet, i) for i in range(CALLS)))
        wall = time.monotonic() - start
        fault.called(CALLS)
        latencies = sorted(t for t, _ in results)
        errors = [(i, e) for i, (_, e) in enumerate(results) if e is not None]
        for i, message in errors:
            fault.clear_error(message, f"'load{i % HOSTS}'")
        p50 = statistics.median(latencies)
        p99 = latencies[int(0.99 * (len(latencies) - 1))]
        fault.notes.append(f"{CALLS} calls over {HOSTS} hosts: p50 {p50:.2f} s, p99 {p99:.2f} s, all in {wall:.1f} s, "
                           f"{len(errors)} error(s)")  # fmt: skip
        assert not errors, errors[:3]
        runners = [r for r in fleet.pool.runners() if isinstance(r, SSHRunner)]
        assert len(runners) == HOSTS and all(r.connects == 1 for r in runners), [r.connects for r in runners]
    finally:
        await close_and_check(fault, fleet, tasks, sshds)
