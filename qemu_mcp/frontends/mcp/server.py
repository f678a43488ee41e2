"""The MCP server: owns the inventory and, from the first call, the Fleet (frontends/mcp/state.py);
tools live in `qemu_mcp.frontends.mcp.tools.*` (thin, over ops, which they import when called)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from mcp.server.mcpserver import MCPServer

from qemu_mcp import __version__
from qemu_mcp.config import Inventory, load_inventory
from qemu_mcp.frontends.mcp.state import ServerState, WarmUpAfterToolsList
from qemu_mcp.frontends.mcp.tools import images, manage, monitor, read, resources, snapshot
from qemu_mcp.frontends.mcp.tools.access import HideMutatingTools

INSTRUCTIONS = """\
Manage QEMU/KVM virtual machines on the hosts in this server's inventory (local or over SSH).
Start with list_hosts to see the hosts, then list_vms. `host` names an inventory host; an
address not in the inventory needs ssh_user plus ssh_key or ssh_pwd. The host `demo` is
libvirt's test driver: safe to experiment with."""


def build_server(inventory: Inventory | None = None, config: str | None = None) -> MCPServer:
    """The server. The inventory is loaded now (so config errors surface at start-up)."""
    inv = inventory or load_inventory(config)

    @asynccontextmanager
    async def lifespan(_: MCPServer) -> AsyncIterator[ServerState]:
        state = ServerState(inv)
        try:
            yield state
        finally:
            await state.close()

    server: MCPServer = MCPServer(
        name="qemu-mcp",
        version=__version__,
        instructions=INSTRUCTIONS,
        lifespan=lifespan,
        middleware=[HideMutatingTools(), WarmUpAfterToolsList()],
    )

    read.register(server)
    resources.register(server)
    images.register(server)
    manage.register(server)
    monitor.register(server)
    snapshot.register(server)
    return server


def serve_stdio(config: str | None = None) -> None:
    build_server(config=config).run("stdio")
