"""A host's sshd killed (SIGKILL, listener and sessions) during a read, a write and a count=0
monitor, and a host that comes back with a new host key. Each host is a dedicated sshd in its own
network namespace (tests/rig/netns.py), never the session's shared sshd.

What a dead sshd must not do: hang a call, run a change twice, lose the samples a monitor had.
What a new host key must not do: get a command or a credential sent to it, or be accepted
silently; what happens to a connection that was open across the change is decided in
qemu_mcp/transport/trust.py and checked here.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from qemu_mcp.config import HostSpec
from qemu_mcp.errors import HostKeyRefused, QemuMcpError
from qemu_mcp.models_monitor import MonitorSample
from qemu_mcp.ops.fleet import Fleet, HostRef
from qemu_mcp.ops.manage.actions import manage_vm
from qemu_mcp.ops.manage.request import parse_request
from qemu_mcp.ops.monitor import monitor_vm
from qemu_mcp.ops.vms import get_vm_info, list_vms
from qemu_mcp.transport.ssh import SSHRunner
from tests.conftest import key_host
from tests.faults.conftest import FaultRecord
from tests.faults.rig_checks import broken_mid_host_stats, checked_fleet, wait_until
from tests.integration.manage_helpers import Area, define_stopped, manage_area, virsh
from tests.rig import TEST_DRIVER_URI
from tests.rig.netns import NetnsHost, netns_host

pytestmark = pytest.mark.integration

HOST = "sshd-victim"
REF = HostRef(host=HOST)
DEAD_SSHD = ("refused the connection", "was lost")
MARGIN = 2.0


@pytest.fixture
def victim(rig_dir: Path, client_key: Path) -> Iterator[NetnsHost]:
    with netns_host(rig_dir, client_key) as h:
        yield h


def spec_of(h: NetnsHost, uri: str = TEST_DRIVER_URI) -> HostSpec:
    return key_host(h.host, HOST, backend="libvirt", libvirt_uri=uri, connect_timeout=3, command_timeout=10)


def runner_of(fleet: Fleet) -> SSHRunner:
    runner = fleet.runner(fleet.inventory.get(HOST))
    assert isinstance(runner, SSHRunner)
    return runner


async def comes_back(fault: FaultRecord, fleet: Fleet, h: NetnsHost) -> None:
    """sshd restarts: the next call opens a new connection and works."""
    h.start_sshd()
    before = runner_of(fleet).connects
    fault.called()
    assert (await list_vms(fleet, REF)).vm_count >= 1
    assert runner_of(fleet).connects == before + 1


@pytest.mark.fault("sshd killed mid-call")
async def test_sshd_killed_during_a_read(victim: NetnsHost, fault: FaultRecord) -> None:
    async with checked_fleet(fault, [spec_of(victim)], [victim]) as fleet:
        fault.called()
        await list_vms(fleet, REF)
        fault.called()
        message, took = await broken_mid_host_stats(fleet, HOST, 5, victim.kill_sshd)
        fault.notes.append(f"host_stats with sshd killed mid-command: failed {took:.1f} s after the kill")
        fault.clear_error(message, f"'{HOST}'", DEAD_SSHD, ("sshd", "check"))
        assert took <= MARGIN + 3, f"{took:.1f} s"
        await comes_back(fault, fleet, victim)


@pytest.fixture
def area(libvirtd_running: None) -> Iterator[Area]:
    with manage_area() as a:
        yield a


def memory_mib(name: str) -> tuple[int, int]:
    """(max, current) memory of the definition, MiB, as the host has it."""
    lines = virsh("dominfo", "--domain", name).stdout.splitlines()
    value = {ln.split(":")[0]: int(ln.split()[2]) // 1024 for ln in lines if ln.endswith("KiB")}
    return value["Max memory"], value["Used memory"]


@pytest.mark.fault("sshd killed mid-call")
async def test_sshd_killed_during_a_write_never_runs_it_twice(
    victim: NetnsHost, area: Area, fault: FaultRecord
) -> None:
    name = area.name("write")
    define_stopped(area, name, 128)
    async with checked_fleet(fault, [spec_of(victim, "qemu:///system")], [victim]) as fleet:
        victim.slow_virsh("setmaxmem", 3)  # the change is running on the host when sshd dies
        change = asyncio.create_task(manage_vm(fleet, REF, parse_request(name, "modify", memory="192M")))
        await wait_until(lambda: any("setmaxmem" in c for c in victim.virsh_calls()), "the change to start")
        victim.kill_sshd()
        fault.called()
        with pytest.raises(QemuMcpError) as failed:
            await change
        message = str(failed.value)
        fault.clear_error(message, f"'{HOST}'", DEAD_SSHD, "may or may not have taken effect")
        # The orphaned command finishes its sleep and runs (or dies): wait for it to end.
        await wait_until(lambda: not victim.commands_running(), "the orphaned change to end")
        runs = [c for c in victim.virsh_calls() if "setmaxmem" in c]
        if len(runs) != 1:
            fault.lost(f"the memory change reached virsh {len(runs)} times: {runs}")
        after = memory_mib(name)
        fault.notes.append(f"write with sshd killed mid-command: (max, current) memory {after} MiB after")
        if after not in ((128, 128), (192, 192)):  # the whole change once, or none of it
            fault.lost(f"the memory change was cut in half: (max, current) = {after} MiB")
        victim.slow_virsh("", 0)
        victim.start_sshd()
        fault.called()
        info = await get_vm_info(fleet, name, REF)  # reconnects; reads what the host really has
        assert (info.max_memory, info.memory) == after


@pytest.mark.fault("sshd killed mid-call")
async def test_sshd_killed_during_a_count_0_monitor(victim: NetnsHost, fault: FaultRecord) -> None:
    seen: list[MonitorSample] = []

    async def progress(n: int, total: int | None, sample: MonitorSample) -> None:
        seen.append(sample)
        if n == 2:
            victim.kill_sshd()

    async with checked_fleet(fault, [spec_of(victim)], [victim]) as fleet:
        fault.called()
        start = time.monotonic()
        data = await asyncio.wait_for(
            monitor_vm(fleet, "test", REF, interval=1, count=0, max_duration=60, progress=progress), 30
        )
        took = time.monotonic() - start
        fault.notes.append(f"count=0 monitor, sshd killed after 2 samples: ended after {took:.1f} s")
        assert data.samples == len(seen) >= 2 and data.ended == "host-error", data
        fault.clear_error(data.note or "", f"'{HOST}'", DEAD_SSHD, f"after {data.samples} sample(s)")
        await comes_back(fault, fleet, victim)


@pytest.mark.fault("host key changed")
async def test_a_new_host_key_is_refused_before_anything_is_sent(victim: NetnsHost, fault: FaultRecord) -> None:
    async with checked_fleet(fault, [spec_of(victim)], [victim]) as fleet:
        fault.called()
        await list_vms(fleet, REF)  # a kept connection, verified with the old key
        calls = len(victim.virsh_calls())
        victim.kill_sshd()  # the host is reinstalled: its sshd and every session are gone
        new_key = victim.rekey()
        victim.start_sshd()
        for _ in range(2):  # refused every time, not just once
            fault.called()
            with pytest.raises(HostKeyRefused) as refused:
                await list_vms(fleet, REF)
            fault.clear_error(str(refused.value), f"'{HOST}'", "CHANGED", victim.host.known_hosts, "ssh-keygen -f")
        assert runner_of(fleet).connects == 1  # no connection to the new key was ever completed
        assert len(victim.virsh_calls()) == calls, "a command reached the host"
        assert "Accepted publickey" not in victim.log().split("Server listening")[-1], "we logged in"
        victim.trust(new_key)  # the fix the error names
        fault.called()
        assert (await list_vms(fleet, REF)).vm_count >= 1
        assert runner_of(fleet).connects == 2


@pytest.mark.fault("host key changed")
async def test_a_connection_open_across_a_key_change(victim: NetnsHost, fault: FaultRecord) -> None:
    """sshd restarted with a new key while our session stays (a service restart keeps sessions):
    the open connection still talks to the process that proved the old key and is used until
    known_hosts changes; then it is retired, and the next connection is checked against the new
    entry. Documented in qemu_mcp/transport/trust.py."""
    async with checked_fleet(fault, [spec_of(victim)], [victim]) as fleet:
        fault.called()
        await list_vms(fleet, REF)
        victim.kill_listener()
        new_key = victim.rekey()
        victim.start_sshd()
        fault.called()
        await list_vms(fleet, REF)  # the open connection, verified with the key known_hosts lists
        assert runner_of(fleet).connects == 1
        victim.trust(new_key)  # known_hosts now lists the new key only
        fault.called()
        await list_vms(fleet, REF)
        assert runner_of(fleet).connects == 2, "the connection verified with the old key was reused"
        await wait_until(lambda: victim.sshd_sessions() <= 2, "the old session to end")  # [priv] + user
        assert runner_of(fleet).open_connections == 1
