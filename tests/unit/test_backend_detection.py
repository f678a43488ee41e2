"""An `auto` host becomes plain QEMU only on definitive evidence: virsh missing, or no libvirt
socket a moment later AND no libvirt daemon installed. A stopped or refusing libvirtd is an
error for the call, never a switch; a host that answered once stays libvirt."""

from __future__ import annotations

import pytest

from qemu_mcp.backends.libvirt.errors import LibvirtUnusable, check_batch
from qemu_mcp.config import HostSpec, Inventory
from qemu_mcp.ops import backend
from qemu_mcp.ops.backend import backend_of, with_backend
from qemu_mcp.ops.fleet import Fleet
from qemu_mcp.transport.base import Runner
from tests.fakes import Answer, Call, FakeRunner

SPEC = HostSpec(name="h", address="192.0.2.1")  # never reached: the runner is a fake
CONNECT = "error: failed to connect to the hypervisor\n"
NO_SOCKET = CONNECT + "error: Failed to connect socket to '/var/run/libvirt/libvirt-sock': No such file or directory\n"
REFUSED = CONNECT + "error: Failed to connect socket to '/var/run/libvirt/libvirt-sock': Connection refused\n"


@pytest.fixture(autouse=True)
def no_wait(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(backend, "SOCKET_RETRY_DELAY", 0.0)


def fleet_on(virsh: Answer, *, daemon_installed: bool) -> tuple[Fleet, FakeRunner]:
    def answer(call: Call) -> Answer:
        if call.has("virtqemud"):  # the daemon check
            return Answer(exit_status=0 if daemon_installed else 1)
        return virsh

    runner = FakeRunner(answer, host="h")
    fleet = Fleet(Inventory([SPEC]))
    fleet.pool._runners[SPEC] = runner
    return fleet, runner


async def listing(fleet: Fleet) -> str:
    async def libvirt(_: Runner) -> str:
        check_batch(await fleet.runner(SPEC).run(["virsh", "list"]), SPEC, "listing domains")
        return "libvirt"

    async def qemu(_: Runner) -> str:
        return "qemu"

    return await with_backend(fleet, SPEC, libvirt, qemu)


async def test_virsh_missing_makes_the_host_plain_qemu() -> None:
    fleet, _ = fleet_on(Answer(127, "", "env: 'virsh': No such file or directory\n"), daemon_installed=True)
    assert await listing(fleet) == "qemu" and fleet.known_backend(SPEC) == "qemu"


async def test_no_socket_and_no_daemon_makes_the_host_plain_qemu() -> None:
    fleet, runner = fleet_on(Answer(1, "", NO_SOCKET), daemon_installed=False)
    assert await backend_of(fleet, SPEC) == "qemu"
    assert runner.count("virtqemud") == 1 and fleet.known_backend(SPEC) == "qemu"


async def test_no_socket_with_an_installed_daemon_is_an_outage_not_a_switch() -> None:
    fleet, runner = fleet_on(Answer(1, "", NO_SOCKET), daemon_installed=True)
    for ask in (listing(fleet), backend_of(fleet, SPEC)):
        with pytest.raises(LibvirtUnusable) as raised:
            await ask
        message = str(raised.value)
        assert "libvirtd on host 'h' did not answer" in message and "installed but not running" in message
        assert "start libvirtd" in message
    assert fleet.known_backend(SPEC) is None and runner.count("virtqemud") == 2


async def test_a_refusing_libvirtd_is_an_error_without_asking_for_the_daemon() -> None:
    fleet, runner = fleet_on(Answer(1, "", REFUSED), daemon_installed=False)
    with pytest.raises(LibvirtUnusable, match="libvirtd on host 'h' did not answer"):
        await listing(fleet)
    assert runner.count("virtqemud") == 0 and fleet.known_backend(SPEC) is None


async def test_a_host_that_answered_once_stays_libvirt() -> None:
    fleet, runner = fleet_on(Answer(0, "", ""), daemon_installed=False)
    assert await listing(fleet) == "libvirt" and fleet.known_backend(SPEC) == "libvirt"
    runner.handler = lambda call: Answer(1, "", NO_SOCKET)
    with pytest.raises(LibvirtUnusable, match="did not answer at qemu:///system: it has no socket"):
        await listing(fleet)
    assert fleet.known_backend(SPEC) == "libvirt" and runner.count("virtqemud") == 0
