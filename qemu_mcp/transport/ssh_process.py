"""A command kept running on a host over its own session channel (Runner.open_process: the host
lock, a virsh session). Closing the channel's input ends it; if our process or the connection dies, sshd closes
that input itself, so a crashed qemu-mcp leaves nothing running."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable
from contextlib import AbstractContextManager

from qemu_mcp.transport.base import READ_CHUNK, CommandResult
from qemu_mcp.transport.sshlib import asyncssh

END_WAIT = 5.0  # seconds a kept-open command gets to exit once its input is closed
ABANDON_WAIT = 2.0  # seconds a cancelled or timed-out command's channel close is waited for


class SSHProcess:
    """`trusted`: whether the connection it runs on may still be used; `busy`: a span of using that
    connection (transport/ssh_link.Link.in_flight)."""

    def __init__(self, process: asyncssh.SSHClientProcess, argv: list[str], host: str, start: float,
                 errors: Callable[[], AbstractContextManager[None]], trusted: Callable[[], bool],
                 busy: Callable[[], AbstractContextManager[None]]) -> None:  # fmt: skip
        self._process, self._argv, self._host, self._start = process, argv, host, start
        self._errors, self._trusted, self.busy = errors, trusted, busy
        self._result: CommandResult | None = None

    async def readline(self) -> str:
        with self._errors():
            return text(await self._process.stdout.readline())

    async def read(self) -> str:
        with self._errors():
            return text(await self._process.stdout.read(READ_CHUNK))

    def write(self, data: str) -> None:
        with self._errors():
            self._process.stdin.write(data)

    async def drain(self) -> None:
        with self._errors():
            await self._process.stdin.drain()

    def usable(self) -> bool:
        process = self._process
        return self._result is None and process.exit_status is None and not process.is_closing() and self._trusted()

    async def end(self) -> CommandResult:
        if self._result is None:
            process = self._process
            with contextlib.suppress(Exception):
                process.stdin.write_eof()
            try:
                proc = await process.wait(timeout=END_WAIT)
            except Exception:
                await abandon(process, kill=True)
                self._result = CommandResult(
                    tuple(self._argv), 255, "", f"did not exit within {END_WAIT:g} s of the end of its input",
                    time.monotonic() - self._start, self._host,
                )  # fmt: skip
            else:
                process.close()
                await process.wait_closed()
                self._result = completed(proc, self._argv, self._host, self._start)
        return self._result


async def abandon(process: asyncssh.SSHClientProcess, *, kill: bool) -> None:
    """Stop waiting for a cancelled or timed-out command, without hanging on it.

    sshd closes a session channel only when its command has exited. A read is killed: sshd
    signals the session's process group (OpenSSH >= 7.9; not for root logins, which run without
    privilege separation). A change is left to finish rather than cut in half (it ignores
    SIGPIPE: ssh.KEEP_RUNNING). Closing the channel makes a read that still writes die of SIGPIPE;
    the close is awaited briefly only.
    """
    if kill:
        with contextlib.suppress(Exception):
            process.send_signal("KILL")
    process.close()
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(asyncio.shield(process.wait_closed()), ABANDON_WAIT)


def completed(proc: asyncssh.SSHCompletedProcess, argv: list[str], host: str, start: float) -> CommandResult:
    status = proc.exit_status if proc.exit_status is not None else 255
    signal = f"killed by signal {proc.exit_signal[0]}" if proc.exit_signal else ""
    return CommandResult(
        tuple(argv), status, text(proc.stdout), text(proc.stderr) or signal, time.monotonic() - start, host
    )


def text(value: str | bytes | None) -> str:
    if value is None:
        return ""
    return value.decode(errors="replace") if isinstance(value, bytes) else value
