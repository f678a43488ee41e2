"""What every tool module shares: host/ssh parameters, error mapping, the Fleet from the lifespan."""

from __future__ import annotations

from collections.abc import Awaitable
from typing import Annotated, TypeVar

from mcp.server.mcpserver import Context
from mcp.server.mcpserver.exceptions import ToolError
from mcp.types import ToolAnnotations
from pydantic import Field

from qemu_mcp.errors import QemuMcpError
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


def read_only() -> ToolAnnotations:
    """Reads a host's state and changes nothing; hosts are outside our world (openWorld)."""
    return ToolAnnotations(
        read_only_hint=True, destructive_hint=False, idempotent_hint=True, open_world_hint=True
    )


async def answer(awaitable: Awaitable[T]) -> T:
    """Our errors become tool errors (isError) with the sentence a model can act on."""
    try:
        return await awaitable
    except QemuMcpError as e:
        raise ToolError(str(e)) from None


def fleet_of(ctx: Context) -> Fleet:
    fleet = ctx.request_context.lifespan_context
    assert isinstance(fleet, Fleet)
    return fleet
