"""The server builds its tools after its first tools/list (frontends/mcp/lazy.py): whatever comes
first — a call, resources, prompts, or the warm-up after tools/list — finds them built."""

from __future__ import annotations

from mcp import Client

from qemu_mcp.config import Inventory
from qemu_mcp.frontends.mcp.lazy import dump_tools
from qemu_mcp.frontends.mcp.server import build_server


async def test_a_call_first_builds_the_tools() -> None:
    server = build_server(Inventory([]))
    assert not server._loaded
    async with Client(server) as client:
        result = await client.call_tool("list_hosts", {})
    assert not result.is_error and server._loaded
    assert {h["name"] for h in result.structured_content["data"]["hosts"]} >= {"local", "demo"}  # type: ignore[index]


async def test_a_bad_argument_is_refused_before_the_tools_are_built() -> None:
    """The input schema comes from the shipped list until then: the same check, the same refusal."""
    async with Client(build_server(Inventory([]))) as client:
        result = await client.call_tool("list_vms", {"status": "sleeping"})
    assert result.is_error


async def test_prompts_and_resources_first() -> None:
    async with Client(build_server(Inventory([]))) as client:
        prompts = (await client.list_prompts()).prompts
        templates = (await client.list_resource_templates()).resource_templates
    assert prompts and templates


async def test_tools_after_building_are_the_shipped_ones() -> None:
    server = build_server(Inventory([]))
    before = dump_tools(await server.list_tools())
    server.load_tools()
    assert dump_tools(await server.list_tools()) == before  # (the SDK may order an object's keys otherwise)
