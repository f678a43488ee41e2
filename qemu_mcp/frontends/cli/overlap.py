"""A cold command on one remote host: its SSH handshake runs while its operations load.

`vm list --host H` must import the fleet (ops/fleet_core.py and what it holds: jobs, policy,
virsh sessions) and its operation (the result models, both backends' parsers, lxml), and wait
for H's SSH handshake, most of which is the server's work. The handshake is started as soon as
the inventory is read and asyncssh is loaded, from the runner pool the fleet is then built on,
and those modules are imported in a worker thread meanwhile; the command then joins the
connection in progress (transport/ssh_link: one attempt serves every caller). Only a host named
as it is in the inventory is reached early, resolved as FleetCore.resolve resolves it; a failure
is not reported here: the command's own first call connects again and reports it as it always
does. Local hosts (`local`, `demo`) and fleet-wide commands import as before.
"""

from __future__ import annotations

import asyncio
import importlib

from qemu_mcp.config import Inventory
from qemu_mcp.transport.pool import RunnerPool

FLEET = "qemu_mcp.ops.fleet_core"


def _forget(task: asyncio.Future[object]) -> None:
    if not task.cancelled():
        task.exception()  # the command's own call reports a failure


def _import_all(modules: list[str]) -> None:
    for module in modules:
        importlib.import_module(module)


async def load_while_connecting(inventory: Inventory, pool: RunnerPool, host: str | None, module: str) -> None:
    """Import the fleet and `module`, meanwhile connecting to `host` when it is a remote
    inventory host (the runner `pool` keeps, for the fleet built on it)."""
    modules = [FLEET, module]
    spec = inventory.hosts.get(host) if host else None
    connect = getattr(pool.get(spec), "connection", None) if spec is not None and not spec.is_local else None
    if connect is None:
        _import_all(modules)
        return
    task = asyncio.ensure_future(connect())
    task.add_done_callback(_forget)
    await asyncio.get_running_loop().run_in_executor(None, _import_all, modules)
