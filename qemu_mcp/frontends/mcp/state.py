"""What the server holds for its lifetime: the inventory, loaded at start, and the Fleet, made for
the first tool call.

Start-up imports only what initialize and tools/list need (the SDK, the inventory; tools/list is
answered from a shipped list, frontends/mcp/lazy.py). The tools (`preload`: their modules and the
result models) and then the operations, and asyncssh and lxml with them, are loaded in a worker
thread, started once tools/list has been answered (a call usually follows) or by the first call,
whichever comes first; a call waits for that, the event loop never does. Only that thread imports
them, so two threads never import the same modules at once.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from mcp.server.context import CallNext, HandlerResult, ServerRequestContext

from qemu_mcp.config import Inventory

if TYPE_CHECKING:
    from qemu_mcp.ops.fleet import Fleet

WARM_UP_DELAY = 0.05  # seconds after tools/list: its reply is written before the import takes the GIL


class ServerState:
    def __init__(self, inventory: Inventory, preload: Callable[[], None] | None = None) -> None:
        self.inventory = inventory
        self._preload = preload
        self._fleet: Fleet | None = None
        self._loading: asyncio.Future[None] | None = None
        self._closed = False

    def warm_up(self) -> None:
        """Start importing the operations in a worker thread (once; not after close)."""
        if self._loading is None and not self._closed:
            self._loading = asyncio.get_running_loop().run_in_executor(None, self._load)

    async def fleet(self) -> Fleet:
        if self._fleet is None:
            self.warm_up()
            if self._loading is None:
                raise RuntimeError("the server is shutting down")
            await asyncio.shield(self._loading)
            if self._fleet is None:  # another call may have made it while we waited
                from qemu_mcp.ops.fleet import Fleet

                self._fleet = Fleet(self.inventory)
        return self._fleet

    async def close(self) -> None:
        self._closed = True
        if self._loading is not None:
            await asyncio.gather(self._loading, return_exceptions=True)
        if self._fleet is not None:
            await self._fleet.close()

    def _load(self) -> None:
        if self._preload is not None:
            self._preload()
        _import_operations()


def _import_operations() -> None:
    """Every operation a tool calls (the tools import them again, from sys.modules, when called)."""
    from qemu_mcp.ops import fleet, host_io, hosts, manage, monitor, vms  # noqa: F401


class WarmUpAfterToolsList:
    """Server middleware: once tools/list is answered, the operations start loading."""

    async def __call__(self, ctx: ServerRequestContext[Any, Any], call_next: CallNext) -> HandlerResult:
        result = await call_next(ctx)
        state = ctx.lifespan_context
        if ctx.method == "tools/list" and isinstance(state, ServerState):
            asyncio.get_running_loop().call_later(WARM_UP_DELAY, state.warm_up)
        return result
