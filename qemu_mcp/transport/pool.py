"""One runner per host for the life of the server (or CLI command)."""

from __future__ import annotations

import asyncio

from qemu_mcp.config import HostSpec
from qemu_mcp.transport.base import Runner
from qemu_mcp.transport.local import LocalRunner
from qemu_mcp.transport.ssh import SSHRunner


class RunnerPool:
    def __init__(self) -> None:
        self._runners: dict[HostSpec, Runner] = {}

    def get(self, spec: HostSpec) -> Runner:
        runner = self._runners.get(spec)
        if runner is None:
            runner = LocalRunner(spec.name, spec.command_timeout) if spec.is_local else SSHRunner(spec)
            self._runners[spec] = runner
        return runner

    def runners(self) -> list[Runner]:
        """Every runner made so far (what close() will close)."""
        return list(self._runners.values())

    async def close(self) -> None:
        runners, self._runners = list(self._runners.values()), {}
        await asyncio.gather(*(r.close() for r in runners), return_exceptions=True)
