"""A fleet of many hosts: a fleet-wide call works on at most max_parallel_hosts hosts at once, each
host's budget starting at its turn; an SSH connection unused for idle_close seconds is closed and
the next call opens another. Virtual time: the figures are exact."""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

import asyncssh
import pytest

from qemu_mcp.config import HostSpec, Inventory, load_inventory
from qemu_mcp.ops.fleet_core import FleetCore
from qemu_mcp.ops.hosts import list_hosts
from qemu_mcp.ops.vms import list_vms
from qemu_mcp.transport.pool import RunnerPool
from qemu_mcp.transport.ssh_link import Link
from tests.fake_clock import virtual_clock
from tests.fakes import Call, FakeRunner

# ---- the fan-out bound


class Busy:
    """A handler taking `seconds` per command that records how many hosts were being worked on at once."""

    def __init__(self, seconds: float) -> None:
        self.seconds, self.now, self.most = seconds, 0, 0
        self.started: list[float] = []

    async def __call__(self, call: Call) -> None:
        self.now += 1
        self.most = max(self.most, self.now)
        self.started.append(asyncio.get_running_loop().time())
        try:
            await asyncio.sleep(self.seconds)
        finally:
            self.now -= 1


class FakePool(RunnerPool):
    def __init__(self, handler: Any) -> None:
        super().__init__()
        self.fakes: dict[str, FakeRunner] = {}
        self.handler = handler

    def get(self, spec: HostSpec) -> FakeRunner:  # type: ignore[override]
        return self.fakes.setdefault(spec.name, FakeRunner(self.handler, spec.name))


def fleet_of(n: int, handler: Any, max_parallel: int, **spec: Any) -> FleetCore:
    hosts = [HostSpec(name=f"h{i}", address=f"192.0.2.{i + 1}", backend="libvirt", **spec) for i in range(n)]
    return FleetCore(Inventory(hosts, max_parallel_hosts=max_parallel), FakePool(handler))


@virtual_clock
async def test_a_fleet_wide_listing_works_on_max_parallel_hosts_at_once() -> None:
    busy = Busy(5)
    fleet = fleet_of(10, busy, max_parallel=3)
    loop = asyncio.get_running_loop()
    start = loop.time()
    data = await list_vms(fleet)
    assert not data.errors and busy.most == 3
    assert loop.time() - start == 4 * 5  # ceil(10 / 3) turns of 5 s
    assert sorted(busy.started)[-1] - start == 15  # the last host's turn came after three others'


@virtual_clock
async def test_a_host_budget_starts_at_its_turn() -> None:
    # Each host needs 4 s of a 1 + 4 s budget; the last of 12 starts 12 s after the call did.
    busy = Busy(4)
    fleet = fleet_of(12, busy, max_parallel=4, connect_timeout=1, command_timeout=4)
    data = await list_vms(fleet)
    assert not data.errors and data.host.count("h") == 12 and busy.most == 4


@virtual_clock
async def test_concurrent_fleet_wide_calls_share_the_bound() -> None:
    busy = Busy(2)
    fleet = fleet_of(6, busy, max_parallel=4)
    first, second = await asyncio.gather(list_vms(fleet), list_hosts(fleet))
    assert not first.errors and all(h.reachable for h in second.hosts if h.name.startswith("h"))
    assert busy.most == 4


def test_max_parallel_hosts_from_hosts_yaml(tmp_path) -> None:  # type: ignore[no-untyped-def]
    path = tmp_path / "hosts.yaml"
    path.write_text("max_parallel_hosts: 8\nhosts:\n  - {name: a, address: 192.0.2.1, idle_close: 30}\n")
    inventory = load_inventory(str(path))
    assert inventory.max_parallel_hosts == 8 and inventory.get("a").idle_close == 30
    assert Inventory([]).max_parallel_hosts == 64 and HostSpec(name="b").idle_close == 300
    path.write_text("max_parallel_hosts: 0\n")
    with pytest.raises(Exception, match="max_parallel_hosts"):
        load_inventory(str(path))


def test_a_pool_without_a_transport_refuses_remote_hosts() -> None:
    pool = RunnerPool()
    assert pool.get(HostSpec(name="here")).host == "here"
    with pytest.raises(RuntimeError, match="'far' is remote"):
        pool.get(HostSpec(name="far", address="192.0.2.9"))


# ---- idle close


class FakeConnection:
    """What Link needs of an asyncssh connection."""

    def __init__(self) -> None:
        self.closed = False

    def is_closed(self) -> bool:
        return self.closed

    def close(self) -> None:
        self.closed = True

    abort = close

    async def wait_closed(self) -> None:
        return None

    def get_owner(self) -> None:
        return None


class FakeChannel:
    def __init__(self) -> None:
        self.gone = asyncio.Event()

    async def wait_closed(self) -> None:
        await self.gone.wait()


@pytest.fixture
def connections(monkeypatch: pytest.MonkeyPatch) -> list[FakeConnection]:
    made: list[FakeConnection] = []

    async def connect(address: str, **options: Any) -> FakeConnection:
        made.append(FakeConnection())
        return made[-1]

    monkeypatch.setattr(asyncssh, "connect", connect)
    return made


def link(idle_close: float) -> Link:
    spec = HostSpec(name="h", address="192.0.2.7", idle_close=idle_close)
    return Link(spec, "root@192.0.2.7:22", lambda timeout=None: contextlib.nullcontext())


@virtual_clock
async def test_an_unused_connection_closes_after_idle_close(connections: list[FakeConnection]) -> None:
    ln = link(60)
    conn: Any = await ln.connection()
    with ln.in_flight(conn):
        await asyncio.sleep(100)  # a command running longer than idle_close keeps it
    assert not conn.closed
    await asyncio.sleep(59)
    with ln.in_flight(conn):  # used again 59 s later: the wait starts over
        pass
    await asyncio.sleep(59)
    assert not conn.closed
    await asyncio.sleep(1)
    assert conn.closed and ln.idle_closes == 1 and ln.open_connections == 0
    assert await ln.connection() is connections[1] and ln.connects == 2  # reopened on demand
    await ln.close()


@virtual_clock
async def test_a_connection_opened_but_never_used_closes_too(connections: list[FakeConnection]) -> None:
    ln = link(30)
    await ln.connection()
    await asyncio.sleep(30)
    assert connections[0].closed and ln.idle_closes == 1
    await ln.close()


@virtual_clock
async def test_a_forwarded_stream_keeps_its_connection_until_it_closes(connections: list[FakeConnection]) -> None:
    ln = link(10)
    conn: Any = await ln.connection()
    channel = FakeChannel()
    ln.in_use_until_closed(conn, channel)  # type: ignore[arg-type]
    await asyncio.sleep(60)
    assert not conn.closed  # a QMP session over the connection
    channel.gone.set()
    await asyncio.sleep(10)
    assert conn.closed and ln.idle_closes == 1
    await ln.close()


@virtual_clock
async def test_close_stops_the_idle_timer(connections: list[FakeConnection]) -> None:
    ln = link(10)
    await ln.connection()
    await ln.close()
    await asyncio.sleep(20)
    assert connections[0].closed and ln.idle_closes == 0
