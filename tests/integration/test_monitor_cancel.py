"""Cancelling or timing out an in-flight SSH read neither hangs nor leaves the command running.

monitor_vm_status relies on this when its MCP request is cancelled mid-reading. OpenSSH
delivers signals to non-root sessions only (root sessions run without privilege separation),
so for root the command is left to die of SIGPIPE at its next write once the channel closes,
which is what virsh does; a silent root command outlives the cancel (see transport/ssh.py).
"""

from __future__ import annotations

import asyncio
import secrets
import subprocess
import time

import pytest

from qemu_mcp.config import HostSpec
from qemu_mcp.errors import CommandTimeout
from qemu_mcp.ops.fleet import Fleet
from tests.conftest import key_host

pytestmark = pytest.mark.integration


def running(pattern: str) -> list[str]:
    out = subprocess.run(["pgrep", "-af", pattern], capture_output=True, text=True)
    return [ln for ln in out.stdout.splitlines() if "pgrep" not in ln]


async def gone_within(pattern: str, seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while running(pattern):
        if time.monotonic() > deadline:
            return False
        await asyncio.sleep(0.05)
    return True


def tag() -> str:
    return f"{secrets.randbelow(10**6) + 100}.{secrets.randbelow(90) + 10}"  # e.g. 123456.78


@pytest.fixture
async def user_fleet(sshd_host, libvirtd_running):  # type: ignore[no-untyped-def]
    """A non-root login (the rig's password user, with the rig key)."""
    from qemu_mcp.config import Inventory

    spec = key_host(sshd_host, name="rig-user").model_copy(update={"user": sshd_host.password_user})
    f = Fleet(Inventory([spec]))
    yield f, spec
    await f.close()


async def cancel_after(coro, seconds: float) -> float:  # type: ignore[no-untyped-def]
    """Cancel `coro` after `seconds`; how long the cancellation took to come back.
    Real time: what is measured is a real SSH channel and remote process going away, where a hang
    would show; the bounds below are seconds for what takes milliseconds."""
    task = asyncio.create_task(coro)
    await asyncio.sleep(seconds)
    t0 = time.monotonic()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    return time.monotonic() - t0


async def test_cancelled_read_is_killed_for_a_user_login(user_fleet) -> None:  # type: ignore[no-untyped-def]
    fleet, spec = user_fleet
    runner, t = fleet.runner(spec), tag()
    took = await cancel_after(runner.run(["sleep", t], read_only=True), 1.0)
    assert took < 1.0
    assert await gone_within(f"sleep {t}", 2.0), running(f"sleep {t}")
    assert (await runner.run(["true"], read_only=True)).ok  # the connection is still good


async def test_timed_out_read_is_killed_for_a_user_login(user_fleet) -> None:  # type: ignore[no-untyped-def]
    fleet, spec = user_fleet
    t = tag()
    t0 = time.monotonic()
    with pytest.raises(CommandTimeout):
        await fleet.runner(spec).run(["sleep", t], timeout=0.5, read_only=True)
    assert time.monotonic() - t0 < 1.5
    assert await gone_within(f"sleep {t}", 2.0), running(f"sleep {t}")


async def test_cancelled_root_read_returns_and_a_writing_command_dies(fleet: Fleet, rig_spec: HostSpec) -> None:
    runner, t = fleet.runner(rig_spec), tag()
    script = f"while :; do echo tick; sleep 0.1; done # {t}"
    took = await cancel_after(runner.run(["sh", "-c", script], read_only=True), 1.0)
    assert took < 3.0  # at most the bounded wait for the channel close, never a hang
    assert await gone_within(t, 2.0), running(t)
    assert (await runner.run(["true"], read_only=True)).ok
