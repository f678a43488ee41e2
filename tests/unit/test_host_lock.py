"""The host-side VM lock: the argv builder, the lock file's name, and the script itself run here
(sh + flock, against a directory of the test's own) through LocalRunner.open_process."""

from __future__ import annotations

import asyncio
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from qemu_mcp.host.lock import BUSY, LOCK_SCRIPT, LOCKED, MISSING_EXIT, hold_lock, lock_file_name
from qemu_mcp.transport.local import LocalRunner

NAME = lock_file_name("qemu", "/srv/vms", "web")
needs_flock = pytest.mark.skipif(shutil.which("flock") is None, reason="flock (util-linux) is not installed")


def test_lock_file_name_is_a_hash_of_where_and_which_vm() -> None:
    assert re.fullmatch(r"vm-[0-9a-f]{64}\.lock", NAME)
    assert lock_file_name("qemu", "/srv/vms", "web") == NAME  # stable across processes and versions
    others = {
        lock_file_name("qemu", "/srv/vms", "web2"),
        lock_file_name("qemu", "/srv/vms2", "web"),
        lock_file_name("libvirt", "/srv/vms", "web"),
        lock_file_name("qemu", "/srv/vms,web", ""),  # no ambiguity where one part ends
    }
    assert NAME not in others and len(others) == 4
    hostile = lock_file_name("libvirt", "qemu:///system", "../../etc/passwd; rm -rf /")
    assert re.fullmatch(r"vm-[0-9a-f]{64}\.lock", hostile)


def test_hold_lock_argv() -> None:
    assert hold_lock(NAME) == ["sh", "-c", LOCK_SCRIPT, "qmcp-lock", "", NAME]
    assert hold_lock(NAME, "/run/x")[-2:] == ["/run/x", NAME]
    for bad in ("", "..", "a/b", "../x"):
        with pytest.raises(ValueError):
            hold_lock(bad)
    with pytest.raises(Exception, match="absolute"):
        hold_lock(NAME, "relative/dir")


def test_the_script_and_its_constants_agree() -> None:
    assert f"exit {MISSING_EXIT}" in LOCK_SCRIPT
    assert f"echo {LOCKED};" in LOCK_SCRIPT and f"echo {BUSY}\n" in LOCK_SCRIPT
    # The default directories: root's on tmpfs, any other user's own under /tmp.
    assert "d=/run/qemu-mcp/locks" in LOCK_SCRIPT and "d=/tmp/qemu-mcp-$uid" in LOCK_SCRIPT


@needs_flock
async def test_free_then_busy_then_taken_once_released(tmp_path: Path) -> None:
    runner = LocalRunner()
    argv = hold_lock(NAME, str(tmp_path / "locks"))
    async with runner.open_process(argv) as first:
        assert await first.readline() == "locked\n"
        assert oct((tmp_path / "locks").stat().st_mode & 0o777) == "0o700"
        async with runner.open_process(argv) as second:
            assert await second.readline() == "busy\n"
            waiting = asyncio.create_task(second.readline())
            await asyncio.sleep(0.3)
            assert not waiting.done()
            assert (await first.end()).exit_status == 0  # released: the waiter has it at once
            assert await asyncio.wait_for(waiting, 2) == "locked\n"
        assert (await second.end()).exit_status == 0


@needs_flock
async def test_a_waiter_that_gives_up_stops_waiting_at_once(tmp_path: Path) -> None:
    runner = LocalRunner()
    argv = hold_lock(NAME, str(tmp_path))
    async with runner.open_process(argv) as first:
        assert await first.readline() == "locked\n"
        async with runner.open_process(argv) as second:
            assert await second.readline() == "busy\n"
            start = time.monotonic()
            await second.end()  # what leaving the context does
            assert time.monotonic() - start < 1
        # The waiter never took the lock: a third process still finds it busy.
        async with runner.open_process(argv) as third:
            assert await third.readline() == "busy\n"
    async with runner.open_process(argv) as fourth:
        assert await fourth.readline() == "locked\n"


# Holds the lock through LocalRunner in a process of its own, until killed.
HOLDER = """
import asyncio, sys
from qemu_mcp.transport.local import LocalRunner

async def main():
    async with LocalRunner().open_process(sys.argv[1:]) as held:
        print(await held.readline(), end="", flush=True)
        await asyncio.sleep(60)

asyncio.run(main())
"""


@needs_flock
async def test_a_waiter_gets_the_lock_when_the_holder_is_killed(tmp_path: Path) -> None:
    """A qemu-mcp process killed with SIGKILL (no cleanup at all) releases its locks with it: the
    lock command it left behind sees its stdin end and exits."""
    argv = hold_lock(NAME, str(tmp_path))
    root = Path(__file__).parents[2]
    holder = subprocess.Popen([sys.executable, "-c", HOLDER, *argv], stdout=subprocess.PIPE, cwd=root)
    try:
        assert holder.stdout is not None and holder.stdout.readline() == b"locked\n"
        async with LocalRunner().open_process(argv) as waiter:
            assert await waiter.readline() == "busy\n"
            os.kill(holder.pid, signal.SIGKILL)
            start = time.monotonic()
            assert await asyncio.wait_for(waiter.readline(), 5) == "locked\n"
            assert time.monotonic() - start < 1
    finally:
        holder.kill()
        holder.wait()


@needs_flock
async def test_a_lock_directory_planted_as_a_symlink_is_refused(tmp_path: Path) -> None:
    (tmp_path / "real").mkdir()
    (tmp_path / "link").symlink_to(tmp_path / "real")
    async with LocalRunner().open_process(hold_lock(NAME, str(tmp_path / "link"))) as process:
        assert await process.readline() == ""
        result = await process.end()
    assert result.exit_status == 1 and "is not a directory of user" in result.stderr
    assert list((tmp_path / "real").iterdir()) == []


async def test_a_host_without_flock_says_so(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for tool in ("sh", "id", "mkdir"):  # what the script needs besides flock
        found = shutil.which(tool)
        assert found is not None
        (bin_dir / tool).symlink_to(found)
    monkeypatch.setenv("PATH", str(bin_dir))
    async with LocalRunner().open_process(hold_lock(NAME, str(tmp_path / "locks"))) as process:
        assert await process.readline() == ""
        result = await process.end()
    assert result.exit_status == MISSING_EXIT and "flock (util-linux) is not installed" in result.stderr
