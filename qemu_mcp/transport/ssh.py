"""Run commands over SSH with asyncssh: one kept connection per host, channels capped, argv quoted once.

Every wait is bounded by the host's connect_timeout and command_timeout (transport/timing.py):
a silent host is given up on after connect_timeout, whether we are connecting, opening a session
or waiting on a kept connection (keepalives), and a read's retries stay within its budget.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import shlex
import time
import weakref
from collections.abc import Iterator
from typing import Any

import asyncssh

from qemu_mcp.config import HostSpec
from qemu_mcp.errors import CommandTimeout, HostUnreachable, NotFound
from qemu_mcp.transport import trust
from qemu_mcp.transport.base import CommandResult, StreamReader, StreamWriter
from qemu_mcp.transport.errors import mapped_errors
from qemu_mcp.transport.timing import (
    CONNECT_SLACK,
    Deadline,
    keepalive_options,
    read_budget,
    retry_pause,
    worth_retrying,
)

# OpenSSH's default MaxSessions: more concurrent channels than this on one connection are refused.
MAX_CHANNELS = 10
CHANNEL_OPEN_ATTEMPTS = 20
ABANDON_WAIT = 2.0  # seconds a cancelled or timed-out command's channel close is waited for
CLOSE_WAIT = 2.0  # seconds close() waits for a connection's orderly end before cutting it


C_LOCALE = ("env", "LC_ALL=C")
# A change outlives a lost connection instead of being cut in half: its writes to the closed
# channel fail (EPIPE) rather than kill it (SIGPIPE), so e.g. a virsh batch runs to its end.
KEEP_RUNNING = ("sh", "-c", 'trap "" PIPE; exec "$@"', "sh")


def remote_command(argv: list[str], *, change: bool = False) -> str:
    """The one place argv becomes a shell string. Every remote command runs in the C locale
    (parsers read English messages and '.' decimals); sshd's AcceptEnv cannot be relied on.
    A `change` ignores SIGPIPE (KEEP_RUNNING)."""
    words = list(argv[2:]) if tuple(argv[:2]) == C_LOCALE else list(argv)
    return shlex.join([*C_LOCALE, *(KEEP_RUNNING if change else ()), *words])


def program(argv: list[str]) -> str:
    """The program an argv runs, past our `env LC_ALL=C` prefix."""
    return argv[2] if tuple(argv[:2]) == C_LOCALE and len(argv) > 2 else (argv[0] if argv else "command")


class _Client(asyncssh.SSHClient):
    """Remembers why its connection ended (e.g. keepalives unanswered), for the error we raise."""

    lost: Exception | None = None

    def connection_lost(self, exc: Exception | None) -> None:
        self.lost = exc


class SSHRunner:
    def __init__(self, spec: HostSpec) -> None:
        self.spec = spec
        self.host = spec.name
        self._conn: asyncssh.SSHClientConnection | None = None
        self._connecting: asyncio.Task[asyncssh.SSHClientConnection] | None = None
        self._known_hosts = trust.known_hosts_path(spec.known_hosts)
        self._known_stamp: trust.Stamp = None  # known_hosts as it was when _conn was verified
        self._running: dict[asyncssh.SSHClientConnection, int] = {}  # commands in flight per connection
        self._retired: set[asyncssh.SSHClientConnection] = set()  # no new commands; closed once idle
        self._clients: weakref.WeakKeyDictionary[asyncssh.SSHClientConnection, _Client] = weakref.WeakKeyDictionary()
        self._channels = asyncio.Semaphore(MAX_CHANNELS)
        self.connects = 0  # how many times we opened a connection (tests and `hosts check` read it)

    @property
    def where(self) -> str:
        user = f"{self.spec.user}@" if self.spec.user else ""
        return f"{user}{self.spec.address}:{self.spec.port}"

    def _errors(self, timeout: float | None = None, program: str | None = None):
        return mapped_errors(
            self.host, self.where, known_hosts=self.spec.known_hosts, timeout=timeout,
            connect_timeout=self.spec.connect_timeout, program=program,
        )  # fmt: skip

    # ---- the kept connection

    async def connection(self) -> asyncssh.SSHClientConnection:
        """The kept connection, opened (or reopened after a drop) on demand: one attempt serves
        every call waiting for it, so a silent host costs them one connect_timeout, not one each."""
        conn = self._conn
        if conn is not None and not conn.is_closed() and self._still_trusted(conn):
            return conn
        if self._connecting is None:
            task = asyncio.get_running_loop().create_task(self._connect())
            task.add_done_callback(self._connect_done)
            self._connecting = task
        return await asyncio.shield(self._connecting)

    def _connect_done(self, task: asyncio.Task[asyncssh.SSHClientConnection]) -> None:
        if self._connecting is task:
            self._connecting = None
        if not task.cancelled():
            task.exception()  # every waiter got it raised; nobody waiting is not an error

    async def _connect(self) -> asyncssh.SSHClientConnection:
        spec = self.spec
        options: dict[str, Any] = {
            "port": spec.port,
            # A missing known_hosts file means no key is trusted: never None (that disables checking).
            "known_hosts": spec.known_hosts if spec.known_hosts else (),
            "connect_timeout": spec.connect_timeout,
            "client_factory": _Client,
            **keepalive_options(spec.connect_timeout),
        }
        if spec.user:
            options["username"] = spec.user
        if spec.key:
            options["client_keys"] = [spec.key]
        password = spec.ssh_password()
        if password is not None:
            options["password"] = password
        stamp = trust.stamp(self._known_hosts)
        with self._errors(spec.connect_timeout):
            conn = await asyncio.wait_for(
                asyncssh.connect(spec.address or "", **options), spec.connect_timeout + CONNECT_SLACK
            )
        self._conn, self._known_stamp = conn, stamp
        # asyncssh forgets the owner once the connection ends: keep it, it knows why it ended.
        self._clients[conn] = conn.get_owner()  # type: ignore[assignment]
        self.connects += 1
        return conn

    def _still_trusted(self, conn: asyncssh.SSHClientConnection) -> bool:
        """known_hosts unchanged since the connection was verified, or still listing its key
        (transport/trust.py); a connection it no longer trusts is retired."""
        now = trust.stamp(self._known_hosts)
        if now == self._known_stamp:
            return True
        peer = conn.get_extra_info("peername")
        address = self.spec.address or ""
        key = conn.get_server_host_key()
        if trust.trusts(self._known_hosts, key, address, peer[0] if peer else address, self.spec.port):
            self._known_stamp = now
            return True
        self._retire(conn)
        return False

    def _retire(self, conn: asyncssh.SSHClientConnection) -> None:
        """No new command goes to `conn`; it closes when its running commands end (now, if none)."""
        if self._conn is conn:
            self._conn = None
        if self._running.get(conn):
            self._retired.add(conn)
        else:
            conn.close()

    @contextlib.contextmanager
    def _in_flight(self, conn: asyncssh.SSHClientConnection) -> Iterator[None]:
        self._running[conn] = self._running.get(conn, 0) + 1
        try:
            yield
        finally:
            self._running[conn] -= 1
            if not self._running[conn]:
                del self._running[conn]
                if conn in self._retired:
                    self._retired.discard(conn)
                    conn.close()

    def _drop(self, conn: asyncssh.SSHClientConnection) -> None:
        if self._conn is conn:
            self._conn = None
        conn.abort()

    # ---- commands

    async def _run_once(
        self, argv: list[str], stdin: str | None, timeout: float, read_only: bool = False
    ) -> CommandResult:
        async with self._channels:
            conn = await self.connection()
            with self._in_flight(conn):
                return await self._exec(conn, argv, stdin, timeout, read_only)

    async def _exec(
        self, conn: asyncssh.SSHClientConnection, argv: list[str], stdin: str | None, timeout: float, read_only: bool
    ) -> CommandResult:
        start = time.monotonic()
        try:
            with self._errors(timeout, program(argv)):
                process = await self._open_channel(conn, argv, remote_command(argv, change=not read_only))
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
                if proc.exit_status is None and proc.exit_signal is None:
                    # The channel closed without an exit status: the connection went away mid-command.
                    self._drop(conn)
                    raise self._lost_while(conn, argv)
        except HostUnreachable as e:
            if conn.is_closed() or not e.silent:  # a session that did not open in time: the keepalives judge
                self._drop(conn)
            raise (e if read_only else _changed_maybe(e, argv)) from None
        status = proc.exit_status if proc.exit_status is not None else 255
        return CommandResult(
            tuple(argv),
            status,
            _text(proc.stdout),
            _text(proc.stderr) or (f"killed by signal {proc.exit_signal[0]}" if proc.exit_signal else ""),
            time.monotonic() - start,
            self.host,
        )

    def _lost_while(self, conn: asyncssh.SSHClientConnection, argv: list[str]) -> Exception:
        """Why the connection ended under a command: asyncssh's reason when it has one (mapped by
        the caller's _errors), else a plain 'lost'."""
        client = self._clients.get(conn)
        lost = client.lost if client is not None else None
        if isinstance(lost, asyncssh.Error):
            return lost
        return HostUnreachable(
            f"connection to host '{self.host}' ({self.where}) was lost while running {program(argv)}; "
            "check that the host and its sshd are up; the next call reconnects",
            self.host,
        )

    async def _open_channel(
        self, conn: asyncssh.SSHClientConnection, argv: list[str], command: str
    ) -> asyncssh.SSHClientProcess:
        """Open a session channel: the host must answer within connect_timeout."""
        limit = self.spec.connect_timeout
        try:
            async with asyncio.timeout(limit):
                return await _open_session(conn, command)
        except asyncssh.ChannelOpenError:
            if conn.is_closed():  # it ended while we asked (e.g. sshd died): say why, not "refused"
                raise self._lost_while(conn, argv) from None
            raise
        except TimeoutError:
            raise HostUnreachable(
                f"host '{self.host}' ({self.where}) did not answer within {limit:g} s (connect_timeout) when asked "
                "for a session on its open connection; check that the host is up, its network reachable and "
                "the host not overloaded",
                self.host,
                silent=True,
            ) from None

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
        budget = read_budget(self.spec.connect_timeout, timeout)
        deadline = Deadline.after(budget)
        for attempt in itertools.count(1):  # worth_retrying ends it (READ_ATTEMPTS)
            try:
                async with asyncio.timeout_at(deadline.at):
                    left = round(min(timeout, deadline.left()), 1)
                    return await self._run_once(argv, stdin, left, read_only=True)
            except TimeoutError:
                if deadline.left() > 0:
                    raise
                raise CommandTimeout(
                    f"command on host '{self.host}' did not finish within {budget:g} s (connect_timeout "
                    f"{self.spec.connect_timeout:g} + its timeout {timeout:g}) and was abandoned ({program(argv)})",
                    self.host,
                ) from None
            except HostUnreachable as e:
                if not worth_retrying(e, attempt, deadline.left(), self.spec.connect_timeout):
                    raise
            await asyncio.sleep(retry_pause(attempt))
        raise AssertionError("unreachable")  # pragma: no cover

    async def open_unix(self, path: str) -> tuple[StreamReader, StreamWriter]:
        """OpenSSH's direct-streamlocal: the host's sshd connects to the socket; nothing runs there."""
        conn = await self.connection()
        try:
            with self._errors(self.spec.connect_timeout):
                reader, writer = await asyncio.wait_for(conn.open_unix_connection(path), self.spec.connect_timeout)
        except HostUnreachable as e:
            if "open failed" in str(e) or "connect failed" in str(e):
                raise NotFound(
                    f"socket {path} on host '{self.host}' does not answer (or sshd forbids stream forwarding: "
                    "AllowStreamLocalForwarding)"
                ) from None
            raise
        return reader, writer

    async def close(self) -> None:
        """Close every connection (the kept one, retired ones, one being opened); bounded."""
        task, self._connecting = self._connecting, None
        if task is not None:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
        conns = [c for c in (self._conn, *self._retired) if c is not None]
        self._conn = None
        self._retired.clear()
        for conn in conns:
            conn.close()
        for conn in conns:
            try:
                await asyncio.wait_for(conn.wait_closed(), CLOSE_WAIT)
            except TimeoutError:
                conn.abort()

    @property
    def open_connections(self) -> int:
        """Connections this runner holds open (the kept one and retired ones still running commands)."""
        return sum(1 for c in (self._conn, *self._retired) if c is not None and not c.is_closed())


def _changed_maybe(error: HostUnreachable, argv: list[str]) -> HostUnreachable:
    """A change whose connection failed may have run: say so (it is never run again)."""
    error.message += (
        f"; the change ({program(argv)}) may or may not have taken effect: check before repeating it"
    )
    error.args = (error.message,)
    return error


async def _open_session(conn: asyncssh.SSHClientConnection, command: str) -> asyncssh.SSHClientProcess:
    """sshd frees a closed session's slot a moment after the close, so a refusal right at the
    MaxSessions limit is retried: the command has not started, so this is safe."""
    for attempt in range(CHANNEL_OPEN_ATTEMPTS):
        try:
            return await conn.create_process(command)
        except asyncssh.ChannelOpenError:
            if attempt == CHANNEL_OPEN_ATTEMPTS - 1 or conn.is_closed():  # a closed one never opens again
                raise
            await asyncio.sleep(0.02 * (attempt + 1))
    raise AssertionError("unreachable")  # pragma: no cover


async def _abandon(process: asyncssh.SSHClientProcess, *, kill: bool) -> None:
    """Stop waiting for a cancelled or timed-out command, without hanging on it.

    sshd closes a session channel only when its command has exited. A read is killed: sshd
    signals the session's process group (OpenSSH >= 7.9; not for root logins, which run without
    privilege separation). A change is left to finish rather than cut in half (it ignores
    SIGPIPE: KEEP_RUNNING). Closing the channel makes a read that still writes die of SIGPIPE;
    the close is awaited briefly only.
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
