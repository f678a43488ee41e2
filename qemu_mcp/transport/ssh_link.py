"""One kept SSH connection to a host (opened on demand, reopened after a drop), with its channel cap.

Every wait is bounded by the host's connect_timeout (transport/timing.py): one connect attempt
serves every call waiting for it, keepalives drop a connection silent that long, and a connection
whose host key known_hosts no longer lists takes no new commands (transport/trust.py).

A connection nothing has used for the host's `idle_close` seconds (no command, no forwarded
stream) is closed, and the next call opens a new one: a server listing a thousand hosts now and
then does not hold a thousand connections (and sshd sessions) in between.
"""

from __future__ import annotations

import asyncio
import contextlib
import weakref
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from typing import Any

from qemu_mcp.config import HostSpec
from qemu_mcp.errors import HostUnreachable
from qemu_mcp.transport import trust
from qemu_mcp.transport.sshlib import asyncssh
from qemu_mcp.transport.timing import CONNECT_SLACK, keepalive_options

# OpenSSH's default MaxSessions: more concurrent channels than this on one connection are refused.
MAX_CHANNELS = 10
CLOSE_WAIT = 2.0  # seconds close() waits for a connection's orderly end before cutting it
# asyncssh's own first choice, chacha20-poly1305, builds two cipher contexts in Python for every
# packet: a 50-domain listing spent a fifth of its CPU there. AES-GCM is one call per packet in
# `cryptography`; the others stay, in asyncssh's order, for servers without it.
CIPHERS = ("aes128-gcm@openssh.com", "aes256-gcm@openssh.com", "chacha20-poly1305@openssh.com",
           "aes256-ctr", "aes192-ctr", "aes128-ctr")  # fmt: skip

Errors = Callable[[float | None], AbstractContextManager[None]]


class _Client(asyncssh.SSHClient):
    """Remembers why its connection ended (e.g. keepalives unanswered), for the error we raise."""

    lost: Exception | None = None

    def connection_lost(self, exc: Exception | None) -> None:
        self.lost = exc


class Link:
    def __init__(self, spec: HostSpec, where: str, errors: Errors) -> None:
        self.spec, self.host, self.where, self._errors = spec, spec.name, where, errors
        self._conn: asyncssh.SSHClientConnection | None = None
        self._connecting: asyncio.Task[asyncssh.SSHClientConnection] | None = None
        self._known_hosts = trust.known_hosts_path(spec.known_hosts)
        self._known_stamp: trust.Stamp = None  # known_hosts as it was when _conn was verified
        self._running: dict[asyncssh.SSHClientConnection, int] = {}  # commands in flight per connection
        self._retired: set[asyncssh.SSHClientConnection] = set()  # no new commands; closed once idle
        self._clients: weakref.WeakKeyDictionary[asyncssh.SSHClientConnection, _Client] = weakref.WeakKeyDictionary()
        self._closing: set[asyncssh.SSHClientConnection] = set()  # closed for idleness, maybe not yet gone
        self._idle: asyncio.TimerHandle | None = None
        self._last_used = 0.0  # the event loop's clock when the connection last became unused
        self._streams: set[asyncio.Task[None]] = set()  # waits for forwarded streams to close
        self.channels = asyncio.Semaphore(MAX_CHANNELS)
        self.connects = 0  # how many times this link opened a connection
        self.idle_closes = 0  # how many times it closed one that idle_close seconds left unused

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

    def _options(self) -> dict[str, Any]:
        spec = self.spec
        options: dict[str, Any] = {
            "port": spec.port,
            # A missing known_hosts file means no key is trusted: never None (that disables checking).
            "known_hosts": spec.known_hosts if spec.known_hosts else (),
            "connect_timeout": spec.connect_timeout,
            "client_factory": _Client,
            "encryption_algs": list(CIPHERS),
            **keepalive_options(spec.connect_timeout),
        }
        if spec.user:
            options["username"] = spec.user
        if spec.key:
            options["client_keys"] = [spec.key]
        password = spec.ssh_password()
        if password is not None:
            options["password"] = password
        return options

    async def _connect(self) -> asyncssh.SSHClientConnection:
        spec = self.spec
        stamp = trust.stamp(self._known_hosts)
        with self._errors(spec.connect_timeout):
            conn = await asyncio.wait_for(
                asyncssh.connect(spec.address or "", **self._options()), spec.connect_timeout + CONNECT_SLACK
            )
        self._conn, self._known_stamp = conn, stamp
        # asyncssh forgets the owner once the connection ends: keep it, it knows why it ended.
        self._clients[conn] = conn.get_owner()  # type: ignore[assignment]
        self.connects += 1
        self._unused_from_now()  # closed after idle_close even if the call that opened it never uses it
        return conn

    def trusts(self, conn: asyncssh.SSHClientConnection) -> bool:
        """`conn` is open and may still be used (what connection() checks before handing it out)."""
        return not conn.is_closed() and self._still_trusted(conn)

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
    def in_flight(self, conn: asyncssh.SSHClientConnection) -> Iterator[None]:
        self._enter(conn)
        try:
            yield
        finally:
            self._leave(conn)

    def in_use_until_closed(
        self, conn: asyncssh.SSHClientConnection, channel: asyncssh.channel.SSHChannel[Any]
    ) -> None:
        """A forwarded stream (open_unix) keeps its connection in use until the stream's channel closes."""
        self._enter(conn)
        task = asyncio.get_running_loop().create_task(channel.wait_closed())
        self._streams.add(task)

        def done(t: asyncio.Task[None]) -> None:
            self._streams.discard(t)
            self._leave(conn)

        task.add_done_callback(done)

    def _enter(self, conn: asyncssh.SSHClientConnection) -> None:
        self._running[conn] = self._running.get(conn, 0) + 1

    def _leave(self, conn: asyncssh.SSHClientConnection) -> None:
        self._running[conn] -= 1
        if self._running[conn]:
            return
        del self._running[conn]
        if conn in self._retired:
            self._retired.discard(conn)
            conn.close()
        elif conn is self._conn:
            self._unused_from_now()

    # ---- idle close

    def _unused_from_now(self) -> None:
        """The kept connection has nothing running: close it idle_close seconds from now unless
        something uses it in between (one timer per link, pushed back rather than re-armed)."""
        loop = asyncio.get_running_loop()
        self._last_used = loop.time()
        if self._idle is None:
            self._idle = loop.call_later(self.spec.idle_close, self._close_if_idle)

    def _close_if_idle(self) -> None:
        self._idle = None
        conn = self._conn
        if conn is None or conn.is_closed() or self._running.get(conn):
            return  # gone already, or busy: the end of its last command starts the wait again
        loop = asyncio.get_running_loop()
        left = self._last_used + self.spec.idle_close - loop.time()
        if left > 0:
            self._idle = loop.call_later(left, self._close_if_idle)
            return
        self._conn = None
        self._closing = {c for c in self._closing if not c.is_closed()}
        self._closing.add(conn)
        conn.close()
        self.idle_closes += 1

    def drop(self, conn: asyncssh.SSHClientConnection) -> None:
        if self._conn is conn:
            self._conn = None
        conn.abort()

    def lost_while(self, conn: asyncssh.SSHClientConnection, what: str) -> Exception:
        """Why the connection ended under a command: asyncssh's reason when it has one (mapped by
        the caller's errors), else a plain 'lost'."""
        client = self._clients.get(conn)
        lost = client.lost if client is not None else None
        if isinstance(lost, asyncssh.Error):
            return lost
        return HostUnreachable(
            f"connection to host '{self.host}' ({self.where}) was lost while running {what}; "
            "check that the host and its sshd are up; the next call reconnects",
            self.host,
        )

    async def close(self) -> None:
        """Close every connection (the kept one, retired ones, one being opened, ones closed for
        idleness that have not ended yet); bounded."""
        task, self._connecting = self._connecting, None
        if task is not None:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
        if self._idle is not None:
            self._idle.cancel()
            self._idle = None
        for stream in list(self._streams):
            stream.cancel()
        conns = [c for c in (self._conn, *self._retired, *self._closing) if c is not None]
        self._conn = None
        self._retired.clear()
        self._closing.clear()
        for conn in conns:
            conn.close()
        for conn in conns:
            try:
                await asyncio.wait_for(conn.wait_closed(), CLOSE_WAIT)
            except TimeoutError:
                conn.abort()

    @property
    def open_connections(self) -> int:
        """Connections this link holds open (the kept one and retired ones still running commands)."""
        return sum(1 for c in (self._conn, *self._retired) if c is not None and not c.is_closed())
