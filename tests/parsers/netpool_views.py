"""The list_networks / list_storage_pools fixtures (commands-netpool.jsonl) as the product reads them.

Each capture is replayed through the backend's own read function (the libvirt or plain-QEMU
network and storage reads), with the capture's fixed marker: the function must build exactly the
recorded argv (a changed script needs a re-capture), and gets the recorded exit status, stdout and
stderr back. The view is what it returns (models as JSON without the fields that hold their default:
None, [], ...), or the error it raises.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any
from unittest import mock

from pydantic import BaseModel

from qemu_mcp.backends.libvirt import networks, pools
from qemu_mcp.backends.libvirt import scripts as libvirt_scripts
from qemu_mcp.backends.qemu import bridges, storage
from qemu_mcp.config import HostSpec
from qemu_mcp.errors import QemuMcpError
from qemu_mcp.transport.base import CommandResult

HOST = "fixture"


class ReplayRunner:
    """A Runner that answers the one recorded command, and refuses any other."""

    host = HOST

    def __init__(self, argv: list[str], exit_status: int, stdout: str, stderr: str) -> None:
        self.argv, self.exit_status, self.stdout, self.stderr = argv, exit_status, stdout, stderr

    async def run(self, argv: list[str], **_: Any) -> CommandResult:
        if list(argv) != self.argv:
            raise AssertionError(f"the product now runs another command than the capture recorded: {argv!r}")
        return CommandResult(tuple(argv), self.exit_status, self.stdout, self.stderr, 0.0, HOST)


def as_json(value: Any) -> Any:
    if isinstance(value, BaseModel):
        return value.model_dump(mode="json", exclude_defaults=True)
    if isinstance(value, (list, tuple)):
        return [as_json(v) for v in value]
    return value


async def replay(module: Any, marker: str, call: Callable[[], Awaitable[Any]]) -> Any:
    """`call` with `module` (and the libvirt scripts' reader) making the capture's marker."""
    with (
        mock.patch.object(module, "new_marker", lambda: marker),
        mock.patch.object(libvirt_scripts, "new_marker", lambda: marker),
    ):
        try:
            return {"result": as_json(await call())}
        except QemuMcpError as e:
            return {"error": type(e).__name__, "message": str(e)}


async def view(runner: ReplayRunner, argv: list[str]) -> Any:
    """argv: sh -c SCRIPT $0 URI MARKER [POOL] (libvirt), sh -c SCRIPT $0 MARKER ... (plain QEMU)."""
    script = argv[3]
    if script.startswith("qemu-mcp-"):
        spec, marker = HostSpec(name=HOST, libvirt_uri=argv[4]), argv[5]
        if script == "qemu-mcp-networks":
            return await replay(libvirt_scripts, marker, lambda: networks.list_networks(runner, spec))
        if script == "qemu-mcp-pools":
            return await replay(pools, marker, lambda: pools.list_pools(runner, spec))
        return await replay(pools, marker, lambda: pools.describe_pool(runner, spec, argv[6]))
    marker = argv[4]
    if script == "qmcp-qemu-bridges":
        return await replay(bridges, marker, lambda: bridges.list_bridges(runner, HostSpec(name=HOST)))
    spec = HostSpec(name=HOST, vm_dir=argv[6])
    if argv[5] == "list":
        return await replay(storage, marker, lambda: storage.list_dirs(runner, spec))
    return {
        name: await replay(storage, marker, lambda pool=name: storage.describe_dir(runner, spec, pool))
        for name in storage.POOLS
    }


SCRIPTS = ("qemu-mcp-networks", "qemu-mcp-pools", "qemu-mcp-pool", "qmcp-qemu-bridges", "qmcp-qemu-storage")


def netpool_view(fixture_dir: Path, name: str, text: str, exit_status: int, argv: list[str]) -> Any:
    """The parse of a network/storage fixture; None when argv is not one of theirs."""
    if argv[:2] != ["sh", "-c"] or len(argv) < 5 or argv[3] not in SCRIPTS:
        return None
    stderr_file = fixture_dir / name.replace(".txt", ".stderr.txt")
    stderr = stderr_file.read_text() if stderr_file.exists() else ""
    return asyncio.run(view(ReplayRunner(argv, exit_status, text, stderr), argv))
