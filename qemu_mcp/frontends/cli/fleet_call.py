"""Run one operation with a Fleet made from the inventory, closed afterwards (every CLI command
that makes one call). Its reads run one virsh process each, no virsh session (fleets.cli_fleet).
`loads`: the module of the operation, imported while the SSH handshake to `host` runs
(overlap.py)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from qemu_mcp.config import load_inventory
from qemu_mcp.frontends.cli.fleets import cli_pool, fleet_on
from qemu_mcp.frontends.cli.overlap import load_while_connecting

if TYPE_CHECKING:
    from qemu_mcp.ops.fleet_core import FleetCore


def with_fleet(
    config: str | None, fn: Callable[[FleetCore], Awaitable[Any]], *, host: str | None = None, loads: str | None = None
) -> Any:
    async def go() -> Any:
        inventory, pool = load_inventory(config), cli_pool()
        if loads is not None:
            await load_while_connecting(inventory, pool, host, loads)
        fleet = fleet_on(inventory, pool, virsh_sessions=False)
        try:
            return await fn(fleet)
        finally:
            await fleet.close()

    return asyncio.run(go())
