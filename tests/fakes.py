"""Runners for tests, after httpx's MockTransport: a handler answers each command, and every call
is recorded (argv, stdin, timeout, read_only) for the test to look at afterwards.

    runner = FakeRunner(lambda call: "missing\\n" if call.argv[0] == "sh" else None)
    await runner.run(["sh", "-c", "..."])
    assert runner.argvs == [["sh", "-c", "..."]]

A handler takes a Call and returns an Answer, a str (the stdout of a success) or None (the
default: success without output for FakeRunner, the real command for RecordingRunner); it may be
async, e.g. to hang. RecordingRunner wraps a real runner: it counts round trips, and its handler
can answer some commands in the real one's place (an injected failure)."""

from __future__ import annotations

import asyncio
import contextlib
import inspect
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from qemu_mcp.transport.base import CommandResult, Runner


@dataclass(frozen=True)
class Call:
    """One command a runner was asked to run, with its keyword arguments."""

    argv: tuple[str, ...]
    stdin: str | None = None
    timeout: float | None = None
    read_only: bool = False

    def has(self, fragment: str) -> bool:
        """Some word of argv contains `fragment` (a subcommand, a marker, a path)."""
        return any(fragment in word for word in self.argv)


@dataclass(frozen=True)
class Answer:
    exit_status: int = 0
    stdout: str = ""
    stderr: str = ""


Reply = Answer | str | None
Handler = Callable[[Call], Reply | Awaitable[Reply]]


@dataclass
class FakeProcess:
    """A kept-open command (the host lock): prints `lines` (waiting `delay` s before each), then
    exits `status` once ended; what is written to its stdin is kept in `written`."""

    lines: list[str]
    status: int = 0
    stderr: str = ""
    delay: float = 0.0
    ended: bool = False
    written: list[str] = field(default_factory=list)

    async def readline(self) -> str:
        await asyncio.sleep(self.delay)
        return self.lines.pop(0) + "\n" if self.lines else ""

    async def read(self) -> str:
        return await self.readline()

    def write(self, text: str) -> None:
        self.written.append(text)

    async def drain(self) -> None:
        return None

    def usable(self) -> bool:
        return not self.ended

    def busy(self) -> contextlib.nullcontext[None]:
        return contextlib.nullcontext()

    async def end(self) -> CommandResult:
        self.ended = True
        return CommandResult(("sh",), self.status, "", self.stderr, 0.0, "local")


@dataclass
class HeldProcesses:
    """What a FakeRunner's kept-open commands did: `held` their argvs, `processes` the fakes."""

    held: list[list[str]] = field(default_factory=list)
    processes: list[FakeProcess] = field(default_factory=list)


class FakeRunner:
    """A host that runs nothing: `handler` answers (None: success, no output); `calls` records.
    Kept-open commands (`open_process`, the host lock) print what `held_answer` makes: `locked`."""

    def __init__(self, handler: Handler | None = None, host: str = "local") -> None:
        self.handler, self.host = handler, host
        self.changes = 0  # Runner.changes: fakes run nothing that changes a host
        self.calls: list[Call] = []
        self.closed = False
        self.kept = HeldProcesses()
        self.held_answer: Callable[[], FakeProcess] = lambda: FakeProcess(["locked"])

    @property
    def held(self) -> list[list[str]]:
        return self.kept.held

    @property
    def processes(self) -> list[FakeProcess]:
        return self.kept.processes

    @contextlib.asynccontextmanager
    async def open_process(self, argv: list[str], *, shared: bool = False) -> AsyncIterator[FakeProcess]:
        self.kept.held.append(list(argv))
        process = self.held_answer()
        self.kept.processes.append(process)
        try:
            yield process
        finally:
            await process.end()

    @property
    def argvs(self) -> list[list[str]]:
        return [list(c.argv) for c in self.calls]

    def count(self, fragment: str) -> int:
        """How many commands had a word containing `fragment`."""
        return sum(c.has(fragment) for c in self.calls)

    async def run(
        self, argv: list[str], *, stdin: str | None = None, timeout: float | None = None, read_only: bool = False
    ) -> CommandResult:
        call = Call(tuple(argv), stdin, timeout, read_only)
        self.calls.append(call)
        reply = self.handler(call) if self.handler is not None else None
        if inspect.isawaitable(reply):
            reply = await reply
        if reply is None:
            return await self.unanswered(call)
        if isinstance(reply, str):
            reply = Answer(stdout=reply)
        return CommandResult(call.argv, reply.exit_status, reply.stdout, reply.stderr, 0.0, self.host)

    async def unanswered(self, call: Call) -> CommandResult:
        return CommandResult(call.argv, 0, "", "", 0.0, self.host)

    async def open_unix(self, path: str) -> Any:
        raise NotImplementedError(f"a FakeRunner has no unix socket {path}")

    async def close(self) -> None:
        self.closed = True


class RecordingRunner(FakeRunner):
    """A real runner, recorded; `handler` may answer a command in its place (None: run it for real).
    QMP streams (open_unix) pass through unrecorded: they are not commands."""

    def __init__(self, inner: Runner, handler: Handler | None = None) -> None:
        super().__init__(handler, inner.host)
        self.inner = inner

    async def unanswered(self, call: Call) -> CommandResult:
        return await self.inner.run(list(call.argv), stdin=call.stdin, timeout=call.timeout, read_only=call.read_only)

    async def open_unix(self, path: str) -> Any:
        return await self.inner.open_unix(path)

    def open_process(self, argv: list[str], *, shared: bool = False) -> Any:  # a lock or a session: not a command
        return self.inner.open_process(argv, shared=shared)

    async def close(self) -> None:
        await self.inner.close()
