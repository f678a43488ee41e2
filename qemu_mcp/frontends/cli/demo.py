"""`qemu-mcp demo`: the built-in `demo` host (libvirt's test driver), seen by a person and by MCP."""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass
from typing import Any

from qemu_mcp.config import load_inventory
from qemu_mcp.frontends.cli.render import Col, FitTable, escape, vm_table
from qemu_mcp.models import ListVmsData
from qemu_mcp.ops.fleet import Fleet, HostRef
from qemu_mcp.ops.vms import list_vms


@dataclass
class Seen:
    """What the demo saw: directly, and through an in-process MCP session."""

    vms: ListVmsData
    tools: list[Any]
    list_vms: Any  # CallToolResult
    host_info: Any

    @property
    def failed(self) -> bool:
        return bool(self.list_vms.is_error or self.host_info.is_error)

    def as_json(self) -> dict[str, Any]:
        return {
            "vms": self.vms.model_dump(mode="json"),
            "tools": [t.model_dump(mode="json", by_alias=True, exclude_none=True) for t in self.tools],
            "list_vms": self.list_vms.structured_content,
            "host_info": self.host_info.structured_content,
        }


async def _see(config: str | None) -> Seen:
    from mcp import Client

    from qemu_mcp.frontends.mcp.server import build_server

    inventory = load_inventory(config)
    fleet = Fleet(inventory)
    try:
        data = await list_vms(fleet, HostRef(host="demo"))
    finally:
        await fleet.close()
    async with Client(build_server(inventory)) as client:
        tools = (await client.list_tools()).tools
        listed = await client.call_tool("list_vms", {"host": "demo"})
        info = await client.call_tool("host_info", {"host": "demo"})
    return Seen(data, list(tools), listed, info)


def _show(seen: Seen) -> None:
    from rich.console import Console

    console = Console()
    console.print(vm_table(seen.vms.vms, f"VMs on host 'demo' (libvirt test driver), {seen.vms.vm_count} found"))
    console.print("\n[bold]The same, asked by an MCP client[/] (in-process session):")
    console.print(tools_table(seen.tools))
    structured = seen.list_vms.structured_content or {}
    console.print(
        f"list_vms(host='demo') -> success={structured.get('success')}, message={structured.get('message')!r}",
        highlight=False,
    )
    console.print(
        "host_info(host='demo') ->",
        json.dumps((seen.host_info.structured_content or {}).get("data", {}))[:300],
        highlight=False,
    )


def tools_table(tools: list[Any]) -> FitTable:
    cols = [Col("tool"), Col("title", kind="fold", drop=1, min_width=12), Col("read-only", drop=2),
            Col("destructive", drop=3), Col("output schema", kind="fold", drop=4)]  # fmt: skip
    rows = [
        [
            tool.name,
            escape(tool.title or ""),
            str(tool.annotations.read_only_hint if tool.annotations else None),
            str(tool.annotations.destructive_hint if tool.annotations else None),
            "yes" if tool.output_schema else "no",
        ]
        for tool in tools
    ]
    return FitTable(cols, rows, "MCP tools")


def run_demo(config: str | None = None, as_json: bool = False) -> int:
    seen = asyncio.run(_see(config))
    if as_json:
        print(json.dumps(seen.as_json(), indent=2))
    else:
        _show(seen)
    return 1 if seen.failed else 0
