"""Run commands on this machine with asyncio subprocesses (no shell)."""

from __future__ import annotations

import asyncio
import os
import time

from qemu_mcp.errors import CommandTimeout, NotFound
from qemu_mcp.transport.base import CommandResult, StreamReader, StreamWriter

# QMP replies (query-blockstats on many disks) can exceed asyncio's 64 KiB line limit.
UNIX_STREAM_LIMIT = 16 * 1024 * 1024


class LocalRunner:
    def __init__(self, host: str = "local", default_timeout: float = 120.0) -> None:
        self.host = host
        self.default_timeout = default_timeout

    async def run(
        self,
        argv: list[str],
        *,
        stdin: str | None = None,
        timeout: float | None = None,
        read_only: bool = False,
    ) -> CommandResult:
        timeout = timeout or self.default_timeout
        start = time.monotonic()
        try:
            proc = await asyncio.create_subprocess_exec(
                *argv,
                stdin=asyncio.subprocess.PIPE if stdin is not None else asyncio.subprocess.DEVNULL,
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.PIPE,
                env={**os.environ, "LC_ALL": "C"},
            )
        except FileNotFoundError:
            return CommandResult(
                tuple(argv), 127, "", f"{argv[0]}: command not found", time.monotonic() - start, self.host
            )
        try:
            out, err = await asyncio.wait_for(
                proc.communicate(stdin.encode() if stdin is not None else None), timeout
            )
        except (TimeoutError, asyncio.CancelledError) as e:
            proc.kill()
            await proc.wait()
            if isinstance(e, asyncio.CancelledError):
                raise
            raise CommandTimeout(
                f"command on host '{self.host}' did not finish within {timeout} s and was killed ({argv[0]})",
                self.host,
            ) from None
        return CommandResult(
            tuple(argv),
            proc.returncode if proc.returncode is not None else -1,
            out.decode(errors="replace"),
            err.decode(errors="replace"),
            time.monotonic() - start,
            self.host,
        )

    async def open_unix(self, path: str) -> tuple[StreamReader, StreamWriter]:
        try:
            return await asyncio.open_unix_connection(path, limit=UNIX_STREAM_LIMIT)
        except (FileNotFoundError, ConnectionRefusedError) as e:
            raise NotFound(f"socket {path} on host '{self.host}' does not answer ({e.strerror})") from None

    async def close(self) -> None:
        return None
