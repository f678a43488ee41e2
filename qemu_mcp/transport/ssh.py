"""Run commands over SSH with asyncssh: one kept connection per host, channels capped, argv quoted once."""

from __future__ import annotations

import asyncio
import contextlib
import shlex
import time
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractContextManager
from typing import Any

import asyncssh
from tenacity import AsyncRetrying, retry_if_exception_type, stop_after_attempt, wait_exponential

from qemu_mcp.config import HostSpec
from qemu_mcp.errors import HostUnreachable, NotFound
from qemu_mcp.transport.base import CommandResult, OpenProcess, StreamReader, StreamWriter
from qemu_mcp.transport.errors import mapped_errors

# OpenSSH's default MaxSessions: more concurrent channels than this on one connection are refused.
MAX_CHANNELS = 10
READ_ATTEMPTS = 3
CHANNEL_OPEN_ATTEMPTS = 20
ABANDON_WAIT = 2.0  # seconds a cancelled or timed-out command's channel close is waited for
END_WAIT = 5.0  # seconds a kept-open command gets to exit once its input is closed


C_LOCALE = ("env", "LC_ALL=C")


def remote_command(argv: list[str]) -> str:
    """The one place argv becomes a shell string. Every remote command runs in the C locale
    (parsers read English messages and '.' decimals); sshd's AcceptEnv cannot be relied on."""
    already = tuple(argv[:2]) == C_LOCALE
    return shlex.join(argv if already else [*C_LOCALE, *argv])


class SSHRunner:
    """Commands share one kept connection, at most MAX_CHANNELS at a time (sshd's MaxSessions).

    Kept-open commands (locks held for a whole manage_vm call) use a second connection with its own
    cap: each is an open session that sshd counts against MaxSessions, so on the first connection
    ten held locks would leave no channel for the commands of the very calls holding them.
    """

    def __init__(self, spec: HostSpec) -> None:
        self.spec = spec
        self.host = spec.name
        self._commands = _Kept()
        self._held = _Kept()

    @property
    def connects(self) -> int:
        """How many times the commands' connection was opened (tests and `hosts check` read it)."""
        return self._commands.connects

    @property
    def where(self) -> str:
        user = f"{self.spec.user}@" if self.spec.user else ""
        return f"{user}{self.spec.address}:{self.spec.port}"

    def _errors(self, timeout: float | None = None):
        return mapped_errors(self.host, self.where, known_hosts=self.spec.known_hosts, timeout=timeout)

    async def connection(self) -> asyncssh.SSHClientConnection:
        """The commands' kept connection, opened (or reopened after a drop) on demand."""
        return await self._connected(self._commands)

    async def _connected(self, kept: _Kept) -> asyncssh.SSHClientConnection:
        async with kept.connect_lock:
            if kept.conn is not None and not kept.conn.is_closed():
                return kept.conn
            spec = self.spec
            options: dict[str, Any] = {
                "port": spec.port,
                # A missing known_hosts file means no key is trusted: never None (that disables checking).
                "known_hosts": spec.known_hosts if spec.known_hosts else (),
                "connect_timeout": spec.connect_timeout,
                "keepalive_interval": 30,
            }
            if spec.user:
                options["username"] = spec.user
            if spec.key:
                options["client_keys"] = [spec.key]
            password = spec.ssh_password()
            if password is not None:
                options["password"] = password
            with self._errors(spec.connect_timeout):
                kept.conn = await asyncio.wait_for(
                    asyncssh.connect(spec.address or "", **options), spec.connect_timeout + 5
                )
            kept.connects += 1
            return kept.conn

    async def _run_once(
        self, argv: list[str], stdin: str | None, timeout: float, read_only: bool = False
    ) -> CommandResult:
        command = remote_command(argv)
        async with self._commands.channels:
            conn = await self.connection()
            start = time.monotonic()
            try:
                with self._errors(timeout):
                    process = await self._open_channel(conn, command)
                    try:
                        if stdin is not None:
                            process.stdin.write(stdin)
                        process.stdin.write_eof()
                        proc = await process.wait(timeout=timeout)
                    except BaseException:
                        await _abandon(process, kill=read_only)
                        raise
                    # Wait for the full channel close, so sshd has freed the session before our
                    # slot is released (else the 11th channel can be refused).
                    process.close()
                    await process.wait_closed()
            except HostUnreachable:
                self._drop(self._commands, conn)
                raise
            if proc.exit_status is None and proc.exit_signal is None:
                # The channel closed without an exit status: the connection went away mid-command.
                self._drop(self._commands, conn)
                raise HostUnreachable(
                    f"connection to host '{self.host}' ({self.where}) was lost while running {argv[0]}", self.host
                )
        return _completed(proc, argv, self.host, start)

    async def _open_channel(
        self, conn: asyncssh.SSHClientConnection, command: str
    ) -> asyncssh.SSHClientProcess:
        """Open a session channel. sshd frees a closed session's slot a moment after the close, so a
        refusal right at the MaxSessions limit is retried: the command has not started, so this is safe."""
        for attempt in range(CHANNEL_OPEN_ATTEMPTS):
            try:
                return await conn.create_process(command)
            except asyncssh.ChannelOpenError:
                if attempt == CHANNEL_OPEN_ATTEMPTS - 1:
                    raise
                await asyncio.sleep(0.02 * (attempt + 1))
        raise AssertionError("unreachable")  # pragma: no cover

    async def run(
        self,
        argv: list[str],
        *,
        stdin: str | None = None,
        timeout: float | None = None,
        read_only: bool = False,
    ) -> CommandResult:
        timeout = timeout or self.spec.command_timeout
        if not read_only:
            # A mutating command might have run before the connection failed: never run it twice.
            return await self._run_once(argv, stdin, timeout)
        async for attempt in AsyncRetrying(
            retry=retry_if_exception_type(HostUnreachable),
            stop=stop_after_attempt(READ_ATTEMPTS),
            wait=wait_exponential(multiplier=0.2, max=2),
            reraise=True,
        ):
            with attempt:
                return await self._run_once(argv, stdin, timeout, read_only=True)
        raise AssertionError("unreachable")  # pragma: no cover

    async def open_unix(self, path: str) -> tuple[StreamReader, StreamWriter]:
        """OpenSSH's direct-streamlocal: the host's sshd connects to the socket; nothing runs there."""
        conn = await self.connection()
        try:
            with self._errors():
                reader, writer = await conn.open_unix_connection(path)
        except HostUnreachable as e:
            if "open failed" in str(e) or "connect failed" in str(e):
                raise NotFound(
                    f"socket {path} on host '{self.host}' does not answer (or sshd forbids stream forwarding: "
                    "AllowStreamLocalForwarding)"
                ) from None
            raise
        return reader, writer

    @contextlib.asynccontextmanager
    async def open_process(self, argv: list[str]) -> AsyncIterator[OpenProcess]:
        command = remote_command(argv)
        async with self._held.channels:
            conn = await self._connected(self._held)
            start = time.monotonic()
            try:
                with self._errors():
                    process = await self._open_channel(conn, command)
            except HostUnreachable:
                self._drop(self._held, conn)
                raise
            held = SSHProcess(process, argv, self.host, start, self._errors)
            try:
                yield held
            finally:
                # Shielded: a cancelled call still ends the command and frees the session first.
                await asyncio.shield(held.end())

    def _drop(self, kept: _Kept, conn: asyncssh.SSHClientConnection) -> None:
        if kept.conn is conn:
            kept.conn = None
        conn.abort()

    async def close(self) -> None:
        for kept in (self._commands, self._held):
            conn, kept.conn = kept.conn, None
            if conn is not None:
                conn.close()
                await conn.wait_closed()


class _Kept:
    """One kept connection (opened on demand, reopened after a drop) and its channel cap."""

    def __init__(self) -> None:
        self.conn: asyncssh.SSHClientConnection | None = None
        self.connect_lock = asyncio.Lock()
        self.channels = asyncio.Semaphore(MAX_CHANNELS)
        self.connects = 0


class SSHProcess:
    """A command kept running over its own session channel. Closing the channel's input ends it;
    if our process or the connection dies, sshd closes that input itself."""

    def __init__(self, process: asyncssh.SSHClientProcess, argv: list[str], host: str, start: float,
                 errors: Callable[[], AbstractContextManager[None]]) -> None:  # fmt: skip
        self._process, self._argv, self._host, self._start = process, argv, host, start
        self._errors = errors
        self._result: CommandResult | None = None

    async def readline(self) -> str:
        with self._errors():
            return _text(await self._process.stdout.readline())

    async def end(self) -> CommandResult:
        if self._result is None:
            process = self._process
            with contextlib.suppress(Exception):
                process.stdin.write_eof()
            try:
                proc = await process.wait(timeout=END_WAIT)
            except Exception:
                await _abandon(process, kill=True)
                self._result = CommandResult(
                    tuple(self._argv), 255, "", f"did not exit within {END_WAIT:g} s of the end of its input",
                    time.monotonic() - self._start, self._host,
                )  # fmt: skip
            else:
                process.close()
                await process.wait_closed()
                self._result = _completed(proc, self._argv, self._host, self._start)
        return self._result


async def _abandon(process: asyncssh.SSHClientProcess, *, kill: bool) -> None:
    """Stop waiting for a cancelled or timed-out command, without hanging on it.

    sshd closes a session channel only when its command has exited. A read is killed: sshd
    signals the session's process group (OpenSSH >= 7.9; not for root logins, which run without
    privilege separation). A change is left to finish rather than cut in half. Closing the
    channel makes a command that still writes die of SIGPIPE; the close is awaited briefly only.
    """
    if kill:
        with contextlib.suppress(Exception):
            process.send_signal("KILL")
    process.close()
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(asyncio.shield(process.wait_closed()), ABANDON_WAIT)


def _completed(proc: asyncssh.SSHCompletedProcess, argv: list[str], host: str, start: float) -> CommandResult:
    status = proc.exit_status if proc.exit_status is not None else 255
    signal = f"killed by signal {proc.exit_signal[0]}" if proc.exit_signal else ""
    return CommandResult(
        tuple(argv), status, _text(proc.stdout), _text(proc.stderr) or signal, time.monotonic() - start, host
    )


def _text(value: str | bytes | None) -> str:
    if value is None:
        return ""
    return value.decode(errors="replace") if isinstance(value, bytes) else value
