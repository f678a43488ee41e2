"""Run one operation with a Fleet made from the inventory, closed afterwards (every CLI command)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

from qemu_mcp.config import load_inventory
from qemu_mcp.ops.fleet import Fleet


def with_fleet(config: str | None, fn: Callable[[Fleet], Awaitable[Any]]) -> Any:
    async def go() -> Any:
        fleet = Fleet(load_inventory(config))
        try:
            return await fn(fleet)
        finally:
            await fleet.close()

    return asyncio.run(go())
