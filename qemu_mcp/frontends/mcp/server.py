"""The MCP server: owns the inventory and, from the first call, the Fleet (frontends/mcp/state.py);
tools live in `qemu_mcp.frontends.mcp.tools.*` (thin, over ops, which they import when called).

Start-up builds no tool: tools/list is answered from the shipped tools_list.json and the tools are
built after it (frontends/mcp/lazy.py), so the server answers about as soon as the SDK is imported.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from mcp.server.mcpserver import MCPServer

from qemu_mcp import __version__
from qemu_mcp.config import Inventory, load_inventory
from qemu_mcp.frontends.mcp.lazy import LazyToolsServer
from qemu_mcp.frontends.mcp.state import ServerState, WarmUpAfterToolsList
from qemu_mcp.frontends.mcp.tools.access import HideMutatingTools

INSTRUCTIONS = """\
Manage QEMU/KVM virtual machines on the hosts in this server's inventory (local or over SSH).
Start with list_hosts to see the hosts, then list_vms. `host` names an inventory host; an
address not in the inventory needs ssh_user plus ssh_key or ssh_pwd. The host `demo` is
libvirt's test driver: safe to experiment with."""


def register_tools(server: MCPServer[Any]) -> None:
    """Every tool, resource and prompt (their modules, and the result models, load here)."""
    from qemu_mcp.frontends.mcp import prompts, vm_config
    from qemu_mcp.frontends.mcp.tools import console, images, manage, monitor, read, resources, snapshot

    read.register(server)
    resources.register(server)
    images.register(server)
    manage.register(server)
    monitor.register(server)
    snapshot.register(server)
    prompts.register(server)
    vm_config.register(server)
    console.register(server)


def build_server(inventory: Inventory | None = None, config: str | None = None) -> LazyToolsServer:
    """The server. The inventory is loaded now (so config errors surface at start-up)."""
    inv = inventory or load_inventory(config)

    @asynccontextmanager
    async def lifespan(_: MCPServer[Any]) -> AsyncIterator[ServerState]:
        state = ServerState(inv, preload=server.load_tools)
        try:
            yield state
        finally:
            await state.close()

    server = LazyToolsServer(
        register_tools,
        name="qemu-mcp",
        version=__version__,
        instructions=INSTRUCTIONS,
        lifespan=lifespan,
        middleware=[HideMutatingTools(), WarmUpAfterToolsList()],
    )
    return server
