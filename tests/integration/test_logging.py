"""A stdio server is quiet by default: a list_vms over SSH writes nothing to stderr (asyncssh logs
every channel, whole host scripts included, at INFO). At info, asyncssh's channel lines still stay
out; at debug they come, as plain lines (stderr is not a terminal)."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest
from mcp import Client, StdioServerParameters
from mcp.client.stdio import stdio_client

pytestmark = pytest.mark.integration


async def stderr_of_list_vms(config: str, tmp_path: Path, *options: str) -> str:
    env = {k: v for k, v in os.environ.items() if k != "QEMU_MCP_LOG_LEVEL"}
    params = StdioServerParameters(
        command=sys.executable, args=["-m", "qemu_mcp", "serve", "--config", config, *options], env=env
    )
    path = tmp_path / f"stderr{'-'.join(options)}"
    with path.open("w") as errlog:
        async with Client(stdio_client(params, errlog=errlog)) as client:
            for host in ("rig", "demo"):
                result = await client.call_tool("list_vms", {"host": host})
                assert not result.is_error, result.content
    return path.read_text()


async def test_stdio_server_writes_nothing_to_stderr_by_default(rig_config: str, tmp_path: Path) -> None:
    assert await stderr_of_list_vms(rig_config, tmp_path) == ""


async def test_asyncssh_channel_lines_only_at_debug(rig_config: str, tmp_path: Path) -> None:
    assert "asyncssh" not in await stderr_of_list_vms(rig_config, tmp_path, "--log-level", "info")
    debug = await stderr_of_list_vms(rig_config, tmp_path, "--log-level", "debug")
    assert "INFO asyncssh: [conn=" in debug and "\x1b[" not in debug  # plain, not rich
