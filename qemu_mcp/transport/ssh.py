"""Run commands over SSH with asyncssh: one kept connection per host, channels capped, argv quoted once."""

from __future__ import annotations

import asyncio
import contextlib
import shlex
import time
from typing import Any

import asyncssh
from tenacity import AsyncRetrying, retry_if_exception_type, stop_after_attempt, wait_exponential

from qemu_mcp.config import HostSpec
from qemu_mcp.errors import HostUnreachable, NotFound
from qemu_mcp.transport.base import CommandResult, StreamReader, StreamWriter
from qemu_mcp.transport.errors import mapped_errors

# OpenSSH's default MaxSessions: more concurrent channels than this on one connection are refused.
MAX_CHANNELS = 10
READ_ATTEMPTS = 3
CHANNEL_OPEN_ATTEMPTS = 20
ABANDON_WAIT = 2.0  # seconds a cancelled or timed-out command's channel close is waited for


C_LOCALE = ("env", "LC_ALL=C")


def remote_command(argv: list[str]) -> str:
    """The one place argv becomes a shell string. Every remote command runs in the C locale
    (parsers read English messages and '.' decimals); sshd's AcceptEnv cannot be relied on."""
    already = tuple(argv[:2]) == C_LOCALE
    return shlex.join(argv if already else [*C_LOCALE, *argv])


class SSHRunner:
    def __init__(self, spec: HostSpec) -> None:
        self.spec = spec
        self.host = spec.name
        self._conn: asyncssh.SSHClientConnection | None = None
        self._connect_lock = asyncio.Lock()
        self._channels = asyncio.Semaphore(MAX_CHANNELS)
        self.connects = 0  # how many times we opened a connection (tests and `hosts check` read it)

    @property
    def where(self) -> str:
        user = f"{self.spec.user}@" if self.spec.user else ""
        return f"{user}{self.spec.address}:{self.spec.port}"

    def _errors(self, timeout: float | None = None):
        return mapped_errors(self.host, self.where, known_hosts=self.spec.known_hosts, timeout=timeout)

    async def connection(self) -> asyncssh.SSHClientConnection:
        """The kept connection, opened (or reopened after a drop) on demand."""
        async with self._connect_lock:
            if self._conn is not None and not self._conn.is_closed():
                return self._conn
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
                self._conn = await asyncio.wait_for(
                    asyncssh.connect(spec.address or "", **options), spec.connect_timeout + 5
                )
            self.connects += 1
            return self._conn

    async def _run_once(
        self, argv: list[str], stdin: str | None, timeout: float, read_only: bool = False
    ) -> CommandResult:
        command = remote_command(argv)
        async with self._channels:
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
                self._drop(conn)
                raise
            if proc.exit_status is None and proc.exit_signal is None:
                # The channel closed without an exit status: the connection went away mid-command.
                self._drop(conn)
                raise HostUnreachable(
                    f"connection to host '{self.host}' ({self.where}) was lost while running {argv[0]}", self.host
                )
        status = proc.exit_status if proc.exit_status is not None else 255
        return CommandResult(
            tuple(argv),
            status,
            _text(proc.stdout),
            _text(proc.stderr) or (f"killed by signal {proc.exit_signal[0]}" if proc.exit_signal else ""),
            time.monotonic() - start,
            self.host,
        )

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

    def _drop(self, conn: asyncssh.SSHClientConnection) -> None:
        if self._conn is conn:
            self._conn = None
        conn.abort()

    async def close(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            conn.close()
            await conn.wait_closed()


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


def _text(value: str | bytes | None) -> str:
    if value is None:
        return ""
    return value.decode(errors="replace") if isinstance(value, bytes) else value
