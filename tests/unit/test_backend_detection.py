"""Honest backend detection on a `backend: auto` host: only a missing virsh, or a libvirt socket
still missing after a retry, makes it plain QEMU; a libvirtd that does not answer is an error for
that call, never a switch; a host that answered once stays libvirt."""

from __future__ import annotations

import pytest

from qemu_mcp.backends.libvirt.errors import LibvirtUnusable, raise_if_unusable
from qemu_mcp.config import HostSpec, Inventory
from qemu_mcp.ops import backend as selection
from qemu_mcp.ops.fleet import Fleet
from tests.fakes import Answer, Call, FakeRunner

NO_VIRSH = Answer(127, "", "env: 'virsh': No such file or directory\n")
NO_SOCKET = Answer(
    1,
    "",
    "error: failed to connect to the hypervisor\n"
    "error: Failed to connect socket to '/var/run/libvirt/libvirt-sock': No such file or directory\n",
)
REFUSED = Answer(
    1,
    "",
    "error: failed to connect to the hypervisor\n"
    "error: Failed to connect socket to '/var/run/libvirt/libvirt-sock': Connection refused\n",
)


def fleet_answering(*answers: Answer) -> tuple[Fleet, HostSpec, FakeRunner]:
    """A fleet whose one auto host gives `answers` to its virsh calls in turn (then: libvirt works)."""
    queue = list(answers)

    def handler(call: Call) -> Answer | str:
        return queue.pop(0) if queue else "qemu:///system\n"

    spec = HostSpec(name="h", address="h.example", backend="auto")
    fleet = Fleet(Inventory([spec]))
    runner = FakeRunner(handler, host="h")
    fleet.runner = lambda s: runner  # type: ignore[method-assign]
    return fleet, spec, runner


@pytest.fixture(autouse=True)
def no_wait(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(selection, "SOCKET_RETRY_DELAY", 0)


async def test_missing_virsh_is_plain_qemu_at_once() -> None:
    fleet, spec, runner = fleet_answering(NO_VIRSH)
    assert await selection.backend_of(fleet, spec) == "qemu" and len(runner.calls) == 1


async def test_a_missing_socket_is_believed_only_after_a_retry() -> None:
    fleet, spec, runner = fleet_answering(NO_SOCKET, NO_SOCKET)
    assert await selection.backend_of(fleet, spec) == "qemu" and len(runner.calls) == 2
    fleet, spec, runner = fleet_answering(NO_SOCKET)  # libvirtd was starting: there a moment later
    assert await selection.backend_of(fleet, spec) == "libvirt" and len(runner.calls) == 2


async def test_a_libvirtd_that_does_not_answer_is_an_error_not_a_switch() -> None:
    fleet, spec, _ = fleet_answering(REFUSED)
    with pytest.raises(LibvirtUnusable, match="libvirtd on host 'h' did not answer"):
        await selection.backend_of(fleet, spec)
    assert fleet.known_backend(spec) is None  # still undecided: the next call asks again
    assert await selection.backend_of(fleet, spec) == "libvirt"


async def test_a_host_that_answered_stays_libvirt() -> None:
    fleet, spec, runner = fleet_answering()

    async def libvirt_op(r: object) -> str:
        result = await runner.run(["virsh", "list"])
        if result.exit_status:
            raise_if_unusable(result, spec)
        return "libvirt"

    async def qemu_op(r: object) -> str:
        return "qemu"

    assert await selection.with_backend(fleet, spec, libvirt_op, qemu_op) == "libvirt"
    runner.handler = lambda call: NO_SOCKET  # libvirtd gone for good, later
    with pytest.raises(LibvirtUnusable, match="no socket"):
        await selection.with_backend(fleet, spec, libvirt_op, qemu_op)
    assert fleet.known_backend(spec) == "libvirt"
