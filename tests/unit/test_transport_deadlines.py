"""The inventory's connect_timeout and command_timeout bound every wait (transport/timing.py): a
read's retries stay within its budget and never follow silence, a change is never retried,
concurrent calls share one connect, and a fleet-wide call gives each host its own budget.
Virtual time: the figures are exact."""

from __future__ import annotations

import asyncio

import pytest

from qemu_mcp.config import HostSpec, Inventory
from qemu_mcp.errors import CommandTimeout, HostUnreachable
from qemu_mcp.ops.fleet import Fleet, within_host_budget
from qemu_mcp.ops.vms import list_vms
from qemu_mcp.transport import ssh
from qemu_mcp.transport.pool import RunnerPool
from qemu_mcp.transport.ssh import SSHRunner
from qemu_mcp.transport.timing import keepalive_options, retry_pause, silence_limit, worth_retrying
from tests.fake_clock import virtual_clock
from tests.fakes import FakeRunner

SPEC = HostSpec(name="h", address="192.0.2.7", connect_timeout=3, command_timeout=10)
LOST = HostUnreachable("connection to host 'h' was lost", "h")
SILENT = HostUnreachable("host 'h' did not answer within 3 s", "h", silent=True)


def test_keepalives_drop_a_silent_connection_after_connect_timeout() -> None:
    assert keepalive_options(3) == {"keepalive_interval": 1.5, "keepalive_count_max": 1}
    assert silence_limit(3) == 3 and silence_limit(10) == 10
    assert silence_limit(0.5) == 2  # keepalives at most once a second


def test_only_a_lost_connection_is_worth_another_try() -> None:
    assert worth_retrying(LOST, 1, 10, 3) and worth_retrying(LOST, 2, 10, 3)
    assert not worth_retrying(LOST, 3, 10, 3)  # READ_ATTEMPTS
    assert not worth_retrying(SILENT, 1, 10, 3)  # would only wait as long again
    assert not worth_retrying(LOST, 1, retry_pause(1) + 3, 3)  # no time left for a connect
    assert not worth_retrying(CommandTimeout("slow", "h"), 1, 10, 3)


class Attempts:
    """Stands in for SSHRunner._run_once: each attempt takes `takes` s, then raises the next error."""

    def __init__(self, errors: list[Exception], takes: float = 0.0) -> None:
        self.errors, self.takes = errors, takes
        self.timeouts: list[float] = []
        self.started: list[float] = []

    async def __call__(self, argv: list[str], stdin: str | None, timeout: float, read_only: bool = False) -> None:
        self.started.append(asyncio.get_running_loop().time())
        self.timeouts.append(timeout)
        await asyncio.sleep(self.takes)
        raise self.errors[len(self.started) - 1]


def runner_with(monkeypatch: pytest.MonkeyPatch, attempts: Attempts) -> SSHRunner:
    runner = SSHRunner(SPEC)
    monkeypatch.setattr(runner, "_run_once", attempts)
    return runner


async def failed_after(runner: SSHRunner, **kw: object) -> tuple[Exception, float]:
    loop = asyncio.get_running_loop()
    start = loop.time()
    with pytest.raises(Exception) as e:
        await runner.run(["virsh", "list"], **kw)  # type: ignore[arg-type]
    return e.value, loop.time() - start  # type: ignore[return-value]


@virtual_clock
async def test_silence_is_not_retried(monkeypatch: pytest.MonkeyPatch) -> None:
    attempts = Attempts([SILENT], takes=3)
    error, took = await failed_after(runner_with(monkeypatch, attempts), read_only=True)
    assert error is SILENT and took == 3 and len(attempts.started) == 1


@virtual_clock
async def test_a_lost_connection_is_retried_with_pauses_then_given_up(monkeypatch: pytest.MonkeyPatch) -> None:
    attempts = Attempts([LOST, LOST, LOST])
    error, took = await failed_after(runner_with(monkeypatch, attempts), read_only=True)
    assert error is LOST and len(attempts.started) == 3
    assert took == pytest.approx(retry_pause(1) + retry_pause(2))


@virtual_clock
async def test_retries_stay_within_the_read_budget(monkeypatch: pytest.MonkeyPatch) -> None:
    # Each attempt fails after 6 s: the second gets what is left of connect + command timeout (13 s).
    attempts = Attempts([LOST, LOST, LOST], takes=6)
    _, took = await failed_after(runner_with(monkeypatch, attempts), read_only=True)
    assert attempts.timeouts[0] == 10
    assert attempts.timeouts[1] == pytest.approx(13 - 6 - retry_pause(1))
    assert len(attempts.started) == 2 and took <= 13  # no third: 0.8 s left, less than a connect


@virtual_clock
async def test_a_read_that_outlives_its_budget_is_abandoned(monkeypatch: pytest.MonkeyPatch) -> None:
    attempts = Attempts([LOST], takes=100)
    error, took = await failed_after(runner_with(monkeypatch, attempts), read_only=True, timeout=4)
    assert isinstance(error, CommandTimeout) and took == pytest.approx(3 + 4)
    assert "'h'" in str(error) and "within 7 s" in str(error)


@virtual_clock
async def test_a_change_is_never_retried(monkeypatch: pytest.MonkeyPatch) -> None:
    attempts = Attempts([LOST, LOST])
    error, _ = await failed_after(runner_with(monkeypatch, attempts), read_only=False)
    assert error is LOST and len(attempts.started) == 1


@virtual_clock
async def test_concurrent_calls_share_one_connect(monkeypatch: pytest.MonkeyPatch) -> None:
    runner = SSHRunner(SPEC)
    connects: list[float] = []

    async def silent_connect() -> object:
        connects.append(asyncio.get_running_loop().time())
        await asyncio.sleep(3)
        raise SILENT

    monkeypatch.setattr(runner._commands, "_connect", silent_connect)
    loop = asyncio.get_running_loop()
    start = loop.time()
    results = await asyncio.gather(*(runner.connection() for _ in range(20)), return_exceptions=True)
    assert all(r is SILENT for r in results) and len(connects) == 1
    assert loop.time() - start == 3  # one connect_timeout for all twenty, not twenty of them
    await asyncio.gather(runner.connection(), return_exceptions=True)
    assert len(connects) == 2  # the next call tries again
    await runner.close()


@virtual_clock
async def test_close_cancels_a_connect_in_progress(monkeypatch: pytest.MonkeyPatch) -> None:
    runner = SSHRunner(SPEC)

    async def slow_connect() -> object:
        await asyncio.sleep(60)
        raise AssertionError("not cancelled")

    monkeypatch.setattr(runner._commands, "_connect", slow_connect)
    waiter = asyncio.create_task(runner.connection())
    await asyncio.sleep(1)
    await runner.close()
    with pytest.raises(asyncio.CancelledError):
        await waiter
    assert runner.open_connections == 0


@virtual_clock
async def test_a_host_gets_its_own_budget_in_a_fleet_wide_call() -> None:
    async def never() -> None:
        await asyncio.sleep(3600)

    loop = asyncio.get_running_loop()
    start = loop.time()
    with pytest.raises(CommandTimeout) as e:
        await within_host_budget(SPEC, never(), "listing its VMs")
    assert loop.time() - start == 13
    assert "host 'h'" in str(e.value) and "13 s" in str(e.value) and "hosts.yaml" in str(e.value)


class Pool(RunnerPool):
    def __init__(self, runners: dict[str, FakeRunner]) -> None:
        super().__init__()
        self.fakes = runners

    def get(self, spec: HostSpec) -> FakeRunner:  # type: ignore[override]
        return self.fakes[spec.name]


@virtual_clock
async def test_a_hanging_host_leaves_the_fleet_listing_the_others() -> None:
    async def hang(call: object) -> None:
        await asyncio.sleep(3600)

    stuck = HostSpec(name="stuck", address="192.0.2.8", backend="libvirt", connect_timeout=2, command_timeout=5)
    fine = HostSpec(name="fine", address="192.0.2.9", backend="libvirt")
    runners = {"stuck": FakeRunner(hang, "stuck"), "fine": FakeRunner(None, "fine")}
    fleet = Fleet(Inventory([stuck, fine]), Pool(runners))
    loop = asyncio.get_running_loop()
    start = loop.time()
    data = await list_vms(fleet)
    assert loop.time() - start == 7
    assert [(e.host, e.kind) for e in data.errors] == [("stuck", "CommandTimeout")]


def test_changes_ignore_sigpipe_reads_do_not() -> None:
    assert ssh.remote_command(["virsh", "start", "x"], change=True).startswith("env LC_ALL=C sh -c 'trap")
    assert ssh.remote_command(["virsh", "list"]) == "env LC_ALL=C virsh list"
