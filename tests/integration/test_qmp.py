"""QMP with no client program on the host: a local unix socket, and sshd's direct-streamlocal."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from qemu_mcp.backends.qemu.qmp import QMPClient, QMPError
from qemu_mcp.config import HostSpec
from qemu_mcp.errors import NotFound
from qemu_mcp.transport.local import LocalRunner
from qemu_mcp.transport.ssh import SSHRunner

pytestmark = pytest.mark.integration


@pytest.fixture
def qemu_process(tmp_path: Path) -> Iterator[tuple[subprocess.Popen[bytes], str]]:
    """A real qemu-system-x86_64 (no machine, no guest) with a QMP socket."""
    sock = tmp_path / "qmp.sock"
    proc = subprocess.Popen(
        [
            "qemu-system-x86_64",
            "-machine",
            "none",
            "-nodefaults",
            "-display",
            "none",
            "-qmp",
            f"unix:{sock},server=on,wait=off",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    for _ in range(100):
        if sock.exists():
            break
        subprocess.run(["sleep", "0.05"])
    yield proc, str(sock)
    proc.kill()
    proc.wait()


async def check_session(runner, proc, sock: str) -> None:  # type: ignore[no-untyped-def]
    async with await QMPClient.connect(runner, sock) as qmp:
        assert qmp.greeting["QMP"]["version"]["qemu"]["major"] >= 6
        assert (await qmp.execute("query-status"))["status"] in ("running", "prelaunch")
        with pytest.raises(QMPError, match="CommandNotFound"):
            await qmp.execute("no-such-command")
        await qmp.execute("quit")
    assert proc.wait(10) == 0


async def test_local_qmp(qemu_process) -> None:  # type: ignore[no-untyped-def]
    proc, sock = qemu_process
    await check_session(LocalRunner(), proc, sock)


async def test_qmp_over_ssh_stream_forwarding(qemu_process, rig_spec: HostSpec) -> None:  # type: ignore[no-untyped-def]
    proc, sock = qemu_process
    runner = SSHRunner(rig_spec)
    try:
        await check_session(runner, proc, sock)
        assert runner.connects == 1
    finally:
        await runner.close()


async def test_missing_socket_is_not_found(rig_spec: HostSpec, tmp_path: Path) -> None:
    with pytest.raises(NotFound, match="does not answer"):
        await QMPClient.connect(LocalRunner(), str(tmp_path / "none.sock"))
    runner = SSHRunner(rig_spec)
    try:
        with pytest.raises(NotFound, match="does not answer"):
            await QMPClient.connect(runner, str(tmp_path / "none.sock"))
    finally:
        await runner.close()
