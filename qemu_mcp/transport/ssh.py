"""Run commands over SSH with asyncssh: kept connections per host, channels capped, argv quoted once.

Every wait is bounded by the host's connect_timeout and command_timeout (transport/timing.py):
a silent host is given up on after connect_timeout, whether we are connecting, opening a session
or waiting on a kept connection (keepalives), and a read's retries stay within its budget.

Commands share one kept connection (transport/ssh_link.py). Kept-open commands (locks held for a
whole manage_vm call) use a second one with its own cap: each is an open session that sshd counts
against MaxSessions, so on the first connection ten held locks would leave no channel for the
commands of the very calls holding them.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import shlex
import time
from collections.abc import AsyncIterator

from qemu_mcp.config import HostSpec
from qemu_mcp.errors import CommandTimeout, HostUnreachable, NotFound
from qemu_mcp.transport.base import (
    ChannelsBusy,
    CommandResult,
    OpenProcess,
    StreamReader,
    StreamWriter,
    counts_changes,
)
from qemu_mcp.transport.copy import CopyProgress
from qemu_mcp.transport.errors import mapped_errors
from qemu_mcp.transport.sftp_copy import sftp_put
from qemu_mcp.transport.ssh_link import Link
from qemu_mcp.transport.ssh_process import SSHProcess, abandon, completed
from qemu_mcp.transport.sshlib import asyncssh
from qemu_mcp.transport.timing import Deadline, read_budget, retry_pause, worth_retrying

CHANNEL_OPEN_ATTEMPTS = 20

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


class SSHRunner:
    def __init__(self, spec: HostSpec) -> None:
        self.spec = spec
        self.host = spec.name
        self._commands = Link(spec, self.where, self._errors)
        self._held = Link(spec, self.where, self._errors)
        self.changes = 0  # changing commands started and ended (base.counts_changes)

    @property
    def connects(self) -> int:
        """How many times this runner opened a connection, for commands or kept-open ones (tests read it)."""
        return self._commands.connects + self._held.connects

    @property
    def where(self) -> str:
        user = f"{self.spec.user}@" if self.spec.user else ""
        return f"{user}{self.spec.address}:{self.spec.port}"

    def _errors(self, timeout: float | None = None, program: str | None = None):
        return mapped_errors(
            self.host, self.where, known_hosts=self.spec.known_hosts, timeout=timeout,
            connect_timeout=self.spec.connect_timeout, program=program,
        )  # fmt: skip

    async def connection(self) -> asyncssh.SSHClientConnection:
        """The commands' kept connection (tests abort it to simulate a drop)."""
        return await self._commands.connection()

    # ---- commands

    async def _run_once(
        self, argv: list[str], stdin: str | None, timeout: float, read_only: bool = False
    ) -> CommandResult:
        async with self._commands.channels:
            conn = await self._commands.connection()
            with self._commands.in_flight(conn):
                return await self._exec(conn, argv, stdin, timeout, read_only)

    async def _exec(
        self, conn: asyncssh.SSHClientConnection, argv: list[str], stdin: str | None, timeout: float, read_only: bool
    ) -> CommandResult:
        start = time.monotonic()
        try:
            with self._errors(timeout, program(argv)):
                process = await self._open_channel(
                    self._commands, conn, argv, remote_command(argv, change=not read_only)
                )
                try:
                    if stdin is not None:
                        process.stdin.write(stdin)
                    process.stdin.write_eof()
                    proc = await process.wait(timeout=timeout)
                except BaseException:
                    await abandon(process, kill=read_only)
                    raise
                # Wait for the full channel close, so sshd has freed the session before our
                # slot is released (else the 11th channel can be refused).
                process.close()
                await process.wait_closed()
                if proc.exit_status is None and proc.exit_signal is None:
                    # The channel closed without an exit status: the connection went away mid-command.
                    self._commands.drop(conn)
                    raise self._commands.lost_while(conn, program(argv))
        except HostUnreachable as e:
            if conn.is_closed() or not e.silent:  # a session that did not open in time: the keepalives judge
                self._commands.drop(conn)
            raise (e if read_only else _changed_maybe(e, argv)) from None
        return completed(proc, argv, self.host, start)

    async def _open_channel(
        self, link: Link, conn: asyncssh.SSHClientConnection, argv: list[str], command: str
    ) -> asyncssh.SSHClientProcess:
        """Open a session channel: the host must answer within connect_timeout."""
        limit = self.spec.connect_timeout
        try:
            async with asyncio.timeout(limit):
                return await _open_session(conn, command)
        except asyncssh.ChannelOpenError:
            if conn.is_closed():  # it ended while we asked (e.g. sshd died): say why, not "refused"
                raise link.lost_while(conn, program(argv)) from None
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
            with counts_changes(self):
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

    async def copy_in(self, local: str, remote: str, progress: CopyProgress) -> int:
        """Copy a local file to `remote` (created exclusively) over SFTP on the commands' connection."""
        conn = await self._commands.connection()
        with self._commands.in_flight(conn), self._errors(None, "sftp"):
            return await sftp_put(conn, self.host, local, remote, progress)

    async def open_unix(self, path: str) -> tuple[StreamReader, StreamWriter]:
        """OpenSSH's direct-streamlocal: the host's sshd connects to the socket; nothing runs there."""
        conn = await self._commands.connection()
        try:
            with self._errors(self.spec.connect_timeout):
                reader, writer = await asyncio.wait_for(conn.open_unix_connection(path), self.spec.connect_timeout)
            self._commands.in_use_until_closed(conn, writer.channel)
        except HostUnreachable as e:
            if "open failed" in str(e) or "connect failed" in str(e):
                raise NotFound(
                    f"socket {path} on host '{self.host}' does not answer (or sshd forbids stream forwarding: "
                    "AllowStreamLocalForwarding)"
                ) from None
            raise
        return reader, writer

    @contextlib.asynccontextmanager
    async def open_process(self, argv: list[str], *, shared: bool = False) -> AsyncIterator[OpenProcess]:
        """A command kept running on the host: a held one on its own connection (see the module's
        docstring), a shared one (a virsh session) on the commands' connection, which its idle
        close ends (Runner.open_process)."""
        link = self._commands if shared else self._held
        if shared and link.channels.locked():
            raise ChannelsBusy(f"every channel to host '{self.host}' is in use", self.host)
        async with link.channels:
            conn = await link.connection()
            start = time.monotonic()
            try:
                with self._errors(self.spec.connect_timeout):
                    process = await self._open_channel(link, conn, argv, remote_command(argv))
            except HostUnreachable:
                link.drop(conn)
                raise
            held = SSHProcess(process, argv, self.host, start, self._errors,
                              lambda: link.trusts(conn), lambda: link.in_flight(conn))  # fmt: skip
            with contextlib.nullcontext() if shared else link.in_flight(conn):
                try:
                    yield held
                finally:
                    # Shielded: a cancelled call still ends the command and frees the session first.
                    await asyncio.shield(held.end())

    async def close(self) -> None:
        await asyncio.gather(self._commands.close(), self._held.close())

    @property
    def open_connections(self) -> int:
        """Connections this runner holds open (kept and retired ones still running commands)."""
        return self._commands.open_connections + self._held.open_connections


def _changed_maybe(error: HostUnreachable, argv: list[str]) -> HostUnreachable:
    """A change whose connection failed may have run: say so (it is never run again)."""
    error.message += f"; the change ({program(argv)}) may or may not have taken effect: check before repeating it"
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
