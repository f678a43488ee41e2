"""The official MCP Inspector CLI, run against our stdio server as an outside client would."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.integration
TOOLS_BIN = Path(__file__).resolve().parents[2] / ".tools" / "node_modules" / ".bin"


def inspector(config: str, *args: str) -> dict:  # type: ignore[type-arg]
    exe = TOOLS_BIN / "mcp-inspector"
    assert exe.exists(), "MCP Inspector missing: `bash scripts/quickstart.sh test` installs it into .tools/"
    env = {**os.environ, "PATH": f"{TOOLS_BIN}:{os.environ['PATH']}"}  # its Node 22 first
    out = subprocess.run(
        [str(exe), "--cli", *args, "-e", f"QEMU_MCP_CONFIG={config}", "--", sys.executable, "-m", "qemu_mcp", "serve"],
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
    )
    assert out.returncode == 0, out.stdout + out.stderr
    return json.loads(out.stdout)  # type: ignore[no-any-return]


def test_tools_list_strict(rig_config: str) -> None:
    tools = {t["name"]: t for t in inspector(rig_config, "--method", "tools/list", "--strict")["tools"]}
    assert {"list_vms", "get_vm_info", "host_info", "list_hosts"} <= set(tools)
    for t in tools.values():
        assert t["title"] and t["outputSchema"]["type"] == "object"
        assert set(t["annotations"]) >= {"readOnlyHint", "destructiveHint", "idempotentHint", "openWorldHint"}


def test_tools_call(rig_config: str, guests) -> None:  # type: ignore[no-untyped-def]
    result = inspector(
        rig_config,
        "--method",
        "tools/call",
        "--tool-name",
        "list_vms",
        "--tool-arg",
        "host=rig",
        f"filter_name={guests.prefix}",
    )
    assert not result.get("isError")
    assert result["structuredContent"]["data"]["vm_count"] == 2


def test_prompts_and_resource_templates(rig_config: str) -> None:
    prompts = {p["name"] for p in inspector(rig_config, "--method", "prompts/list")["prompts"]}
    assert {"snapshot_then_change", "investigate_vm_boot", "fleet_capacity_report"} <= prompts
    got = inspector(rig_config, "--method", "prompts/get", "--prompt-name", "investigate_vm_boot",
                    "--prompt-args", "name=web1", "host=rig")  # fmt: skip
    assert 'get_vm_info(name="web1", host="rig")' in got["messages"][0]["content"]["text"]
    templates = inspector(rig_config, "--method", "resources/templates/list")["resourceTemplates"]
    uris = {t["uriTemplate"]: t["mimeType"] for t in templates}
    assert uris["qemu-mcp://{host}/vm/{name}/domain.xml"] == "application/xml"
    assert uris["qemu-mcp://{host}/vm/{name}/vm.conf"] == "text/plain"
