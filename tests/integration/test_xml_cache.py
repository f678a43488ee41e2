"""Warm listings keep domain XML while libvirt's events and domstats say it did not change
(backends/libvirt/xml_cache.py), over the rig's real sshd and libvirtd: a warm listing reads no
XML, yet every change shows in the next listing, announced by an event or not, and the event
watch is replaced when it dies and ends with the fleet, leaving no virsh on the host."""

from __future__ import annotations

import asyncio
import re
import subprocess
from collections.abc import Iterator, Sequence

import pytest

from qemu_mcp.backends.libvirt.event_watch import GRACE
from qemu_mcp.backends.libvirt.session import Command, VirshSessions, command_line
from qemu_mcp.config import HostSpec, Inventory
from qemu_mcp.models import VmInfo
from qemu_mcp.ops.fleet import Fleet, HostRef
from qemu_mcp.ops.vms import list_vms
from tests.integration.manage_helpers import Area, define_stopped, inactive_xml, manage_area, virsh

pytestmark = pytest.mark.integration
RIG = HostRef(host="rig")
URI = "qemu+unix:///system"  # libvirtd's system socket, named so no other test's watch looks like ours
WATCHES = re.escape(f"virsh -q -c {URI} event --all --loop")  # pgrep/pkill take a regex


@pytest.fixture
def libvirt_spec(rig_spec: HostSpec) -> HostSpec:
    return rig_spec.model_copy(update={"backend": "libvirt", "libvirt_uri": URI})


@pytest.fixture
def area(libvirtd_running: None) -> Iterator[Area]:
    with manage_area() as a:
        yield a


def record(sessions: VirshSessions) -> list[str]:
    """Every command line the pool runs from now on (the real pool, run as usual)."""
    lines: list[str] = []
    run = sessions.run

    async def recording(commands: Sequence[Command], timeout: float):  # type: ignore[no-untyped-def]
        lines.extend(command_line(c) for c in commands)
        return await run(commands, timeout)

    sessions.run = recording  # type: ignore[method-assign]
    return lines


async def warm(fleet: Fleet, spec: HostSpec, area: Area) -> VirshSessions:
    """Listed twice (the second starts the watch), the watch trusted, listed again: the XML of the
    area's domains is kept."""
    for _ in range(2):
        await list_vms(fleet, RIG, filter_name=area.prefix)
    await asyncio.sleep(GRACE + 0.5)
    await list_vms(fleet, RIG, filter_name=area.prefix)
    sessions = fleet.sessions(spec)
    assert sessions is not None
    return sessions


async def listed(fleet: Fleet, area: Area) -> dict[str, VmInfo]:
    return {v.name: v for v in (await list_vms(fleet, RIG, filter_name=area.prefix)).vms}


async def one_shot(spec: HostSpec, area: Area) -> list[dict]:
    fleet = Fleet(Inventory([spec]), virsh_sessions=False)
    try:
        return [v.model_dump(exclude={"cpu_time_ns"}) for v in (await listed(fleet, area)).values()]
    finally:
        await fleet.close()


def watches() -> int:
    return len(subprocess.run(["pgrep", "-f", WATCHES], capture_output=True, text=True).stdout.split())


async def test_a_warm_listing_reads_no_xml_yet_sees_every_change(libvirt_spec: HostSpec, area: Area) -> None:
    a, b = area.name("a"), area.name("b")
    define_stopped(area, a, 64)
    define_stopped(area, b, 64)
    fleet = Fleet(Inventory([libvirt_spec]))
    try:
        sessions = await warm(fleet, libvirt_spec, area)
        lines = record(sessions)
        vms = await listed(fleet, area)
        assert not any("dumpxml" in line for line in lines), lines
        assert [v.model_dump(exclude={"cpu_time_ns"}) for v in vms.values()] == await one_shot(libvirt_spec, area)
        # Announced by an event ("Defined Updated"): a VNC display added to b's definition.
        xml = inactive_xml(b).replace("</devices>", "<graphics type='vnc' port='-1' autoport='yes'/></devices>")
        path = f"{area.dir}/{b}-vnc.xml"
        with open(path, "w") as f:
            f.write(xml)
        assert virsh("define", "--file", path).returncode == 0
        # Announced by no event, seen in domstats: a's maximum memory.
        assert virsh("setmaxmem", "--domain", a, "--size", "128M", "--config").returncode == 0
        vms = await listed(fleet, area)
        assert [g.type for g in vms[b].graphics] == ["vnc"]
        assert vms[a].max_memory == 128
        # Any changing command of ours on the host (here one that changes nothing): all XML is read again.
        await listed(fleet, area)
        lines.clear()
        runner = fleet.runner(libvirt_spec)
        before = runner.changes  # type: ignore[attr-defined]
        assert (await runner.run(["true"])).exit_status == 0
        assert runner.changes == before + 2  # type: ignore[attr-defined]
        await listed(fleet, area)
        assert sum(line.count("dumpxml") for line in lines) >= 2, lines
        # Gone, and a new domain with the old name: never the old XML under the new UUID.
        assert virsh("undefine", "--domain", b).returncode == 0
        new_b = define_stopped(area, b, 96)
        vms = await listed(fleet, area)
        assert (vms[b].uuid, vms[b].max_memory, vms[b].graphics) == (new_b, 96, [])
        assert [v.model_dump(exclude={"cpu_time_ns"}) for v in vms.values()] == await one_shot(libvirt_spec, area)
    finally:
        await fleet.close()


async def test_a_watch_killed_on_the_host_is_replaced_and_ends_with_the_fleet(
    libvirt_spec: HostSpec, area: Area
) -> None:
    a = area.name("a")
    define_stopped(area, a, 64)
    before = watches()  # 0: only this module names URI, and each test's fleet is closed
    fleet = Fleet(Inventory([libvirt_spec]))
    try:
        sessions = await warm(fleet, libvirt_spec, area)
        assert len(sessions.xml_cache) >= 1 and watches() == before + 1
        generation = sessions.xml_cache.watch.generation
        assert subprocess.run(["pkill", "-f", WATCHES]).returncode == 0
        for _ in range(50):  # the watch's end reaches us through the channel's close
            if sessions.xml_cache.watch.generation != generation:
                break
            await asyncio.sleep(0.1)
        assert sessions.xml_cache.watch.generation != generation and len(sessions.xml_cache) == 0
        assert virsh("setmaxmem", "--domain", a, "--size", "96M", "--config").returncode == 0
        lines = record(sessions)
        vms = await listed(fleet, area)
        assert vms[a].max_memory == 96 and any("dumpxml" in line for line in lines)
        await asyncio.sleep(GRACE + 0.5)
        await listed(fleet, area)
        assert watches() == before + 1 and len(sessions.xml_cache) >= 1  # a new watch, trusted again
    finally:
        await fleet.close()
    for _ in range(50):
        if watches() <= before:
            break
        await asyncio.sleep(0.1)
    assert watches() <= before, "the event watch's virsh outlived fleet.close()"
