"""An MCPServer that answers tools/list before it has built its tools.

Building the tools (the SDK derives each tool's input model and output schema from its signature,
pydantic models included) is most of what the server does at start-up beyond importing the SDK.
A client's first requests are initialize and tools/list, so tools/list is answered from
`tools_list.json`, shipped next to this module: the exact answer the built tools give, written by
`QEMU_MCP_UPDATE_SNAPSHOT=1 pytest tests/contract`, which also checks that it still equals what
the live definitions produce (tests/contract/test_tools_snapshot.py), so it cannot drift.

The tools (and the resources and prompts registered with them) are built by `load_tools`: in the
warm-up thread once tools/list has been answered (frontends/mcp/state.py), or by the first request
that needs them (a call, resources, prompts), whichever comes first; that request waits for them in
a worker thread, the event loop never does. Validation does not change: a call runs the real tool,
its arguments checked against the same input schema, its result against the same output schema.
Without the shipped file (a broken install) the tools are built at once, as any MCPServer does.
"""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from mcp.server.lowlevel.helper_types import ReadResourceContents
from mcp.server.mcpserver import Context, MCPServer
from mcp.types import GetPromptResult, InputRequiredResult
from mcp.types import Prompt as MCPPrompt
from mcp.types import Resource as MCPResource
from mcp.types import ResourceTemplate as MCPResourceTemplate
from mcp.types import Tool as MCPTool

PRECOMPUTED = Path(__file__).with_name("tools_list.json")


def dump_tools(tools: Iterable[MCPTool]) -> list[dict[str, Any]]:
    """Tools as tools/list serialises them (and as tools_list.json holds them)."""
    return [t.model_dump(mode="json", by_alias=True, exclude_none=True) for t in tools]


def read_precomputed(path: Path = PRECOMPUTED) -> list[MCPTool] | None:
    try:
        raw = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    return [MCPTool.model_validate(t) for t in raw]


class LazyToolsServer(MCPServer[Any]):
    def __init__(self, register: Callable[[MCPServer[Any]], None], **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._register = register
        self._lock = threading.Lock()
        self._loaded = False
        self._precomputed = read_precomputed()
        self._schemas = {t.name: t.input_schema for t in self._precomputed or ()}
        if self._precomputed is None:
            self.load_tools()

    def load_tools(self) -> None:
        """Build the tools, resources and prompts (once; from any thread)."""
        with self._lock:
            if not self._loaded:
                self._register(self)
                self._loaded = True

    async def _ready(self) -> None:
        if not self._loaded:
            await asyncio.get_running_loop().run_in_executor(None, self.load_tools)

    async def list_tools(self) -> list[MCPTool]:
        if not self._loaded and self._precomputed is not None:
            return list(self._precomputed)
        return await super().list_tools()

    def _tool_input_schema(self, name: str) -> dict[str, Any] | None:
        """The SDK checks a call's arguments against this before the call (and before middleware)."""
        if not self._loaded:
            return self._schemas.get(name)
        return super()._tool_input_schema(name)

    async def call_tool(self, name: str, arguments: dict[str, Any], context: Context[Any, Any] | None = None) -> Any:
        await self._ready()
        return await super().call_tool(name, arguments, context)

    async def list_resources(self) -> list[MCPResource]:
        await self._ready()
        return await super().list_resources()

    async def list_resource_templates(self) -> list[MCPResourceTemplate]:
        await self._ready()
        return await super().list_resource_templates()

    async def read_resource(
        self, uri: Any, context: Context[Any, Any] | None = None
    ) -> Iterable[ReadResourceContents] | InputRequiredResult:
        await self._ready()
        return await super().read_resource(uri, context)

    async def list_prompts(self) -> list[MCPPrompt]:
        await self._ready()
        return await super().list_prompts()

    async def get_prompt(
        self, name: str, arguments: dict[str, Any] | None = None, context: Context[Any, Any] | None = None
    ) -> GetPromptResult | InputRequiredResult:
        await self._ready()
        return await super().get_prompt(name, arguments, context)
