"""libvirtd stopped and started again (issue 10), between calls and during them. The system
libvirtd is stopped with SIGTERM and always started again (scripts/start-services.sh) in a
finally; its running guests survive. On a `backend: auto` host, calls during the outage fail
saying which host, that libvirtd did not answer and what to do; the host is never switched to
plain QEMU (neither on a server that already used libvirt nor on a fresh one), list_vms never
reports it as having no VMs, nothing changes, and afterwards the same VMs are listed again.
A create and a monitor series that were running when libvirtd went down end clearly; the
create's leftover is named, marked, and removed by delete once libvirtd is back."""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from mcp import Client

from qemu_mcp.config import Inventory
from qemu_mcp.frontends.mcp.server import build_server
from qemu_mcp.ops import fleet as fleet_module
from qemu_mcp.ops.fleet import Fleet
from tests.conftest import key_host
from tests.faults.conftest import FaultRecord
from tests.integration.manage_helpers import Area, data, domstate, error, exists, inactive_xml, manage_area
from tests.integration.qemu_helpers import qemu_area
from tests.rig import Guests, SshHost
from tests.rig.host_faults import DelayedDefine, check_still_down, libvirtd_stopped, start_delayed_define_sshd
from tests.rig.sshd import PasswordAccount

pytestmark = pytest.mark.integration
DOWN = ("'rig'", "libvirtd", "did not answer", "start libvirtd")  # what every error of the outage says


@pytest.fixture
def fleets(monkeypatch: pytest.MonkeyPatch) -> list[Fleet]:
    """Every Fleet the servers of this test make (for their first call), so the test can ask what
    each learned."""
    made: list[Fleet] = []

    class Recorded(Fleet):
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            made.append(self)

    monkeypatch.setattr(fleet_module, "Fleet", Recorded)  # the server imports it when first called
    return made


@pytest.fixture
def area(libvirtd_running: None) -> Iterator[Area]:
    with manage_area() as a:
        yield a


async def call(client: Client, tool: str, host: str | None = "rig", **args: Any) -> Any:
    return await client.call_tool(tool, {"host": host, **args} if host else args)


def rig_names(listing: dict[str, Any]) -> set[str]:
    return {v["name"] for v in listing["vms"] if v["host"] == "rig"}


@pytest.mark.fault("libvirtd stopped between calls")
async def test_libvirtd_stopped_between_calls(  # type: ignore[no-untyped-def]
    sshd_host, qemu_only_sshd_host, guests: Guests, area: Area, fleets: list[Fleet], fault: FaultRecord
) -> None:
    rig = key_host(sshd_host, vm_dir=area.dir, accel="tcg")
    with qemu_area() as qarea:
        inventory = Inventory([rig, key_host(qemu_only_sshd_host, name="plain", vm_dir=qarea.vm_dir)])
        async with contextlib.AsyncExitStack() as stack:
            used = await stack.enter_async_context(Client(build_server(inventory)))
            before = rig_names(data(await call(used, "list_vms", host=None)))
            fault.called()
            assert {guests.running, guests.stopped} <= before and fleets[0].known_backend(rig) == "libvirt"
            stopped_xml = inactive_xml(guests.stopped)
            with libvirtd_stopped():
                await _calls_while_down(used, guests, fault)
                fresh = await stack.enter_async_context(Client(build_server(inventory)))
                await _calls_while_down(fresh, guests, fault)
                for fleet in fleets:
                    if fleet.known_backend(rig) == "qemu":
                        fault.lost("the rig host was switched to plain QEMU during the outage")
                assert fleets[0].known_backend(rig) == "libvirt" and fleets[1].known_backend(rig) is None
            for client, fleet in ((used, fleets[0]), (fresh, fleets[1])):
                after = rig_names(data(await call(client, "list_vms", host=None)))
                fault.called()
                assert fleet.known_backend(rig) == "libvirt"
                for name in sorted(before - after):
                    fault.lost(f"'{name}' is not listed after libvirtd came back")
    if domstate(guests.running) != "running" or domstate(guests.stopped) != "shut off":
        fault.lost(f"the guests' states changed: {domstate(guests.running)}, {domstate(guests.stopped)}")
    if inactive_xml(guests.stopped) != stopped_xml:
        fault.lost(f"the definition of '{guests.stopped}' changed during the outage")


async def _calls_while_down(client: Client, guests: Guests, fault: FaultRecord) -> None:
    """Every kind of call on the rig host while libvirtd is down: each fails clearly, none lists 0 VMs."""
    start = time.monotonic()
    fault.clear_error(down_error(await call(client, "list_vms")), *DOWN)
    fault.notes.append(f"list_vms failed after {time.monotonic() - start:.1f} s")
    fault.called()
    listed = (await call(client, "list_vms", host=None)).structured_content  # every host: rig's failure is named
    fault.called()
    both = listed["data"]
    if rig_names(both) or listed["success"]:
        check_still_down()
    assert not rig_names(both) and not listed["success"], listed  # no host answered with a VM
    failures = [e for e in both["errors"] if e["host"] == "rig"]
    if not failures:
        fault.lost(f"list_vms over every host reported no error for rig: {both}")
    else:
        fault.clear_error(failures[0]["error"], *DOWN)
    for tool, args in (
        ("get_vm_info", {"name": guests.running}),
        ("monitor_vm_status", {"name": guests.running, "interval": 1, "count": 1}),
        ("manage_vm", {"name": guests.stopped, "action": "start"}),
        ("manage_vm", {"name": guests.stopped, "action": "modify", "memory": "256M", "confirm": True}),
        ("manage_vm", {"name": guests.running, "action": "stop", "force": True, "confirm": True}),
    ):
        fault.called()
        fault.clear_error(down_error(await call(client, tool, **args)), *DOWN)


def down_error(result: Any) -> str:
    if not result.is_error:
        check_still_down()
    return error(result)


# ---- during calls


@pytest.fixture(scope="module")
def delayed(
    rig_dir: Path, client_key: Path, password_account: PasswordAccount, libvirtd_running: None
) -> Iterator[tuple[SshHost, DelayedDefine]]:
    sshd, control = start_delayed_define_sshd(rig_dir, client_key, password_account, name="virsh-delay-libvirtd")
    try:
        yield sshd.host, control
    finally:
        control.abort()
        sshd.stop()


@pytest.mark.fault("libvirtd stopped during calls")
async def test_libvirtd_stopped_during_a_create_and_a_monitor(  # type: ignore[no-untyped-def]
    delayed, guests: Guests, area: Area, fault: FaultRecord
) -> None:
    host, control = delayed
    rig = key_host(host, vm_dir=area.dir, accel="tcg")
    name = area.name("outage")
    disk = Path(area.dir, f"{name}.qcow2")
    control.hold_created(60)  # the create's final define waits until libvirtd is down
    async with Client(build_server(Inventory([rig]))) as client:
        create = asyncio.create_task(call(client, "manage_vm", name=name, action="create", arch="x86_64",
                                          memory="128M", disk="size=16M"))  # fmt: skip
        series = asyncio.create_task(call(client, "monitor_vm_status", name=guests.running, interval=1, count=0))
        try:
            await _wait_for(lambda: exists(name) and disk.is_file(), "the create's claim and disk image")
            await asyncio.sleep(2.5)  # the series has samples
            with libvirtd_stopped():
                control.release()  # the final define runs now, with libvirtd gone
                created, monitored = await asyncio.wait_for(asyncio.gather(create, series), 60)
        finally:
            control.abort()  # a define still held (the test failed early) must never land later
            for task in (create, series):
                task.cancel()
        fault.called(2)
        msg = down_error(created)
        fault.clear_error(msg, *DOWN, f"defining '{name}'", f"the domain '{name}' (uuid", "manage_vm delete")
        ended = data(monitored)
        assert ended["ended"] == "host-error" and ended["samples"] >= 1, ended
        fault.clear_error(ended["note"], *DOWN, "sampling stopped after")
        await _leftover_listed_then_deleted(client, name, disk, fault)


async def _leftover_listed_then_deleted(client: Client, name: str, disk: Path, fault: FaultRecord) -> None:
    listed = data(await call(client, "list_vms"))
    fault.called()
    mine = [v for v in listed["vms"] if v["name"] == name]
    assert len(mine) == 1 and "unfinished create" in json.dumps(mine[0]), mine
    data(await call(client, "manage_vm", name=name, action="delete", confirm=True))
    fault.called()
    if exists(name):
        fault.leaked(f"domain '{name}' after delete")
    if disk.exists():
        fault.leaked(f"{disk} after delete")


async def _wait_for(predicate: Any, what: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        await asyncio.sleep(0.1)
