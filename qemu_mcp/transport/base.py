"""The transport interface: run an argv list on a host, get one record back."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from qemu_mcp.errors import CommandFailed


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

    async def close(self) -> None: ...


class StreamReader(Protocol):
    async def readline(self) -> bytes: ...


class StreamWriter(Protocol):
    def write(self, data: bytes) -> None: ...

    async def drain(self) -> None: ...

    def close(self) -> None: ...
