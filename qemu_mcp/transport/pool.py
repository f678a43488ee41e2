"""One runner per host for the life of the server (or CLI command).

Local hosts get a LocalRunner; remote hosts the runner `remote` makes (SSHRunner). This module
does not import the SSH transport, so that a command on local hosts never loads asyncssh: the
caller that builds the pool chooses (ops/fleet.py: SSHRunner; the CLI: SSHRunner, imported when
a remote host is first reached).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from qemu_mcp.config import HostSpec
from qemu_mcp.transport.base import Runner
from qemu_mcp.transport.local import LocalRunner

RemoteRunner = Callable[[HostSpec], Runner]


class RunnerPool:
    def __init__(self, remote: RemoteRunner | None = None) -> None:
        self._runners: dict[HostSpec, Runner] = {}
        self._remote = remote

    def get(self, spec: HostSpec) -> Runner:
        runner = self._runners.get(spec)
        if runner is None:
            runner = LocalRunner(spec.name, spec.command_timeout) if spec.is_local else self._make_remote(spec)
            self._runners[spec] = runner
        return runner

    def _make_remote(self, spec: HostSpec) -> Runner:
        if self._remote is None:
            raise RuntimeError(f"host '{spec.name}' is remote, and this runner pool was built without a transport")
        return self._remote(spec)

    def runners(self) -> list[Runner]:
        """Every runner made so far (what close() will close)."""
        return list(self._runners.values())

    async def close(self) -> None:
        runners, self._runners = list(self._runners.values()), {}
        await asyncio.gather(*(r.close() for r in runners), return_exceptions=True)
