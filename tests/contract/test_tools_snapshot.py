"""The MCP surface is a contract: tool names, titles, descriptions, input and output schemas and
annotations, compared with a committed snapshot (taken before the layout change). An intended
change updates the snapshot in the same commit: `QEMU_MCP_UPDATE_SNAPSHOT=1 pytest tests/contract`.

That command also writes qemu_mcp/frontends/mcp/tools_list.json, the list the server answers its
first tools/list with before it has built its tools (frontends/mcp/lazy.py); the tests below check
that it equals what the live tool definitions produce, so it cannot drift from them."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from mcp import Client

from qemu_mcp.config import Inventory
from qemu_mcp.frontends.mcp.lazy import PRECOMPUTED, dump_tools
from qemu_mcp.frontends.mcp.server import build_server

SNAPSHOT = Path(__file__).with_name("tools_list.json")
UPDATE = os.environ.get("QEMU_MCP_UPDATE_SNAPSHOT") == "1"
HOW = "run `QEMU_MCP_UPDATE_SNAPSHOT=1 pytest tests/contract` if the change was intended"


async def live_tools() -> list[dict[str, Any]]:
    """What the built tools answer, in the server's order (the tools built before the first request)."""
    server = build_server(Inventory([]))
    server.load_tools()
    async with Client(server) as client:
        return dump_tools((await client.list_tools()).tools)


async def first_answer() -> list[dict[str, Any]]:
    """What a fresh server answers its first tools/list with (before building its tools)."""
    async with Client(build_server(Inventory([]))) as client:
        return dump_tools((await client.list_tools()).tools)


async def current_tools() -> list[dict[str, Any]]:
    return sorted(await live_tools(), key=lambda t: t["name"])


async def test_tools_list_matches_the_snapshot() -> None:
    tools = await current_tools()
    if UPDATE:
        SNAPSHOT.write_text(json.dumps(tools, indent=2, sort_keys=True) + "\n")
    expected = json.loads(SNAPSHOT.read_text())
    assert [t["name"] for t in tools] == [t["name"] for t in expected], "tool set changed"
    for got, want in zip(tools, expected, strict=True):
        assert got == want, f"tool {want['name']!r} changed; update the snapshot if that was intended"


async def test_the_shipped_tools_list_is_what_the_tools_produce() -> None:
    live = await live_tools()
    if UPDATE:
        PRECOMPUTED.write_text(json.dumps(live, indent=1) + "\n")  # the order tools/list gives
    assert json.loads(PRECOMPUTED.read_text()) == live, f"{PRECOMPUTED.name} is stale: {HOW}"


async def test_the_first_tools_list_is_the_live_one() -> None:
    """Answered from the shipped file, identical to the built tools' answer, order included."""
    assert await first_answer() == await live_tools()
