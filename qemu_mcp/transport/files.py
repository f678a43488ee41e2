"""Write a small file (a seed ISO, an Ignition config) to a host: over SFTP on the runner's own
SSH connection (no extra login, no program needed on the host but sshd's sftp subsystem), or
directly for the local host. The content never goes through a command line or a log."""

from __future__ import annotations

import asyncio
import os
from typing import Any

from qemu_mcp.errors import CommandFailed
from qemu_mcp.transport.local import LocalRunner


def _write_local(path: str, data: bytes, mode: int) -> None:
    # The path was reserved (created empty, exclusively) just before: open it without O_CREAT.
    fd = os.open(path, os.O_WRONLY | os.O_TRUNC | os.O_NOFOLLOW)
    try:
        os.fchmod(fd, mode)
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view) :]
    finally:
        os.close(fd)


async def _write_sftp(runner: Any, path: str, data: bytes, mode: int) -> None:
    conn = await runner.connection()
    async with conn.start_sftp_client() as sftp:
        async with sftp.open(path, "wb") as f:
            await f.write(data)
        await sftp.chmod(path, mode)


async def write_file(runner: Any, path: str, data: bytes, mode: int = 0o644) -> None:
    """Write `data` to `path` on the runner's host (replacing its content); CommandFailed if not.
    Runners that wrap another (tests' RecordingRunner) pass the write to the one inside."""
    target = runner
    while not isinstance(target, LocalRunner) and not hasattr(target, "connection") and hasattr(target, "inner"):
        target = target.inner
    try:
        if isinstance(target, LocalRunner):
            await asyncio.to_thread(_write_local, path, data, mode)
        elif hasattr(target, "connection"):
            await _write_sftp(target, path, data, mode)
        else:
            raise CommandFailed(f"cannot write files on host '{runner.host}' with this runner", host=runner.host)
    except CommandFailed:
        raise
    except Exception as e:  # asyncssh.SFTPError, OSError, a dropped connection
        reason = getattr(e, "reason", None) or str(e) or type(e).__name__
        raise CommandFailed(f"writing {path} on host '{runner.host}' failed: {reason}", host=runner.host) from None
