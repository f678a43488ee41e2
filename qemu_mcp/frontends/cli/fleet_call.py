"""Run one operation with a Fleet made from the inventory, closed afterwards (every CLI command
that makes one call). Its reads run one virsh process each, no virsh session (fleets.cli_fleet)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from qemu_mcp.frontends.cli.fleets import cli_fleet

if TYPE_CHECKING:
    from qemu_mcp.ops.fleet_core import FleetCore


def with_fleet(config: str | None, fn: Callable[[FleetCore], Awaitable[Any]]) -> Any:
    async def go() -> Any:
        fleet = cli_fleet(config, virsh_sessions=False)
        try:
            return await fn(fleet)
        finally:
            await fleet.close()

    return asyncio.run(go())
