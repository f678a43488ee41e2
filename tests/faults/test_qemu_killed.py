"""A QEMU process SIGKILLed under monitor_vm_status (issue 10), on a libvirt guest and on a
plain-QEMU VM: the series ends cleanly with the samples it had and says why, no SSH channel
(QMP's forwarded socket included) or task is left behind, and reads afterwards report the VM
stopped. On plain QEMU the stale pidfile is reported by reads and removed only by manage_vm."""

from __future__ import annotations

import asyncio
import os
import signal
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from mcp import Client

from qemu_mcp.config import HostSpec, Inventory
from qemu_mcp.frontends.mcp.server import build_server
from qemu_mcp.models_monitor import MonitorData, MonitorSample
from qemu_mcp.ops.fleet import Fleet, HostRef
from qemu_mcp.ops.monitor import monitor_vm
from qemu_mcp.transport.ssh import SSHRunner
from tests.conftest import key_host
from tests.faults.conftest import FaultRecord
from tests.integration.manage_helpers import Area, data, domstate, manage_area
from tests.integration.qemu_helpers import QemuArea, cmdline, qemu_area, running_qemu, wait_for

pytestmark = pytest.mark.integration
KILL_AFTER = 2  # samples
CREATE = {"action": "create", "arch": "x86_64", "memory": "128M", "disk": "size=16M", "start": True}


async def call(client: Client, host: str, tool: str, **args: Any) -> Any:
    return data(await client.call_tool(tool, {"host": host, **args}))


async def monitor_and_kill(spec: HostSpec, name: str, pid: int, count: int, fault: FaultRecord) -> MonitorData:
    """A series on `name` whose qemu (pid) is SIGKILLed after KILL_AFTER samples; checks it ends
    with those samples and that the runner has no channel open and no task is left afterwards."""

    async def kill_at(n: int, _total: int | None, _sample: MonitorSample) -> None:
        if n == KILL_AFTER:
            os.kill(pid, signal.SIGKILL)

    fleet = Fleet(Inventory([spec]))
    try:
        before = asyncio.all_tasks()
        run = monitor_vm(fleet, name, HostRef(host=spec.name), interval=1, count=count, progress=kill_at,
                         max_duration=60)  # fmt: skip
        series = await asyncio.wait_for(run, 60)
        fault.called()
        assert series.samples == KILL_AFTER, series
        assert series.ended == "vm-stopped" and series.note, series
        fault.notes.append(series.note)
        fault.clear_error(series.note, f"'{name}'", ("shut off", "crashed", "stopped"), f"after {KILL_AFTER} sample")
        await _check_nothing_left(fleet, spec, before, fault)
    finally:
        await fleet.close()
    return series


async def _check_nothing_left(fleet: Fleet, spec: HostSpec, before: set[asyncio.Task[Any]], fault: FaultRecord) -> None:
    runner = fleet.runner(spec)
    assert isinstance(runner, SSHRunner)
    conn = runner._commands._conn  # the commands' kept connection
    channels = conn._channels if conn is not None else {}  # asyncssh's open channels of this connection
    for _ in range(40):  # a closing channel is forgotten once sshd confirms the close
        if not channels:
            break
        await asyncio.sleep(0.05)
    for channel in channels.values():
        fault.leaked(f"SSH channel {channel!r} still open after the series")
    for task in asyncio.all_tasks() - before:
        if not task.done():
            fault.leaked(f"task {task.get_name()} still running after the series")


@pytest.fixture
def area(libvirtd_running: None) -> Iterator[Area]:
    with manage_area() as a:
        yield a


def libvirt_qemu_pid(name: str) -> int:
    return int(Path(f"/run/libvirt/qemu/{name}.pid").read_text().strip())


@pytest.mark.fault("qemu killed under a monitor")
async def test_libvirt_guest_killed_under_a_monitor(sshd_host, area: Area, fault: FaultRecord) -> None:  # type: ignore[no-untyped-def]
    spec = key_host(sshd_host, vm_dir=area.dir, accel="tcg")
    name = area.name("killed")
    async with Client(build_server(Inventory([spec]))) as client:
        await call(client, "rig", "manage_vm", name=name, **CREATE)
        fault.called()
        pid = libvirt_qemu_pid(name)
        await monitor_and_kill(spec, name, pid, 0, fault)
        wait_for(lambda: not cmdline(pid), what="qemu to die")
        info = await call(client, "rig", "get_vm_info", name=name)
        fault.called()
        assert info["status"] in ("stopped", "crashed") and domstate(name).startswith("shut off"), info
        await call(client, "rig", "manage_vm", name=name, action="delete", confirm=True)
        fault.called()


@pytest.mark.fault("qemu killed under a monitor")
async def test_plain_qemu_killed_under_a_monitor(qemu_only_sshd_host, fault: FaultRecord) -> None:  # type: ignore[no-untyped-def]
    with qemu_area() as area:
        spec = key_host(qemu_only_sshd_host, name="plain", vm_dir=area.vm_dir)
        await _plain_qemu_case(spec, area, fault)


async def _plain_qemu_case(spec: HostSpec, area: QemuArea, fault: FaultRecord) -> None:
    name = "killed"
    pidfile = area.home(name) / "pid"
    async with Client(build_server(Inventory([spec]))) as client:
        await call(client, "plain", "manage_vm", name=name, **CREATE)
        fault.called()
        pid, _ = running_qemu(area, name)
        await monitor_and_kill(spec, name, pid, 8, fault)
        wait_for(lambda: not cmdline(pid), what="qemu to die")
        for tool, args in (("get_vm_info", {"name": name}), ("list_vms", {})):
            seen = await call(client, "plain", tool, **args)
            fault.called()
            vm = seen if tool == "get_vm_info" else next(v for v in seen["vms"] if v["name"] == name)
            assert vm["status"] == "stopped", vm
            assert any(f"stale pidfile: pid {pid}" in n for n in vm["notes"]), vm["notes"]
            assert pidfile.exists(), f"{tool} removed the stale pidfile: only manage_vm flows may"
        await call(client, "plain", "manage_vm", name=name, action="start")
        fault.called()
        new_pid, _ = running_qemu(area, name)
        assert new_pid != pid
        await call(client, "plain", "manage_vm", name=name, action="delete", force=True, confirm=True)
        fault.called()
    if area.home(name).exists():
        fault.leaked(f"{area.home(name)} after delete")
