"""The server through real MCP sessions: in process (mcp.Client) and as a stdio subprocess."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from mcp import Client, StdioServerParameters

from qemu_mcp.config import HostSpec, Inventory
from qemu_mcp.frontends.mcp.server import build_server

pytestmark = pytest.mark.integration
TOOLS = {"list_vms", "get_vm_info", "host_info", "list_hosts"}


def check_tool_metadata(tools) -> None:  # type: ignore[no-untyped-def]
    assert {t.name for t in tools} >= TOOLS
    for t in tools:
        assert t.title and t.description, t.name
        a = t.annotations
        assert a is not None, t.name
        for hint in ("read_only_hint", "destructive_hint", "idempotent_hint", "open_world_hint"):
            assert getattr(a, hint) is not None, (t.name, hint)
        assert t.output_schema and t.output_schema.get("type") == "object", t.name
        assert {"success", "message", "data"} <= set(t.output_schema["properties"]), t.name


async def test_in_process_session(rig_spec: HostSpec, guests) -> None:  # type: ignore[no-untyped-def]
    async with Client(build_server(Inventory([rig_spec]))) as client:
        check_tool_metadata((await client.list_tools()).tools)

        result = await client.call_tool("list_vms", {"host": "rig", "filter_name": guests.prefix})
        assert not result.is_error
        data = result.structured_content["data"]  # type: ignore[index]
        assert data["vm_count"] == 2
        assert {v["name"]: v["status"] for v in data["vms"]} == {
            guests.running: "running",
            guests.stopped: "stopped",
        }
        assert result.structured_content["success"] is True  # type: ignore[index]

        info = await client.call_tool("get_vm_info", {"name": guests.running, "host": "rig"})
        assert not info.is_error and "<domain" in info.structured_content["data"]["xml"]  # type: ignore[index]

        missing = await client.call_tool("get_vm_info", {"name": "qmcp-nope", "host": "rig"})
        assert missing.is_error
        assert "domain 'qmcp-nope' not found on host 'rig'" in missing.content[0].text  # type: ignore[union-attr]

        bad = await client.call_tool("get_vm_info", {"name": "--help", "host": "rig"})
        assert bad.is_error and "starts with '-'" in bad.content[0].text  # type: ignore[union-attr]

        hosts = await client.call_tool("list_hosts", {})
        names = {h["name"]: h["reachable"] for h in hosts.structured_content["data"]["hosts"]}  # type: ignore[index]
        assert names["rig"] is True and names["demo"] is True


async def test_stdio_subprocess_with_adhoc_password_host(
    rig_config: str,
    sshd_host,
    guests,
    tmp_path: Path,  # type: ignore[no-untyped-def]
) -> None:
    # HOME with the rig's key in ~/.ssh/known_hosts: ad-hoc hosts verify against the user's file.
    home = tmp_path / "home"
    (home / ".ssh").mkdir(parents=True)
    shutil.copy(sshd_host.known_hosts, home / ".ssh" / "known_hosts")
    params = StdioServerParameters(
        command=sys.executable,
        args=["-m", "qemu_mcp", "--config", rig_config, "serve"],
        env={**os.environ, "HOME": str(home)},
    )
    async with Client(params) as client:
        check_tool_metadata((await client.list_tools()).tools)
        demo = await client.call_tool("list_vms", {"host": "demo"})
        assert not demo.is_error and demo.structured_content["data"]["vm_count"] == 1  # type: ignore[index]
        adhoc = await client.call_tool(
            "list_vms",
            {
                "host": "127.0.0.1",
                "ssh_port": sshd_host.port,
                "ssh_user": sshd_host.password_user,
                "ssh_pwd": sshd_host.password,
                "filter_name": guests.prefix,
            },
        )
        assert not adhoc.is_error, adhoc.content
        assert adhoc.structured_content["data"]["vm_count"] == 2  # type: ignore[index]
        wrong = await client.call_tool(
            "list_vms",
            {
                "host": "127.0.0.1",
                "ssh_port": sshd_host.port,
                "ssh_user": sshd_host.password_user,
                "ssh_pwd": "not-the-password-123",
            },
        )
        assert wrong.is_error
        text = wrong.content[0].text  # type: ignore[union-attr]
        assert "authentication" in text and "not-the-password-123" not in text


# The server answers initialize and tools/list before building its tools (the answer is shipped,
# frontends/mcp/lazy.py) and before loading the operations (and asyncssh, lxml with them): they load
# in a worker thread afterwards, or for the first call (frontends/mcp/state.py).
LOADED_FOR_TOOLS_LIST = """\
import asyncio, json, sys
from qemu_mcp.frontends.cli.main import main  # what `qemu-mcp serve` imports first
from qemu_mcp.config import Inventory
from qemu_mcp.frontends.mcp.server import build_server

tools = asyncio.run(build_server(Inventory([])).list_tools())
print(json.dumps({"tools": len(tools), "modules": sorted(sys.modules)}))
"""


def test_tools_list_needs_no_operations() -> None:
    out = subprocess.run([sys.executable, "-c", LOADED_FOR_TOOLS_LIST], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    seen = json.loads(out.stdout)
    assert seen["tools"] >= len(TOOLS)
    heavy = ("asyncssh", "lxml", "qemu_mcp.ops", "qemu_mcp.backends", "qemu_mcp.transport.ssh", "qemu_mcp.models")
    heavy += tuple(f"qemu_mcp.frontends.mcp.tools.{m}" for m in ("read", "manage", "monitor", "snapshot"))
    loaded = sorted(m for m in seen["modules"] if any(m == h or m.startswith(h + ".") for h in heavy))
    assert not loaded, loaded
