"""One manage_vm call's commands: run or (dry run) only record them, keep undo steps, report progress.

Backends write each action once. Read-only checks run even in a dry run (the plan depends on
what they find); commands that change the host are recorded and not run, so a dry run returns
the exact argv lists (and the XML on stdin) that a real call would run.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import TypeVar

from qemu_mcp.errors import CommandFailed, CommandTimeout, HostUnreachable, QemuMcpError
from qemu_mcp.models import CommandRecord
from qemu_mcp.transport.base import CommandResult, Runner

# progress(done, total, message): total None when unknown. The MCP tool sends notifications,
# the CLI draws a progress bar.
ProgressFn = Callable[[float, float | None, str], Awaitable[None]]
Check = Callable[[CommandResult], None]
T = TypeVar("T")


# After a change was abandoned (timeout, lost connection) it may still take effect on the host:
# rollback watches for it this long (probing every ABANDON_POLL seconds) before it reports.
ABANDON_SETTLE = 15.0
ABANDON_POLL = 1.0
TIMEOUT_HINT = " (a host that is only slow needs a larger command_timeout in hosts.yaml)"
# Failures whose cause the person can fix on the host: what to do, after the command's own words.
HINTS = {
    "No space left on device": "the file system is full there: free space on it, or choose another vm_dir "
    "or disk path, then try again",
    "Disk quota exceeded": "the user's disk quota is used up there: free space, or choose another vm_dir "
    "or disk path, then try again",
}


@dataclass(frozen=True)
class Undo:
    purpose: str  # "removing the disk image /x.qcow2"
    argv: list[str]
    # A read telling whether the change exists on the host (exit 0: it does, 1: it does not). Used
    # when the change was abandoned: the undo runs only once the change is seen, never blindly.
    probe: list[str] | None = None
    # Words for what may exist if the abandoned change takes effect later ("the domain 'x' (uuid u)").
    leftover: str = ""


@dataclass(frozen=True)
class Abandoned:
    """A change whose command outlived its timeout or connection: it may yet take effect."""

    undo: Undo


def program(argv: tuple[str, ...] | list[str]) -> str:
    """The program a command runs, past `env VAR=value` (how we run virsh)."""
    words = list(argv)
    if words and words[0] == "env":
        words = [w for w in words[1:] if "=" not in w] or words
    return words[0] if words else "command"


def failure_detail(result: CommandResult) -> str:
    detail = " ".join(result.stderr.split()) or " ".join(result.stdout.split()) or "no output"
    return f"{program(result.argv)} exit {result.exit_status}: {detail}"


class Job:
    def __init__(
        self,
        runner: Runner,
        host: str,
        *,
        dry_run: bool = False,
        progress: ProgressFn | None = None,
    ) -> None:
        self.runner = runner
        self.host = host
        self.dry_run = dry_run
        self._progress = progress
        self.commands: list[CommandRecord] = []
        self.notes: list[str] = []
        self._undo: list[Undo | Abandoned] = []
        self.settle = ABANDON_SETTLE

    # ---- commands

    async def read(
        self,
        purpose: str,
        argv: list[str],
        *,
        stdin: str | None = None,
        timeout: float | None = None,
        record: bool = True,
    ) -> CommandResult:
        """A command that changes nothing lasting: runs in a dry run too. The caller checks the result."""
        result = await self.runner.run(argv, stdin=stdin, timeout=timeout, read_only=True)
        if record:
            self._record(purpose, argv, stdin, changes_host=False, result=result)
        return result

    async def change(
        self,
        purpose: str,
        argv: list[str],
        *,
        stdin: str | None = None,
        undo: Undo | None = None,
        timeout: float | None = None,
        check: Check | None = None,
    ) -> CommandResult | None:
        """A command that changes the host. Dry run: recorded only (returns None). A failure raises
        CommandFailed naming the step; `undo` is kept only once the command succeeded."""
        if self.dry_run:
            self._record(purpose, argv, stdin, changes_host=True, result=None)
            return None
        try:
            result = await self.runner.run(argv, stdin=stdin, timeout=timeout, read_only=False)
        except (CommandTimeout, HostUnreachable) as e:
            # We stopped waiting; the host may still finish the command. Rollback checks.
            self._record(purpose, argv, stdin, changes_host=True, result=None, abandoned=True)
            if undo is not None:
                self._undo.append(Abandoned(undo))
            e.message = f'step "{purpose}": {e.message}' + (
                TIMEOUT_HINT if isinstance(e, CommandTimeout) else ""
            )
            e.args = (e.message,)
            raise
        self._record(purpose, argv, stdin, changes_host=True, result=result)
        (check or self._check(purpose))(result)
        if undo is not None:
            self._undo.append(undo)
        return result

    async def act(
        self,
        purpose: str,
        what: list[str],
        fn: Callable[[], Awaitable[T]],
        *,
        changes_host: bool = True,
        undo: Undo | None = None,
    ) -> T | None:
        """A step that is not a command run on the host, e.g. a QMP command over the forwarded
        socket; `what` describes it for the record (["qmp", socket, command, arguments]). In a dry
        run a change is recorded only (returns None). An exception is recorded as exit status 1."""
        if self.dry_run and changes_host:
            self._record(purpose, what, None, changes_host=True, result=None)
            return None
        start = time.monotonic()
        status = 1
        try:
            value = await fn()
            status = 0
        finally:
            done = CommandResult(tuple(what), status, "", "", time.monotonic() - start, self.host)
            self._record(purpose, what, None, changes_host=changes_host, result=done)
        if undo is not None:
            self._undo.append(undo)
        return value

    def _check(self, purpose: str) -> Check:
        def check(result: CommandResult) -> None:
            if result.exit_status != 0:
                raise self.step_failed(purpose, result)

        return check

    def step_failed(self, purpose: str, result: CommandResult) -> CommandFailed:
        hints = [f"; {hint}" for mark, hint in HINTS.items() if mark in result.stderr or mark in result.stdout]
        return CommandFailed(
            f"step \"{purpose}\" failed on host '{self.host}' ({failure_detail(result)})" + "".join(hints),
            host=self.host,
            exit_status=result.exit_status,
            stderr=result.stderr,
        )

    def _record(
        self,
        purpose: str,
        argv: list[str],
        stdin: str | None,
        *,
        changes_host: bool,
        result: CommandResult | None,
        abandoned: bool = False,
    ) -> None:
        self.commands.append(
            CommandRecord(
                purpose=purpose,
                argv=list(argv),
                stdin=stdin,
                changes_host=changes_host,
                ran=result is not None or abandoned,
                abandoned=abandoned,
                exit_status=result.exit_status if result else None,
                duration_s=round(result.duration, 3) if result else None,
            )
        )

    def note(self, text: str) -> None:
        self.notes.append(text)

    # ---- undo

    def push_undo(self, undo: Undo) -> None:
        if not self.dry_run:
            self._undo.append(undo)

    def commit(self) -> None:
        """The action finished: nothing is to be undone any more."""
        self._undo.clear()

    async def rollback(self) -> tuple[list[str], list[str]]:
        """Run the undo steps newest first. Returns (what was undone, what could not be undone)."""
        done: list[str] = []
        failed: list[str] = []
        while self._undo:
            step = self._undo.pop()
            if isinstance(step, Abandoned):
                await self._settle(step, done, failed)
            else:
                await self._run_undo(step, done, failed)
        return done, failed

    async def _run_undo(self, undo: Undo, done: list[str], failed: list[str]) -> None:
        try:
            result = await self.runner.run(undo.argv, read_only=False)
        except QemuMcpError as e:
            failed.append(f"{undo.purpose}: {e}{self._left(undo, 'is left')}")
            return
        self._record(f"undo: {undo.purpose}", undo.argv, None, changes_host=True, result=result)
        if result.exit_status == 0:
            done.append(undo.purpose)
        else:
            failed.append(f"{undo.purpose} ({failure_detail(result)}){self._left(undo, 'is left')}")

    def _left(self, undo: Undo, verb: str) -> str:
        """What an undo that did not run leaves on the host, and how to remove it."""
        if not undo.leftover:
            return ""
        return (
            f"; {undo.leftover} {verb} on host '{self.host}': list_vms shows it as an unfinished create, "
            "and manage_vm delete removes it"
        )

    async def _settle(self, step: Abandoned, done: list[str], failed: list[str]) -> None:
        """An abandoned change: undo it once the host shows it; say precisely what may be left."""
        undo = step.undo
        if undo.probe is None:  # an undo that is harmless when there is nothing to undo (rm -f)
            await self._run_undo(undo, done, failed)
            return
        deadline = time.monotonic() + self.settle
        while True:
            seen = await self._probe(undo)
            if seen:
                await self._run_undo(undo, done, failed)
                return
            if seen is None or time.monotonic() >= deadline:
                break
            await asyncio.sleep(ABANDON_POLL)
        state = "could not be checked (the host did not answer)" if seen is None else (
            f"had not taken effect {self.settle:g} s later"
        )
        failed.append(f"{undo.purpose}: not done, the abandoned command {state}{self._left(undo, 'may still appear')}")

    async def _probe(self, undo: Undo) -> bool | None:
        """True: the change exists; False: not (yet); None: the host did not answer."""
        assert undo.probe is not None
        try:
            result = await self.runner.run(undo.probe, read_only=True)
        except QemuMcpError:
            return None
        self._record(f"checking: {undo.purpose}", undo.probe, None, changes_host=False, result=result)
        return result.exit_status == 0

    # ---- progress

    async def report(self, done: float, total: float | None, message: str) -> None:
        """Progress must never break an action: a failing callback is ignored."""
        if self._progress is None:
            return
        with contextlib.suppress(Exception):
            await self._progress(done, total, message)

    @contextlib.asynccontextmanager
    async def ticking(self, total: float, message: str, every: float = 1.0) -> AsyncIterator[None]:
        """Report elapsed seconds of `total` while a long command (e.g. a wait for an event) runs."""

        async def tick() -> None:
            start = time.monotonic()
            while True:
                elapsed = min(time.monotonic() - start, total)
                await self.report(elapsed, total, f"{message} ({elapsed:.0f}/{total:.0f} s)")
                await asyncio.sleep(every)

        task = asyncio.create_task(tick())
        try:
            yield
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
