"""manage_vm and the host-side VM lock: taken for a change (not for a dry run) and held for the
whole call, waited for with progress, and refused with a clear error after lock_timeout."""

from __future__ import annotations

import pytest

from qemu_mcp.config import HostSpec, Inventory
from qemu_mcp.errors import CommandFailed, Conflict
from qemu_mcp.host.lock import hold_lock, lock_file_name
from qemu_mcp.ops.fleet import Fleet, HostRef
from qemu_mcp.ops.manage import manage_vm, parse_request
from qemu_mcp.policy import PolicySpec
from tests.fakes import FakeProcess, FakeRunner
from tests.unit.test_manage_flows import FakeBackend, FlowHost, use_fakes, vm


@pytest.fixture
def rig(monkeypatch: pytest.MonkeyPatch) -> tuple[Fleet, FakeBackend, FakeRunner]:
    spec = HostSpec(name="lab", address="192.0.2.1", lock_timeout=30)
    fleet = Fleet(Inventory([spec], policy=PolicySpec(allowed_paths=("/",))))
    host = FlowHost()
    runner = FakeRunner(host, host="lab")
    backend = FakeBackend(host=host, vms={"a": vm("a")})
    use_fakes(monkeypatch, fleet, backend, runner)
    return fleet, backend, runner


async def start(fleet: Fleet, **kw: object):  # type: ignore[no-untyped-def]
    messages: list[str] = []

    async def progress(done: float, total: float | None, message: str) -> None:
        messages.append(message)

    result = await manage_vm(fleet, HostRef("lab"), parse_request("a", "start", **kw), progress=progress)  # type: ignore[arg-type]
    return result, messages


async def test_a_change_holds_the_host_lock_for_the_whole_call(rig) -> None:  # type: ignore[no-untyped-def]
    fleet, backend, runner = rig
    seen: list[bool] = []
    real_start = backend.start

    async def start_vm(job, name):  # type: ignore[no-untyped-def]
        seen.append(not runner.processes[0].ended)  # the lock command still runs while the VM starts
        await real_start(job, name)

    backend.start = start_vm
    result, messages = await start(fleet)
    assert result.success and seen == [True] and runner.processes[0].ended
    # The key: the backend's kind, where it keeps VMs (libvirt's URI by default) and the VM's name.
    assert runner.held == [hold_lock(lock_file_name("fake", "qemu:///system", "a"))]
    assert not any("waiting" in m for m in messages) and len(fleet.vm_locks) == 0


async def test_a_dry_run_takes_no_host_lock(rig) -> None:  # type: ignore[no-untyped-def]
    fleet, _, runner = rig
    result, _ = await start(fleet, dry_run=True)
    assert result.success and runner.held == []


async def test_a_busy_vm_is_waited_for_with_progress(rig) -> None:  # type: ignore[no-untyped-def]
    fleet, backend, runner = rig
    runner.held_answer = lambda: FakeProcess(["busy", "locked"], delay=0.1)
    result, messages = await start(fleet)
    assert result.success and backend.calls == ["start a"]
    assert any(
        m.startswith("waiting for another qemu-mcp process to finish with VM 'a' on host 'lab' (") for m in messages
    )


async def test_still_busy_after_lock_timeout_is_a_clear_error(rig) -> None:  # type: ignore[no-untyped-def]
    fleet, backend, runner = rig
    spec = fleet.inventory.hosts["lab"].model_copy(update={"lock_timeout": 0.3})
    fleet.inventory.hosts["lab"] = spec
    runner.held_answer = lambda: FakeProcess(["busy", "locked"], delay=0.5)  # the second line comes too late
    with pytest.raises(Conflict) as err:
        await start(fleet)
    assert str(err.value) == (
        "VM 'a' on host 'lab' is busy: another qemu-mcp process (a CLI, a server or a replica) is acting on it "
        "and still held its lock after 0.3 s (lock_timeout); nothing was changed, retry once it has finished"
    )
    assert backend.calls == [] and runner.processes[0].ended


async def test_a_host_without_flock_or_a_failing_lock_command(rig) -> None:  # type: ignore[no-untyped-def]
    fleet, backend, runner = rig
    runner.held_answer = lambda: FakeProcess([], status=127, stderr="flock (util-linux) is not installed\n")
    with pytest.raises(CommandFailed, match=r"host 'lab' has no `flock` command \(package util-linux\)"):
        await start(fleet)
    runner.held_answer = lambda: FakeProcess([], status=1, stderr="mkdir: cannot create directory: Read-only\n")
    with pytest.raises(CommandFailed) as err:
        await start(fleet)
    assert "could not take the lock of VM 'a' on host 'lab' (sh exit 1: mkdir: cannot create" in str(err.value)
    assert backend.calls == []
