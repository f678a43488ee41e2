"""`qemu-mcp demo`: the built-in `demo` host (libvirt's test driver), seen by a person and by MCP."""

from __future__ import annotations

import asyncio
import json

from rich.console import Console
from rich.table import Table

from qemu_mcp.config import load_inventory
from qemu_mcp.frontends.cli.render import vm_table
from qemu_mcp.ops.fleet import Fleet, HostRef
from qemu_mcp.ops.vms import list_vms


async def _run(config: str | None, console: Console) -> int:
    from mcp import Client

    from qemu_mcp.frontends.mcp.server import build_server

    inventory = load_inventory(config)
    fleet = Fleet(inventory)
    try:
        data = await list_vms(fleet, HostRef(host="demo"))
    finally:
        await fleet.close()
    console.print(vm_table(data.vms, f"VMs on host 'demo' (libvirt test driver), {data.vm_count} found"))

    console.print("\n[bold]The same, asked by an MCP client[/] (in-process session):")
    async with Client(build_server(inventory)) as client:
        tools = await client.list_tools()
        t = Table(title="MCP tools")
        for col in ("tool", "title", "read-only", "destructive", "output schema"):
            t.add_column(col, no_wrap=col == "tool")
        for tool in tools.tools:
            a = tool.annotations
            t.add_row(
                tool.name,
                tool.title or "",
                str(a.read_only_hint if a else None),
                str(a.destructive_hint if a else None),
                "yes" if tool.output_schema else "no",
            )
        console.print(t)
        result = await client.call_tool("list_vms", {"host": "demo"})
        structured = result.structured_content or {}
        console.print(
            f"list_vms(host='demo') -> success={structured.get('success')}, "
            f"message={structured.get('message')!r}",
            highlight=False,
        )
        info = await client.call_tool("host_info", {"host": "demo"})
        console.print(
            "host_info(host='demo') ->",
            json.dumps((info.structured_content or {}).get("data", {}))[:300],
            highlight=False,
        )
        return 1 if result.is_error or info.is_error else 0


def run_demo(config: str | None = None) -> int:
    return asyncio.run(_run(config, Console()))
