"""Run commands on this machine with asyncio subprocesses (no shell)."""

from __future__ import annotations

import asyncio
import codecs
import contextlib
import os
import signal
import time
from collections.abc import AsyncIterator

from qemu_mcp.errors import CommandTimeout, HostError, NotFound
from qemu_mcp.transport.base import (
    READ_CHUNK,
    CommandResult,
    OpenProcess,
    StreamReader,
    StreamWriter,
    counts_changes,
)
from qemu_mcp.transport.copy import CopyProgress, local_copy

# QMP replies (query-blockstats on many disks) can exceed asyncio's 64 KiB line limit.
UNIX_STREAM_LIMIT = 16 * 1024 * 1024
END_WAIT = 5.0  # seconds a kept-open command gets to exit once its stdin is closed, then it is killed


class LocalRunner:
    def __init__(self, host: str = "local", default_timeout: float = 120.0) -> None:
        self.host = host
        self.default_timeout = default_timeout
        self.changes = 0  # changing commands started and ended (base.counts_changes)

    async def copy_in(self, local: str, remote: str, progress: CopyProgress) -> int:
        """Copy a local file to `remote` (created exclusively): this machine is the host."""
        return await local_copy(self.host, local, remote, progress)

    async def run(
        self,
        argv: list[str],
        *,
        stdin: str | None = None,
        timeout: float | None = None,
        read_only: bool = False,
    ) -> CommandResult:
        if read_only:
            return await self._run(argv, stdin, timeout)
        with counts_changes(self):
            return await self._run(argv, stdin, timeout)

    async def _run(self, argv: list[str], stdin: str | None, timeout: float | None) -> CommandResult:
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
            out, err = await asyncio.wait_for(proc.communicate(stdin.encode() if stdin is not None else None), timeout)
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

    @contextlib.asynccontextmanager
    async def open_process(self, argv: list[str], *, shared: bool = False) -> AsyncIterator[OpenProcess]:
        """A child process; `shared` does not matter here: no channel, no connection to close."""
        start = time.monotonic()
        try:
            proc = await asyncio.create_subprocess_exec(
                *argv,
                stdin=asyncio.subprocess.PIPE,
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.PIPE,
                env={**os.environ, "LC_ALL": "C"},
                # Its own session: a Ctrl-C at our terminal must not release a lock while the call
                # still undoes its steps; and killing the session ends all of the command's processes.
                start_new_session=True,
            )
        except OSError as e:
            raise HostError(f"could not start {argv[0]} on host '{self.host}': {e.strerror}", self.host) from None
        process = LocalProcess(proc, argv, self.host, start)
        try:
            yield process
        finally:
            await asyncio.shield(process.end())

    async def close(self) -> None:
        return None


class LocalProcess:
    """A child process kept running; ours is the only end of its stdin pipe, so our death ends it."""

    def __init__(self, proc: asyncio.subprocess.Process, argv: list[str], host: str, start: float) -> None:
        self._proc, self._argv, self._host, self._start = proc, argv, host, start
        self._result: CommandResult | None = None
        self._decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")  # read(): chunks split characters

    async def readline(self) -> str:
        assert self._proc.stdout is not None
        return (await self._proc.stdout.readline()).decode(errors="replace")

    async def read(self) -> str:
        assert self._proc.stdout is not None
        while True:
            data = await self._proc.stdout.read(READ_CHUNK)
            text = self._decoder.decode(data, final=not data)
            if text or not data:
                return text

    def write(self, text: str) -> None:
        assert self._proc.stdin is not None
        self._proc.stdin.write(text.encode())

    async def drain(self) -> None:
        assert self._proc.stdin is not None
        try:
            await self._proc.stdin.drain()
        except (BrokenPipeError, ConnectionResetError) as e:
            raise HostError(f"{self._argv[0]} on host '{self._host}' has ended ({e.strerror})", self._host) from None

    def busy(self) -> contextlib.nullcontext[None]:
        return contextlib.nullcontext()

    def usable(self) -> bool:
        return self._result is None and self._proc.returncode is None

    async def end(self) -> CommandResult:
        if self._result is None:
            proc = self._proc
            assert proc.stdin is not None
            proc.stdin.close()  # communicate() without input leaves stdin open
            try:
                out, err = await asyncio.wait_for(proc.communicate(), END_WAIT)
            except TimeoutError:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.pid, signal.SIGKILL)
                out, err = await proc.communicate()
            status = proc.returncode if proc.returncode is not None else -1
            self._result = CommandResult(
                tuple(self._argv), status, out.decode(errors="replace"), err.decode(errors="replace"),
                time.monotonic() - self._start, self._host,
            )  # fmt: skip
        return self._result
