"""A cold command on one remote host: its SSH handshake runs while its operations load.

`vm list --host H` must import its operation (the result models, both backends' parsers, lxml)
and then wait for H's SSH handshake, most of which is the server's work. Started first, the
handshake goes on while those modules are imported in a worker thread; the command then joins the
connection in progress (transport/ssh_link: one attempt serves every caller). A failure is not
reported here: the command's own first call connects again and reports it as it always does.
Local hosts (`local`, `demo`) and fleet-wide commands import as before.
"""

from __future__ import annotations

import asyncio
import importlib
from typing import TYPE_CHECKING

from qemu_mcp.errors import QemuMcpError

if TYPE_CHECKING:
    from qemu_mcp.ops.fleet_core import FleetCore


def _forget(task: asyncio.Future[object]) -> None:
    if not task.cancelled():
        task.exception()  # the command's own call reports a failure


async def load_while_connecting(fleet: FleetCore, host: str | None, module: str) -> None:
    """Import `module`, meanwhile connecting to `host` when it is one remote inventory host."""
    from qemu_mcp.ops.fleet_core import HostRef

    try:
        spec = fleet.resolve(HostRef(host=host)) if host else None
    except QemuMcpError:
        spec = None  # the command reports it
    connect = getattr(fleet.runner(spec), "connection", None) if spec is not None and not spec.is_local else None
    if connect is None:
        importlib.import_module(module)
        return
    task = asyncio.ensure_future(connect())
    task.add_done_callback(_forget)
    await asyncio.get_running_loop().run_in_executor(None, importlib.import_module, module)
