"""Kept-open virsh sessions: the read path's commands without a new process per call.

A session is one command kept running on the host (Runner.open_process, shared: over SSH, a
channel on the connection of the host's one-shot commands), `virsh -q -c URI` reading batches
of commands on stdin with its stderr joined to its stdout, line-buffered by stdbuf
(parsers/virsh_session.py reads the transcript). Nothing is installed on the host: virsh and coreutils' stdbuf only.

A session runs one batch at a time; a host has a small pool of them (VirshSessions), opened on
demand and closed with the connection: when nothing used it for the host's idle_close seconds
(the pool closes idle sessions after as long, for the local host). A session is replaced when it ends, when its
connection may no longer be used, when virsh lost libvirt, and when a batch times out (then that
batch fails with CommandTimeout). Whenever a session cannot give a trustworthy answer the caller
gets SessionUnavailable and runs today's one-shot command instead, so errors (libvirtd down, virsh
missing, a refused connection) read exactly as before. A host without stdbuf gets no sessions:
said once, at INFO.

The pool also remembers what the read path learned (the last listing's UUIDs, name -> UUID), so
a warm listing is one batch; those are hints, always checked against what virsh prints. And it
keeps the domain XML listings read while the host's event watch says nothing changed
(xml_cache.py), so a warm listing of unchanged domains asks for no XML at all.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
import time
from collections.abc import Callable, Coroutine, Sequence
from contextlib import AsyncExitStack
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from qemu_mcp import validation
from qemu_mcp.backends.libvirt import errors, virsh
from qemu_mcp.backends.libvirt.event_watch import EventWatch
from qemu_mcp.backends.libvirt.xml_cache import XmlCache
from qemu_mcp.config import HostSpec
from qemu_mcp.errors import CommandTimeout, HostError, HostUnreachable
from qemu_mcp.parsers.virsh_session import BatchOutput, CommandOutput, Garbled, Markers, batch_input, parse_batch
from qemu_mcp.transport.base import OpenProcess, Runner

log = logging.getLogger(__name__)
T = TypeVar("T")

# An interactive virsh keeps a history file in the user's cache directory and rewrites it at
# exit: XDG_CACHE_HOME=/dev/null makes that fail (an error line at exit, nothing written), so
# reads write nothing on the host; VIRSH_HISTSIZE=0 keeps no history in memory either. It reads
# its input through readline: no init file (a user's ~/.inputrc) and a dumb terminal, so every
# host treats a batch line alike.
SESSION_SCRIPT = (
    'XDG_CACHE_HOME=/dev/null VIRSH_HISTSIZE=0 INPUTRC=/dev/null TERM=dumb exec stdbuf -oL virsh -q -c "$1" 2>&1'
)
MAX_SESSIONS = 3  # per host: parallel batches; more calls queue for a free session
PART_MIN = 12  # domains: fewer are not worth a batch of their own on another session
# In-band errors saying virsh lost libvirtd: the session is replaced, the call runs one-shot.
CONNECTION_LOST = (errors.CONNECT_MARK, "no valid connection", "Disconnected from", "Failed to reconnect",
                   "End of file while reading data", "Cannot recv data", "Cannot write data")  # fmt: skip


class JoinNext(Generic[T]):
    """One run at a time. A call that arrives while one runs does not start its own: it joins the
    next run, which starts when the current one ends, after every call that joined it arrived, so
    no call gets an answer older than itself. 200 concurrent listings of a host: two runs."""

    def __init__(self) -> None:
        self._running: asyncio.Task[T] | None = None
        self._next: asyncio.Future[T] | None = None
        self._next_work: Callable[[], Coroutine[Any, Any, T]] | None = None

    async def __call__(self, work: Callable[[], Coroutine[Any, Any, T]]) -> T:
        if self._running is None:
            return await self._start(work)  # not shielded: nobody else waits for this run
        if self._next is None:
            self._next, self._next_work = asyncio.get_running_loop().create_future(), work
            self._next.add_done_callback(_retrieved)
        return await asyncio.shield(self._next)  # one caller giving up does not end it for the others

    def _start(self, work: Callable[[], Coroutine[Any, Any, T]]) -> asyncio.Task[T]:
        task: asyncio.Task[T] = asyncio.get_running_loop().create_task(work())
        self._running = task
        task.add_done_callback(self._ended)
        return task

    def _ended(self, task: asyncio.Task[T]) -> None:
        self._running = None
        joined, work = self._next, self._next_work
        self._next = self._next_work = None
        if joined is not None and work is not None:
            self._start(work).add_done_callback(lambda run: _pass_on(run, joined))


def _retrieved(future: asyncio.Future[Any]) -> None:
    """Its outcome counts as seen, even when every caller gave up waiting."""
    if not future.cancelled():
        future.exception()


def _pass_on(run: asyncio.Task[T], joined: asyncio.Future[T]) -> None:
    if joined.done():
        return
    if run.cancelled():
        joined.cancel()
    elif run.exception() is not None:
        joined.set_exception(run.exception())  # type: ignore[arg-type]
    else:
        joined.set_result(run.result())


class SessionUnavailable(Exception):
    """No trustworthy answer from a session: run the one-shot command instead."""


def session_argv(uri: str) -> list[str]:
    """The session's command; the URI is a positional argument, never part of the script."""
    return ["sh", "-c", SESSION_SCRIPT, "qemu-mcp-virsh", validation.libvirt_uri(uri)]


@dataclass(frozen=True)
class Chain:
    """Commands run back to back with no marker between them, one output for all: for outputs
    that delimit themselves (dumpxml's documents), so the batch line stays short (virsh reads it
    through readline, a byte per system call)."""

    commands: Sequence[Sequence[str]]


Command = Sequence[str] | Chain


def command_line(command: Command) -> str:
    if isinstance(command, Chain):
        return "; ".join(command_line(c) for c in command.commands)
    return " ".join(virsh.quote(w) for w in command)


def no_stdbuf(output: str, status: int) -> bool:
    """The session's sh could not run stdbuf: missing (127) or not executable (126); not: stdbuf
    could not run virsh (its own "failed to run command" line)."""
    return status in (126, errors.COMMAND_MISSING) and "stdbuf" in output and "failed to run command" not in output


class VirshSession:
    """One kept-open `virsh -q` on a host; run() is called by one task at a time (the pool's)."""

    def __init__(self, runner: Runner, spec: HostSpec) -> None:
        self.runner, self.spec = runner, spec
        self._stack = AsyncExitStack()
        self._process: OpenProcess | None = None
        self.last_used = time.monotonic()
        self.broken = False
        self.stuck = False  # a batch timed out or was cancelled: virsh may be busy, kill it in the background
        self.ended_output: str | None = None  # what it printed before it ended by itself

    async def open(self) -> None:
        self._process = await self._stack.enter_async_context(
            self.runner.open_process(session_argv(self.spec.libvirt_uri), shared=True)
        )

    def usable(self) -> bool:
        return not self.broken and self._process is not None and self._process.usable()

    async def run(self, commands: Sequence[Command], timeout: float) -> BatchOutput:
        """One batch. SessionUnavailable when the session ended or printed something unexpected,
        CommandTimeout when it did not finish in time: either way the session is broken then."""
        assert self._process is not None
        markers = Markers(f"qmcp-{secrets.token_hex(6)}")
        done = False
        try:
            async with asyncio.timeout(timeout):
                with self._process.busy():
                    self._process.write(batch_input([command_line(c) for c in commands], markers))
                    await self._process.drain()
                    transcript = await self._read_through(markers.end)
            batch = parse_batch(transcript, markers, len(commands))
            done = True
        except TimeoutError:
            self.stuck = True
            raise CommandTimeout(
                f"virsh session on host '{self.spec.name}' did not answer within {timeout:g} s "
                f"({command_line(commands[0])} ...); it was closed and the next call opens a new one",
                self.spec.name,
            ) from None
        except SessionEnded as e:
            self.ended_output = e.output
            raise SessionUnavailable("the virsh session ended") from None
        except Garbled as e:
            raise SessionUnavailable(f"virsh session output: {e}") from None
        except HostError as e:
            if isinstance(e, HostUnreachable) and e.silent:  # one-shot would only wait as long again
                self.stuck = True  # and so would closing it: in the background
                raise
            raise SessionUnavailable(str(e)) from None
        except BaseException:  # cancelled mid-batch: what it prints next belongs to nobody
            self.stuck = True
            raise
        finally:
            self.broken = self.broken or not done
            self.last_used = time.monotonic()
        if batch.stray or any(mark in line for line in batch.errors for mark in CONNECTION_LOST):
            self.broken = True
            raise SessionUnavailable("virsh session lost libvirt: " + " ".join(batch.stray or batch.errors))
        return batch

    async def _read_through(self, end: str) -> str:
        assert self._process is not None
        chunks: list[str] = []
        tail = ""
        while True:
            chunk = await self._process.read()
            if not chunk:
                raise SessionEnded("".join(chunks))
            chunks.append(chunk)
            if end in tail + chunk:
                return "".join(chunks)
            tail = (tail + chunk)[-len(end) :]

    async def close(self) -> tuple[int, str]:
        """End virsh (stdin closed, killed if it lingers): its exit status and everything it
        printed that no batch read."""
        self.broken = True
        process, self._process = self._process, None
        if process is None:
            return 0, ""
        result = await process.end()
        await self._stack.aclose()
        return result.exit_status, (self.ended_output or "") + result.stdout + result.stderr


class SessionEnded(HostError):
    """virsh ended (or the channel closed) before the batch's end marker; `output` is what it printed."""

    def __init__(self, output: str) -> None:
        super().__init__("the virsh session ended")
        self.output = output


class VirshSessions:
    """A host's virsh sessions: at most `size` of them, each running one batch at a time, opened
    on demand and closed after `idle_close` seconds unused (default: the host's idle_close, when
    its connection closes too). Owned by the Fleet, closed with it."""

    def __init__(self, runner: Runner, spec: HostSpec, size: int = MAX_SESSIONS, idle_close: float | None = None):
        self.runner, self.spec, self.size = runner, spec, size
        self.idle_close = spec.idle_close if idle_close is None else idle_close
        self._slots = asyncio.Semaphore(size)
        self._idle: list[VirshSession] = []
        self._open: set[VirshSession] = set()
        self._closing: set[asyncio.Task[None]] = set()
        self._reaper: asyncio.TimerHandle | None = None
        self.disabled: str | None = None  # why this host gets no sessions (no stdbuf)
        self.batches = 0  # batches answered (tests count round trips with it)
        self.listing: JoinNext[Any] = JoinNext()  # concurrent listings of the host share runs
        # Hints for the read path, always checked against what virsh prints.
        self.listed_uuids: list[str] = []
        self.uuids: dict[str, str] = {}  # name -> UUID
        self.parsed: dict[str, Any] = {}  # UUID -> what the last listing parsed of its XML (read.py)
        self.xml_cache = XmlCache(EventWatch(runner, spec, self.idle_close))  # domain XML listings need not read again

    async def run(self, commands: Sequence[Command], timeout: float) -> list[CommandOutput]:
        """Run `commands` as one batch on a free session (waiting for one when all are busy).
        SessionUnavailable: run the one-shot command instead."""
        if self.disabled:
            raise SessionUnavailable(self.disabled)
        async with self._slots:
            session = await self._take()
            try:
                batch = await session.run(commands, timeout)
            finally:
                await self._give_back(session)
        if batch.outputs is None:  # a command line virsh refused: ours is wrong, the one-shot path says how
            raise SessionUnavailable("virsh refused the batch: " + " ".join(batch.refused))
        self.batches += 1
        return batch.outputs

    async def run_many(self, batches: Sequence[Sequence[Command]], timeout: float) -> list[list[CommandOutput]]:
        """Several batches at once, each on its own session (as many as the pool has; the rest
        queue). When one fails the others are cancelled and the failure is raised: a host error
        that one-shot would only repeat first, else SessionUnavailable."""
        if len(batches) == 1:
            return [await self.run(batches[0], timeout)]
        try:
            async with asyncio.TaskGroup() as group:
                tasks = [group.create_task(self.run(b, timeout)) for b in batches]
        except BaseExceptionGroup as failed:
            errors = [e for e in failed.exceptions if isinstance(e, Exception)]
            raise next((e for e in errors if not isinstance(e, SessionUnavailable)), errors[0]) from None
        return [t.result() for t in tasks]

    def split(self, uuids: Sequence[str]) -> list[list[str]]:
        """`uuids` in up to `size` parts of at least PART_MIN, for run_many: virsh spends most of a
        listing on dumpxml, one domain after the other; sessions side by side share that out."""
        parts = max(1, min(self.size, len(uuids) // PART_MIN))
        return [list(uuids[i::parts]) for i in range(parts) if uuids[i::parts]]

    async def _take(self) -> VirshSession:
        while self._idle:
            session = self._idle.pop()
            if session.usable():
                return session
            self._retire(session)
        session = VirshSession(self.runner, self.spec)
        try:
            await session.open()
        except HostUnreachable as e:
            if e.silent:
                raise
            raise SessionUnavailable(str(e)) from None
        except HostError as e:  # ChannelsBusy (locks hold every channel), a refused channel, ...
            raise SessionUnavailable(str(e)) from None
        self._open.add(session)
        return session

    async def _give_back(self, session: VirshSession) -> None:
        if session.usable():
            self._idle.append(session)
            self._schedule_reap()
        elif session.stuck:
            self._retire(session)
        else:  # it ended, or printed what it should not: close it now (quick), and see why
            await self._closed(session)

    async def _closed(self, session: VirshSession) -> None:
        self._open.discard(session)
        status, output = await session.close()
        if no_stdbuf(output, status) and not self.disabled:
            self.disabled = f"host '{self.spec.name}' has no stdbuf (coreutils): virsh runs one process per call"
            log.info("%s", self.disabled)

    def _retire(self, session: VirshSession) -> None:
        """Close in the background: a stuck virsh is killed only after a grace period."""
        self._open.discard(session)
        task = asyncio.get_running_loop().create_task(self._quietly(session))
        self._closing.add(task)
        task.add_done_callback(self._closing.discard)

    @staticmethod
    async def _quietly(session: VirshSession) -> None:
        with contextlib.suppress(Exception):
            await session.close()

    def _schedule_reap(self) -> None:
        if self._reaper is None:
            self._reaper = asyncio.get_running_loop().call_later(self.idle_close, self._reap)

    def _reap(self) -> None:
        self._reaper = None
        now = time.monotonic()
        stale = [s for s in self._idle if now - s.last_used >= self.idle_close]
        self._idle = [s for s in self._idle if s not in stale]
        for session in stale:
            self._retire(session)
        if self._idle:
            self._schedule_reap()

    @property
    def open_sessions(self) -> int:
        return len(self._open)

    async def close(self) -> None:
        await self.xml_cache.close()
        if self._reaper is not None:
            self._reaper.cancel()
            self._reaper = None
        self._idle = []
        for session in list(self._open):
            self._retire(session)
        if self._closing:
            await asyncio.gather(*self._closing, return_exceptions=True)
