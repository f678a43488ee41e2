"""The MCP surface is a contract: tool names, titles, descriptions, input and output schemas and
annotations, compared with a committed snapshot (taken before the layout change). An intended
change updates the snapshot in the same commit: `QEMU_MCP_UPDATE_SNAPSHOT=1 pytest tests/contract`."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from mcp import Client

from qemu_mcp.config import Inventory
from qemu_mcp.frontends.mcp.server import build_server

SNAPSHOT = Path(__file__).with_name("tools_list.json")


async def current_tools() -> list[dict[str, Any]]:
    async with Client(build_server(Inventory([]))) as client:
        tools = (await client.list_tools()).tools
    return [t.model_dump(mode="json", by_alias=True, exclude_none=True) for t in sorted(tools, key=lambda t: t.name)]


async def test_tools_list_matches_the_snapshot() -> None:
    tools = await current_tools()
    if os.environ.get("QEMU_MCP_UPDATE_SNAPSHOT") == "1":
        SNAPSHOT.write_text(json.dumps(tools, indent=2, sort_keys=True) + "\n")
    expected = json.loads(SNAPSHOT.read_text())
    assert [t["name"] for t in tools] == [t["name"] for t in expected], "tool set changed"
    for got, want in zip(tools, expected, strict=True):
        assert got == want, f"tool {want['name']!r} changed; update the snapshot if that was intended"
