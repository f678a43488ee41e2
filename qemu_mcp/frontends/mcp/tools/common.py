"""What every tool module shares: host/ssh parameters, error mapping, the Fleet from the lifespan.

Tool modules import the operations inside the tool functions: the server starts without them
(frontends/mcp/state.py).
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, Mapping
from typing import TYPE_CHECKING, Annotated, Any, Protocol, TypeVar

from mcp.server.mcpserver import Context, MCPServer
from mcp.server.mcpserver.exceptions import ToolError
from mcp.types import CallToolResult, TextContent, ToolAnnotations
from pydantic import BaseModel, Field

from qemu_mcp import levels
from qemu_mcp.auth import STDIO, Principal
from qemu_mcp.config import Inventory
from qemu_mcp.errors import QemuMcpError
from qemu_mcp.frontends.mcp.schema_shape import flat_schema
from qemu_mcp.frontends.mcp.state import ServerState

if TYPE_CHECKING:
    from qemu_mcp.models import HostFailure
    from qemu_mcp.ops.fleet import Fleet

T = TypeVar("T")

Host = Annotated[
    str | None,
    Field(description="Inventory host name or SSH address; omit for this machine ('local')"),
]
SshPort = Annotated[int | None, Field(description="SSH port for an ad-hoc host (default 22)", ge=1, le=65535)]
SshUser = Annotated[str | None, Field(description="SSH user for an ad-hoc host")]
SshPwd = Annotated[str | None, Field(description="SSH password for an ad-hoc host (prefer ssh_key)")]
SshKey = Annotated[str | None, Field(description="Path of an SSH private key on the server's machine")]


def tool_annotations(tool: str, *, idempotent: bool, open_world: bool) -> ToolAnnotations:
    """readOnly/destructive hints from the levels table (qemu_mcp/levels.py)."""
    return ToolAnnotations(
        read_only_hint=not levels.tool_mutates(tool),
        destructive_hint=levels.tool_destructive(tool),
        idempotent_hint=idempotent,
        open_world_hint=open_world,
    )


def add_tool(
    server: MCPServer,
    fn: Callable[..., Awaitable[Any]],
    *,
    title: str,
    description: str,
    idempotent: bool,
    open_world: bool,
) -> None:
    """Register `fn` as the tool of its name, with its annotations from the levels table and its
    output schema in the shape clients check fastest (frontends/mcp/schema_shape.py flat_schema)."""
    annotations = tool_annotations(fn.__name__, idempotent=idempotent, open_world=open_world)
    server.add_tool(fn, title=title, description=description, annotations=annotations)
    tool = server._tool_manager.get_tool(fn.__name__)  # the SDK offers no public handle on it
    if tool is not None and tool.fn_metadata.output_schema is not None:
        # read live by tools/list; results are still validated with the pydantic model
        tool.fn_metadata.output_schema = flat_schema(tool.fn_metadata.output_schema)


# HTTP without tokens (loopback only): the caller is whoever can reach the port.
ANONYMOUS_HTTP = Principal(subject="http-anonymous")


class HasInventory(Protocol):
    @property
    def inventory(self) -> Inventory: ...


def principal_of(fleet: HasInventory, headers: Mapping[str, Any] | None) -> Principal:
    """Who is calling: stdio (no headers), the subject of the HTTP request's token (the same
    TokenStore as the HTTP middleware, which has already refused requests without a known token)."""
    if headers is None:
        return STDIO
    store = fleet.inventory.token_store()
    if not store.enabled:
        return ANONYMOUS_HTTP
    principal = store.authenticate({str(k): str(v) for k, v in headers.items()})
    if principal is None:  # unreachable behind the middleware; never act for an unknown caller
        raise ToolError("this request carries no known token (send 'Authorization: Bearer TOKEN')")
    return principal


def caller(ctx: Context) -> Principal:
    try:
        headers = ctx.headers
    except ValueError:  # no request: MCPServer.call_tool() called directly
        headers = None
    return principal_of(state_of(ctx), headers)


async def answer(awaitable: Awaitable[T]) -> T:
    """Our errors become tool errors (isError) with the sentence a model can act on."""
    try:
        return await awaitable
    except QemuMcpError as e:
        raise ToolError(str(e)) from None


def unreachable(message: str, errors: list[HostFailure]) -> str:
    """A fleet-wide listing's message, naming the hosts that failed."""
    return message + ("; unreachable: " + ", ".join(e.host for e in errors) if errors else "")


def state_of(ctx: Context) -> ServerState:
    state = ctx.request_context.lifespan_context
    assert isinstance(state, ServerState)
    return state


async def fleet_of(ctx: Context) -> Fleet:
    """The server's Fleet (the first call waits for the operations to be imported)."""
    return await state_of(ctx).fleet()


def lean(result: BaseModel) -> CallToolResult:
    """The tool's result dumped once: the structured content, and as the text block (for clients
    that read only text) that same content as compact JSON, not the SDK's second, indented dump.
    A tool returning this is annotated Annotated[CallToolResult, TheModel]: same output schema."""
    data = result.model_dump(mode="json")
    text = json.dumps(data, ensure_ascii=False, separators=(",", ":"))
    return CallToolResult(content=[TextContent(type="text", text=text)], structured_content=data)
