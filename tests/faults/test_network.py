"""A host whose network goes silent (link down: no RST, no ICMP), idle, mid-listing and mid-command.

The silent host lives in a network namespace (tests/rig/netns.py); its inventory entry says
connect_timeout 3 and command_timeout 10, and those numbers, not keepalive defaults or TCP's
retransmission timers, must bound how long a call waits for it. The healthy hosts are the rig's
shared sshd (libvirt's test driver and qemu:///system), listed as usual meanwhile.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from contextlib import AbstractAsyncContextManager
from pathlib import Path

import pytest

from qemu_mcp.config import HostSpec
from qemu_mcp.ops.fleet import Fleet, HostRef
from qemu_mcp.ops.host_io import host_stats
from qemu_mcp.ops.vms import list_vms
from qemu_mcp.transport.ssh import SSHRunner
from tests.conftest import key_host
from tests.faults.conftest import FaultRecord
from tests.faults.rig_checks import broken_mid_host_stats, checked_fleet, wait_until
from tests.rig import TEST_DRIVER_URI
from tests.rig.netns import NetnsHost, netns_host

pytestmark = pytest.mark.integration

CONNECT_TIMEOUT = 3.0
COMMAND_TIMEOUT = 10.0
MARGIN = 2.0  # scheduling, the healthy hosts' own listing, a loaded CI machine
# A connection dropped while the link was down still has a session on the host until our FIN gets
# through after the link is back, on TCP's retransmission backoff: seconds, not the usual moment.
SESSIONS_END_WITHIN = 20.0
SILENT = "silent"


@pytest.fixture
def silent_host(rig_dir: Path, client_key: Path) -> Iterator[NetnsHost]:
    with netns_host(rig_dir, client_key) as h:
        yield h


def silent_spec(h: NetnsHost) -> HostSpec:
    return key_host(h.host, SILENT, backend="libvirt", libvirt_uri=TEST_DRIVER_URI,
                    connect_timeout=CONNECT_TIMEOUT, command_timeout=COMMAND_TIMEOUT)  # fmt: skip


def fleet_of(fault: FaultRecord, h: NetnsHost, sshd_host) -> AbstractAsyncContextManager[Fleet]:  # type: ignore[no-untyped-def]
    """The silent host and two healthy ones (the rig's shared sshd), checked for leaks at the end."""
    specs = [
        silent_spec(h),
        key_host(sshd_host, "steady-test", backend="libvirt", libvirt_uri=TEST_DRIVER_URI),
        key_host(sshd_host, "steady-system", backend="libvirt"),
    ]
    return checked_fleet(fault, specs, [h], SESSIONS_END_WITHIN)


def runner_of(fleet: Fleet) -> SSHRunner:
    runner = fleet.runner(fleet.inventory.get(SILENT))
    assert isinstance(runner, SSHRunner)
    return runner


async def timed_listing(fleet: Fleet) -> tuple[float, dict[str, str], set[str]]:
    """(seconds, host -> error, hosts that listed VMs) of one fleet-wide list_vms."""
    start = time.monotonic()
    out = await list_vms(fleet)
    took = time.monotonic() - start
    return took, {e.host: e.error for e in out.errors}, {v.host for v in out.vms}


def check_silent_error(fault: FaultRecord, message: str) -> None:
    fault.clear_error(message, f"'{SILENT}'", ("did not answer", "stopped answering"), "check")


async def reconnects(fault: FaultRecord, fleet: Fleet, h: NetnsHost) -> None:
    """The link is back: the next listing opens a new connection and lists every host."""
    h.restore()
    before = runner_of(fleet).connects
    fault.called()
    _, errors, listed = await timed_listing(fleet)
    assert not errors, errors
    assert {SILENT, "steady-test"} <= listed  # steady-system answered too; it may have no VMs
    assert runner_of(fleet).connects == before + 1


def silent_in_listing(fault: FaultRecord, errors: dict[str, str], listed: set[str]) -> None:
    """Only the silent host failed, clearly; the others were listed."""
    assert set(errors) == {SILENT}, errors
    check_silent_error(fault, errors[SILENT])
    assert "steady-test" in listed


@pytest.mark.fault("host network goes silent")
async def test_a_silent_host_costs_a_fleet_listing_its_connect_timeout(  # type: ignore[no-untyped-def]
    silent_host: NetnsHost, sshd_host, libvirtd_running: None, fault: FaultRecord
) -> None:
    async with fleet_of(fault, silent_host, sshd_host) as fleet:
        fault.called()
        _, errors, listed = await timed_listing(fleet)
        assert not errors and SILENT in listed  # the pooled connection is open now
        silent_host.silence()
        fault.called()
        took, errors, listed = await timed_listing(fleet)
        fault.notes.append(f"fleet list_vms, pooled connection to a silent host: answered in {took:.1f} s")
        silent_in_listing(fault, errors, listed)
        assert took <= CONNECT_TIMEOUT + MARGIN, f"took {took:.1f} s"

        # A fresh server meets the silent host with no connection at all: one connect_timeout, no retries.
        async with fleet_of(fault, silent_host, sshd_host) as fresh:
            fault.called()
            took, errors, listed = await timed_listing(fresh)
            silent_host.restore()  # so that the session check at the close sees a live link
        fault.notes.append(f"fleet list_vms, new connection to a silent host: answered in {took:.1f} s")
        silent_in_listing(fault, errors, listed)
        assert took <= CONNECT_TIMEOUT + MARGIN, f"took {took:.1f} s"
        await reconnects(fault, fleet, silent_host)


@pytest.mark.fault("host network goes silent")
async def test_a_host_going_silent_mid_listing(  # type: ignore[no-untyped-def]
    silent_host: NetnsHost, sshd_host, libvirtd_running: None, fault: FaultRecord
) -> None:
    async with fleet_of(fault, silent_host, sshd_host) as fleet:
        fault.called()
        assert not (await timed_listing(fleet))[1]
        silent_host.slow_virsh("list", 20)  # the silent host's listing is running when its link drops
        calls = len(silent_host.virsh_calls())
        listing = asyncio.create_task(timed_listing(fleet))
        await wait_until(lambda: len(silent_host.virsh_calls()) > calls, "the listing to reach virsh")
        silent_host.silence()
        dropped = time.monotonic()
        fault.called()
        _, errors, listed = await listing
        after_drop = time.monotonic() - dropped
        fault.notes.append(f"fleet list_vms, host silent mid-listing: answered {after_drop:.1f} s after the drop")
        silent_in_listing(fault, errors, listed)
        assert after_drop <= CONNECT_TIMEOUT + MARGIN, f"{after_drop:.1f} s after the drop"
        silent_host.slow_virsh("", 0)
        await reconnects(fault, fleet, silent_host)


@pytest.mark.fault("host network goes silent")
async def test_a_host_going_silent_mid_command(silent_host: NetnsHost, fault: FaultRecord) -> None:
    async with checked_fleet(fault, [silent_spec(silent_host)], [silent_host], SESSIONS_END_WITHIN) as fleet:
        ref = HostRef(host=SILENT)
        fault.called()
        await host_stats(fleet, ref, interval=1)  # connected
        fault.called()
        message, after_drop = await broken_mid_host_stats(fleet, SILENT, 8, silent_host.silence)
        fault.notes.append(f"host_stats, host silent mid-command: failed {after_drop:.1f} s after the drop")
        check_silent_error(fault, message)
        assert after_drop <= COMMAND_TIMEOUT, f"{after_drop:.1f} s after the drop"
        silent_host.restore()
        before = runner_of(fleet).connects
        fault.called()
        assert (await host_stats(fleet, ref, interval=1)).host == SILENT
        assert runner_of(fleet).connects == before + 1
