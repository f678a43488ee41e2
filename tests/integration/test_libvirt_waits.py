"""libvirt waits run on the host on the domain's own events: a stop wait wakes when the domain
stops (not at the next poll), and the reboot listener is up before the reboot is asked for."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator

import pytest

from qemu_mcp.backends.libvirt import waits
from qemu_mcp.config import HostSpec, Inventory
from qemu_mcp.ops.fleet import Fleet, HostRef
from qemu_mcp.ops.manage import parse_request
from qemu_mcp.ops.manage.actions import manage_vm
from qemu_mcp.transport.local import LocalRunner
from tests.integration.manage_helpers import Area, manage_area, virsh

pytestmark = pytest.mark.integration
URI = "qemu:///system"


@pytest.fixture(scope="module")
def area(libvirtd_running: None) -> Iterator[Area]:
    with manage_area() as a:
        yield a


async def running_vm(area: Area, suffix: str) -> str:
    fleet = Fleet(Inventory([HostSpec(name="local", vm_dir=area.dir, accel="tcg")]))
    try:
        req = parse_request(area.name(suffix), "create", arch="x86_64", memory="128M", disk="size=16M", start=True)
        await manage_vm(fleet, HostRef(), req)
    finally:
        await fleet.close()
    return virsh("domuuid", "--domain", area.name(suffix)).stdout.strip()


async def test_stop_wait_wakes_on_the_stop_event(area: Area) -> None:
    uuid = await running_vm(area, "stopwait")
    runner = LocalRunner()
    waiting = asyncio.create_task(runner.run(waits.wait_stopped(URI, uuid, 60), read_only=True))
    await asyncio.sleep(2)
    assert not waiting.done()  # still running: nothing stopped it yet
    stopped_at = time.monotonic()
    assert virsh("destroy", "--domain", uuid).returncode == 0
    result = await asyncio.wait_for(waiting, 30)
    assert result.stdout.strip() == "stopped" and result.exit_status == 0
    assert time.monotonic() - stopped_at < waits.POLL_CAP + 2  # the event, or at worst the next check


async def test_stop_wait_times_out_and_reports_gone(area: Area) -> None:
    uuid = await running_vm(area, "stoptime")
    runner = LocalRunner()
    result = await runner.run(waits.wait_stopped(URI, uuid, 2), read_only=True)
    assert result.stdout.strip() == "timeout"
    virsh("destroy", "--domain", uuid)
    virsh("undefine", "--domain", uuid)
    result = await runner.run(waits.wait_stopped(URI, uuid, 2), read_only=True)
    assert result.stdout.strip() == "gone"


async def test_reboot_listener_is_up_before_the_request(area: Area) -> None:
    uuid = await running_vm(area, "reboot")
    runner = LocalRunner()
    # The guest has no OS: it ignores the ACPI reboot. A reset right after the request is a reboot
    # event the listener must already be there for.
    task = asyncio.create_task(runner.run(waits.reboot_and_wait(URI, uuid, 20), read_only=False))
    await asyncio.sleep(float(waits.HEAD_START) + 0.5)
    assert virsh("reset", "--domain", uuid).returncode == 0
    result = await asyncio.wait_for(task, 40)
    assert "event 'reboot'" in result.stdout, (result.stdout, result.stderr)
