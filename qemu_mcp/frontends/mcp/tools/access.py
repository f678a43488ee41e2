"""Who may see the mutating tools: tools/list leaves them out for a read-only token, and when the
policy is read-only for every host. (A call is refused anyway, in ops: Policy.check_action.)"""

from __future__ import annotations

from typing import Any

from mcp.server.context import CallNext, HandlerResult, ServerRequestContext
from mcp.server.mcpserver.exceptions import ToolError
from mcp.types import ListToolsResult

from qemu_mcp import levels
from qemu_mcp.auth import Principal
from qemu_mcp.frontends.mcp.state import ServerState
from qemu_mcp.frontends.mcp.tools.common import HasInventory, principal_of
from qemu_mcp.policy import any_host_may_mutate


def may_mutate(fleet: HasInventory, who: Principal) -> bool:
    inv = fleet.inventory
    return not who.read_only and any_host_may_mutate(inv.policy, (h.policy for h in inv.hosts.values()))


class HideMutatingTools:
    """Server middleware (runs around every request): filters the tools/list answer."""

    async def __call__(self, ctx: ServerRequestContext[Any, Any], call_next: CallNext) -> HandlerResult:
        result = await call_next(ctx)
        state = ctx.lifespan_context
        if ctx.method != "tools/list" or not isinstance(state, ServerState):
            return result
        try:
            visible = may_mutate(state, principal_of(state, getattr(ctx.request, "headers", None)))
        except ToolError:
            visible = False
        if visible:
            return result
        if isinstance(result, ListToolsResult):
            return result.model_copy(update={"tools": [t for t in result.tools if t.name not in levels.MUTATING_TOOLS]})
        if isinstance(result, dict) and isinstance(result.get("tools"), list):  # the serialised answer
            return {**result, "tools": [t for t in result["tools"] if t.get("name") not in levels.MUTATING_TOOLS]}
        return result
