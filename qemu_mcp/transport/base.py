"""The transport interface: run an argv list on a host, get one record back; or keep one running."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from contextlib import AbstractAsyncContextManager, AbstractContextManager
from dataclasses import dataclass
from typing import Protocol

from qemu_mcp.errors import CommandFailed, HostError


@dataclass(frozen=True)
class CommandResult:
    """One finished command, like asyncssh's SSHCompletedProcess."""

    argv: tuple[str, ...]
    exit_status: int
    stdout: str
    stderr: str
    duration: float
    host: str = ""

    @property
    def ok(self) -> bool:
        return self.exit_status == 0

    def check(self, what: str = "") -> CommandResult:
        """Raise CommandFailed unless the command exited 0."""
        if self.exit_status != 0:
            prog = self.argv[0] if self.argv else "command"
            detail = self.stderr.strip() or self.stdout.strip() or "no output"
            subject = f"{what} " if what else ""
            raise CommandFailed(
                f"{subject}failed on host '{self.host}' ({prog} exit {self.exit_status}: {detail})",
                host=self.host,
                exit_status=self.exit_status,
                stderr=self.stderr,
            )
        return self


class Runner(Protocol):
    """Runs commands on one host. Implementations: LocalRunner, SSHRunner, FakeRunner (tests)."""

    host: str
    changes: int  # changing commands started and ended (counts_changes): what was read before may be stale

    async def run(
        self,
        argv: list[str],
        *,
        stdin: str | None = None,
        timeout: float | None = None,
        read_only: bool = False,
    ) -> CommandResult:
        """Run argv; never raise for a non-zero exit (call .check()), raise HostError for transport trouble.

        read_only=True allows bounded retries on connection-level errors.
        """
        ...

    async def open_unix(self, path: str) -> tuple[StreamReader, StreamWriter]:
        """A byte stream to a unix socket on the host (QMP), with no program run there."""
        ...

    def open_process(self, argv: list[str], *, shared: bool = False) -> AbstractAsyncContextManager[OpenProcess]:
        """Start argv and keep it running while the context is open (a lock held on the host, a
        virsh session).

        Leaving the context closes the command's stdin and waits briefly for it to exit (then kills
        it). When our process or its connection dies, the host closes that stdin as well. Raises
        HostError when the command cannot be started.

        shared=True: a command serving many calls (a virsh session). Over SSH it runs on the
        connection of the host's one-shot commands and takes one of their channels, never waiting
        for one (ChannelsBusy at once when all are taken); it does not keep that connection open
        by itself: only its busy() spans count as use, so once the connection sat unused for the
        host's idle_close seconds it closes, and the command ends with it (usable() says so).
        """
        ...

    async def close(self) -> None: ...


class OpenProcess(Protocol):
    """A command kept running on a host by Runner.open_process."""

    async def readline(self) -> str:
        """The next line of its stdout, newline included; '' once stdout has ended."""
        ...

    async def read(self) -> str:
        """What its stdout has next, as soon as anything came (at most READ_CHUNK bytes' worth);
        '' once stdout has ended."""
        ...

    def write(self, text: str) -> None:
        """Queue `text` for its stdin (drain() waits until it is on its way)."""
        ...

    async def drain(self) -> None:
        """Wait until what was written has been handed to the pipe or channel (flow control);
        raises HostError when the command or its connection is gone."""
        ...

    def busy(self) -> AbstractContextManager[None]:
        """While open, the command is using its connection (a shared command's connection is not
        closed for idleness then)."""
        ...

    def usable(self) -> bool:
        """Still running, on a connection that may still be used (known_hosts still trusts the
        host's key): a kept-open command serving many calls asks before each one."""
        ...

    async def end(self) -> CommandResult:
        """Close its stdin, wait for it to exit (killing it if it does not soon), and return its
        exit status with the output not read yet. Safe to call more than once."""
        ...


READ_CHUNK = 64 * 1024


@contextlib.contextmanager
def counts_changes(runner: Runner) -> Iterator[None]:
    """Around a command that may change the host: `runner.changes` moves when it starts and when
    it ends, so whatever was read about the host while it ran is known to be older than it (the
    libvirt XML cache, backends/libvirt/xml_cache.py, drops what it kept)."""
    runner.changes += 1
    try:
        yield
    finally:
        runner.changes += 1


class ChannelsBusy(HostError):
    """Every channel kept-open commands may use on the host is taken (open_process with shared=True)."""


class StreamReader(Protocol):
    async def readline(self) -> bytes: ...


class StreamWriter(Protocol):
    def write(self, data: bytes) -> None: ...

    async def drain(self) -> None: ...

    def close(self) -> None: ...
