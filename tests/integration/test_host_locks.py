"""Two independent qemu-mcp processes take turns on one VM through the lock held on the host (over
the rig's real sshd): a holder in another process makes this one wait (and say so) until it has
finished; a holder killed with SIGKILL frees the lock at once; a holder outlasting lock_timeout
gets a clear error. Both backends: libvirt (qemu:///system on the rig sshd) and plain QEMU (the
qemu-only sshd), each on a shut-off VM of the test's own whose memory is modified (quick)."""

from __future__ import annotations

import asyncio
import os
import re
import signal
import subprocess
import sys
import textwrap
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from qemu_mcp.config import HostSpec, Inventory
from qemu_mcp.errors import Conflict
from qemu_mcp.ops.fleet import Fleet, HostRef
from qemu_mcp.ops.manage import manage_vm, parse_request
from tests.conftest import key_host
from tests.integration.manage_helpers import inactive_xml, manage_area
from tests.integration.qemu_helpers import qemu_area

pytestmark = pytest.mark.integration
ROOT = Path(__file__).parents[2]
WAITING = "waiting for another qemu-mcp process to finish with VM"

# manage_vm modify in a process and Fleet of its own. Its first change first sleeps `hold` seconds
# (with the VM's locks held), after printing "holding"; at the end it prints "done <time.time()
# when its last command ended>" (the host lock is released after that).
HOLDER = """
import asyncio, sys, time
from qemu_mcp.config import HostSpec, Inventory
from qemu_mcp.ops.fleet import Fleet, HostRef
from qemu_mcp.ops.manage import manage_vm, parse_request
from qemu_mcp.transport.ssh import SSHRunner

spec = HostSpec.model_validate_json(sys.argv[1])
name, memory, hold = sys.argv[2], sys.argv[3], [float(sys.argv[4])]
real_run = SSHRunner.run
last = [0.0]

async def run(self, argv, **kw):
    if not kw.get("read_only") and hold:
        print("holding", flush=True)
        await asyncio.sleep(hold.pop())
    try:
        return await real_run(self, argv, **kw)
    finally:
        last[0] = time.time()

SSHRunner.run = run
req = parse_request(name, "modify", memory=memory)
asyncio.run(manage_vm(Fleet(Inventory([spec])), HostRef(host=spec.name), req))
print(f"done {last[0]}", flush=True)
"""


@dataclass
class Target:
    spec: HostSpec
    name: str
    memory_mib: Callable[[], int]  # the VM's memory as the host has it, read directly


@pytest.fixture(params=["libvirt", "qemu"])
def target(request: pytest.FixtureRequest) -> Iterator[Target]:
    if request.param == "libvirt":
        request.getfixturevalue("libvirtd_running")
        with manage_area() as area:
            name = area.name("lock")
            spec = key_host(request.getfixturevalue("sshd_host"), backend="libvirt", vm_dir=area.dir, accel="tcg")

            def libvirt_memory() -> int:
                found = re.search(r"<memory unit='KiB'>(\d+)</memory>", inactive_xml(name))
                assert found is not None
                return int(found[1]) // 1024

            yield Target(spec, name, libvirt_memory)
    else:
        with qemu_area() as qarea:
            host = request.getfixturevalue("qemu_only_sshd_host")
            spec = key_host(host, name="plain", backend="qemu", vm_dir=qarea.vm_dir, accel="tcg")
            yield Target(spec, "lock", lambda: int(qarea.conf("lock")["memory_mib"]))


class Timed:
    """Wraps a real runner: when each command started (time.time())."""

    def __init__(self, inner: Any) -> None:
        self.inner, self.host, self.starts = inner, inner.host, list[float]()

    @property
    def changes(self) -> int:
        return int(self.inner.changes)

    async def run(self, argv: list[str], **kw: Any) -> Any:
        self.starts.append(time.time())
        return await self.inner.run(argv, **kw)

    def open_process(self, argv: list[str], *, shared: bool = False) -> Any:
        return self.inner.open_process(argv, shared=shared)

    async def close(self) -> None:
        await self.inner.close()


@pytest.fixture
async def fleet(target: Target):  # type: ignore[no-untyped-def]
    """This process's Fleet, with the VM created (shut off, 128 MiB)."""
    f = Fleet(Inventory([target.spec]))
    req = parse_request(target.name, "create", arch="x86_64", memory="128M", vcpus=1, disk="size=16M")
    await manage_vm(f, HostRef(target.spec.name), req)
    timed = Timed(f.runner(target.spec))
    f.runner = lambda spec: timed  # type: ignore[method-assign]
    yield f
    await f.close()


async def start_holder(target: Target, memory: str, hold: float) -> subprocess.Popen[str]:
    """The other process, once it holds the VM's lock."""
    argv = [sys.executable, "-c", textwrap.dedent(HOLDER), target.spec.model_dump_json(), target.name, memory]
    proc = subprocess.Popen([*argv, str(hold)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=ROOT)
    assert proc.stdout is not None
    line = await asyncio.wait_for(asyncio.to_thread(proc.stdout.readline), 60)
    if line != "holding\n":
        proc.kill()
        raise AssertionError(f"the holder did not get to its change: {line!r} {proc.communicate()[1]}")
    return proc


async def modify(fleet: Fleet, target: Target, memory: str, messages: list[str]) -> Any:
    async def progress(done: float, total: float | None, message: str) -> None:
        messages.append(message)

    req = parse_request(target.name, "modify", memory=memory)
    return await manage_vm(fleet, HostRef(target.spec.name), req, progress=progress)


def timed(fleet: Fleet, target: Target) -> Timed:
    return fleet.runner(target.spec)  # type: ignore[return-value]


async def test_a_second_process_waits_until_the_first_has_finished(fleet: Fleet, target: Target) -> None:
    holder = await start_holder(target, "256M", hold=2)
    messages: list[str] = []
    try:
        start = time.monotonic()
        result = await modify(fleet, target, "192M", messages)
        waited = time.monotonic() - start
        out, err = holder.communicate(timeout=60)
    finally:
        holder.kill()
    assert holder.returncode == 0, err
    holder_last = float(out.split()[-1])
    assert result.success and waited > 1
    assert any(m.startswith(WAITING) for m in messages)
    # None of our commands ran before the other process's last one had ended; its change came first.
    assert min(timed(fleet, target).starts) > holder_last
    assert target.memory_mib() == 192


async def test_a_holder_killed_with_sigkill_frees_the_lock_at_once(fleet: Fleet, target: Target) -> None:
    holder = await start_holder(target, "256M", hold=600)
    messages: list[str] = []
    try:
        call = asyncio.create_task(modify(fleet, target, "192M", messages))
        for _ in range(300):
            if any(m.startswith(WAITING) for m in messages) or call.done():
                break
            await asyncio.sleep(0.05)
        assert not call.done() and any(m.startswith(WAITING) for m in messages)
        os.kill(holder.pid, signal.SIGKILL)  # no cleanup at all: its connections just close
        killed = time.time()
        result = await asyncio.wait_for(call, 60)
    finally:
        holder.kill()
        holder.wait()
    assert result.success and target.memory_mib() == 192
    assert min(timed(fleet, target).starts) - killed < 2


@pytest.mark.parametrize("target", ["qemu"], indirect=True)  # the error does not depend on the backend
async def test_a_holder_outlasting_lock_timeout_is_a_clear_error(fleet: Fleet, target: Target) -> None:
    spec = target.spec.model_copy(update={"lock_timeout": 1.0})
    fleet.inventory.hosts[spec.name] = spec
    holder = await start_holder(target, "256M", hold=600)
    try:
        with pytest.raises(Conflict) as err:
            await modify(fleet, target, "192M", [])
    finally:
        holder.kill()
        holder.wait()
    assert str(err.value).startswith(
        f"VM '{target.name}' on host '{spec.name}' is busy: another qemu-mcp process (a CLI, a server or a replica) "
        "is acting on it and still held its lock after 1 s (lock_timeout)"
    )
    assert target.memory_mib() == 128
