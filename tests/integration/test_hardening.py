"""Property-based: every string parameter of every tool (from tools/list), driven with hostile
values through a real `qemu-mcp serve --http` process acting on the rig's real sshd host.
Every call ends in a clear error (a sentence, never the bare "Error executing tool X" of a
crash) or is handled literally, and the sentinel file an injected command would create never
appears. manage_vm mutations are dry runs on names of a disposable area."""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings

from tests.conftest import key_host
from tests.integration.hostile import RawSession, hostile, is_id_like, string_parameters
from tests.integration.manage_helpers import Area, manage_area
from tests.integration.test_http import start

pytestmark = pytest.mark.integration
SENTINEL = f"/tmp/qmcp-sentinel-{secrets.token_hex(4)}"
PARAMS = string_parameters()
EXAMPLES = 12


@pytest.fixture(scope="module")
def area(libvirtd_running: None) -> Iterator[Area]:
    with manage_area() as a:
        yield a


@pytest.fixture(scope="module")
def server(sshd_host, area: Area, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[RawSession, Path]]:  # type: ignore[no-untyped-def]
    tmp = tmp_path_factory.mktemp("hardening")
    config = tmp / "hosts.yaml"
    rig = key_host(sshd_host, vm_dir=area.dir, accel="tcg").model_dump(exclude_none=True)
    config.write_text(yaml.safe_dump({"hosts": [rig], "audit_log": str(tmp / "audit.jsonl")}))
    log = tmp / "server.log"
    proc, port = start(config, log=log)
    session = RawSession(f"http://127.0.0.1:{port}/mcp")
    try:
        yield session, log
    finally:
        session.close()
        proc.terminate()
        proc.wait(10)
    text = log.read_text()
    assert "Traceback" not in text and "unexpected exception" not in text, text[-5000:]
    assert not Path(SENTINEL).exists()


def base_arguments(tool: str, param: str, area: Area) -> dict[str, Any]:
    """Benign values for the other parameters: every call reaches the rig host (or would)."""
    base: dict[str, dict[str, Any]] = {
        "list_vms": {"host": "rig", "filter_name": area.prefix},
        "get_vm_info": {"host": "rig", "name": area.name("absent")},
        "host_info": {"host": "rig"},
        "list_networks": {"host": "rig"},
        "list_storage_pools": {"host": "rig"},
        "monitor_vm_status": {"host": "rig", "name": area.name("absent"), "interval": 1, "count": 1},
        "host_stats": {"host": "rig", "interval": 1, "source": "diskstats"},
        # create: every create option is checked; a dry run changes nothing.
        "manage_vm": {"host": "rig", "name": area.name("h"), "action": "create", "arch": "x86_64",
                      "memory": "128M", "disk": "size=64M", "dry_run": True},
        # every snapshot option is checked before the VM (absent) is looked up
        "manage_snapshot": {"host": "rig", "name": area.name("absent"), "action": "create", "dry_run": True},
        "list_images": {"host": "rig"},
        # a local file that does not exist: checked before anything reaches the host
        "upload_image": {"host": "rig", "local_path": f"/nonexistent/{area.prefix}img.qcow2", "dry_run": True},
        "vm_console": {"host": "rig", "name": area.name("absent")},
    }  # fmt: skip
    args = dict(base[tool])
    if tool == "manage_vm" and param == "name":
        args = {"host": "rig", "action": "delete", "dry_run": True}  # existing-VM names reach virsh as they are
    return args


def check(tool: str, param: str, value: str, answer: dict[str, Any], area: Area) -> None:
    assert not Path(SENTINEL).exists(), f"{tool}.{param}={value!r} ran an injected command"
    if "error" in answer:  # a JSON-RPC error (e.g. input schema): must still say something
        assert answer["error"].get("message"), answer
        return
    result = answer["result"]
    text = " ".join(c.get("text", "") for c in result.get("content", []))
    if param in ("name", "pool") and tool != "upload_image" and is_id_like(value):  # an id or UUID selects no VM/pool
        assert result.get("isError") and ("not found" in text or "does not exist" in text or "create" in text), (
            f"{tool}.{param}={value!r} selected a VM: {text}"
        )
    if result.get("isError"):
        assert text.strip() != f"Error executing tool {tool}", f"{tool}.{param}={value!r} crashed the tool"
        sentence = text.removeprefix(f"Error executing tool {tool}: ")
        assert len(sentence) > 10, text
        return
    data = (result.get("structuredContent") or {}).get("data") or {}
    if tool == "list_vms" and param == "filter_name":  # literal: only names containing the value
        assert all(value.lower() in vm["name"].lower() for vm in data.get("vms", []))
    if tool == "manage_vm":
        assert data["details"]["dry_run"] is True
        assert not any(c["ran"] for c in data["details"]["commands"] if c["changes_host"])


@pytest.mark.parametrize(("tool", "param"), PARAMS, ids=[f"{t}.{p}" for t, p in PARAMS])
@settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(value=hostile(SENTINEL))
def test_hostile_strings(server, area: Area, tool: str, param: str, value: str) -> None:  # type: ignore[no-untyped-def]
    session, _ = server
    args = base_arguments(tool, param, area)
    args[param] = value
    check(tool, param, value, session.call(tool, args), area)


def test_every_tool_with_a_string_parameter_is_covered() -> None:
    tools = {t for t, _ in PARAMS}
    assert tools >= {"list_vms", "get_vm_info", "host_info", "manage_vm", "monitor_vm_status", "host_stats",
                     "list_networks", "list_storage_pools"}  # fmt: skip
    assert ("manage_vm", "disk") in PARAMS and ("list_vms", "ssh_pwd") in PARAMS
