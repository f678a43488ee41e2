"""The CLI as a person runs it: a subprocess with a hosts.yaml naming the rig."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

pytestmark = pytest.mark.integration


def cli(*args: str, config: str | None = None) -> subprocess.CompletedProcess[str]:
    pre = ["--config", config] if config else []
    env = {**os.environ, "COLUMNS": "200"}  # a wide terminal, as a person would have
    return subprocess.run(
        [sys.executable, "-m", "qemu_mcp", *pre, *args], capture_output=True, text=True, timeout=120, env=env
    )


def test_vm_list_json_and_table(rig_config: str, guests) -> None:  # type: ignore[no-untyped-def]
    out = cli("vm", "list", "--host", "rig", "--filter", guests.prefix, "--json", config=rig_config)
    assert out.returncode == 0, out.stderr
    data = json.loads(out.stdout)
    assert {v["name"] for v in data["vms"]} == {guests.running, guests.stopped}
    table = cli("vm", "list", "--host", "rig", "--status", "running", "--filter", guests.prefix, config=rig_config)
    assert table.returncode == 0 and guests.running in table.stdout and guests.stopped not in table.stdout


def test_vm_info(rig_config: str, guests) -> None:  # type: ignore[no-untyped-def]
    out = cli("vm", "info", guests.stopped, "--host", "rig", "--json", config=rig_config)
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout)["vcpus"] == 2
    missing = cli("vm", "info", "qmcp-nope", "--host", "rig", config=rig_config)
    assert missing.returncode == 1 and "not found on host 'rig'" in missing.stderr


def test_hosts_list_and_check(rig_config: str) -> None:
    out = cli("hosts", "list", "--json", config=rig_config)
    hosts = {h["name"]: h for h in json.loads(out.stdout)["hosts"]}
    assert hosts["rig"]["reachable"] and hosts["rig"]["backend"] == "libvirt"
    check = cli("hosts", "check", "rig", config=rig_config)
    assert check.returncode == 0, check.stdout + check.stderr
    assert "ok" in check.stdout and "libvirt 9" in check.stdout


def test_config_error_is_clear(tmp_path) -> None:  # type: ignore[no-untyped-def]
    bad = tmp_path / "hosts.yaml"
    bad.write_text("hosts:\n  - name: lab\n    port: nope\n")
    out = cli("vm", "list", config=str(bad))
    assert out.returncode == 1 and "host 'lab', key 'port'" in out.stderr


# What a cold `vm list --host demo --json` must not load (start-up time, issue 13): the MCP SDK and
# its web stack, the SSH transport (demo is local), rich (--json draws nothing), and the operations
# of other commands. lxml is loaded, and needed: the libvirt listing parses every domain's XML.
NOT_FOR_A_LOCAL_LISTING = (
    "mcp", "uvicorn", "starlette", "asyncssh", "rich",
    "qemu_mcp.transport.ssh", "qemu_mcp.ops.manage", "qemu_mcp.ops.monitor", "qemu_mcp.frontends.mcp",
)  # fmt: skip
LOADED_AT_EXIT = """\
import json, os, runpy, sys
sys.argv = ["qemu-mcp", *sys.argv[2:]]  # python -c CODE - ARGS...
def dump():
    with open(MODULES, "w") as f:
        json.dump(sorted(sys.modules), f)
exit_now = os._exit  # how the entry point ends a command (frontends/cli/entry.py)
os._exit = lambda code: (dump(), exit_now(code))
try:
    runpy.run_module("qemu_mcp", run_name="__main__")
finally:
    dump()
"""


def modules_loaded_by(tmp_path, *args: str) -> tuple[subprocess.CompletedProcess[str], set[str]]:  # type: ignore[no-untyped-def]
    """Run `python -m qemu_mcp ARGS` in a fresh interpreter; its result and every module it loaded."""
    modules = tmp_path / "modules.json"
    code = LOADED_AT_EXIT.replace("MODULES", repr(str(modules)))
    out = subprocess.run([sys.executable, "-c", code, "-", *args], capture_output=True, text=True, timeout=120)
    return out, set(json.loads(modules.read_text()))


def test_cli_does_not_import_mcp(tmp_path) -> None:  # type: ignore[no-untyped-def]
    out, loaded = modules_loaded_by(tmp_path, "vm", "list", "--host", "demo", "--json")
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout)["vm_count"] == 1
    unwanted = sorted(m for m in loaded if any(m == x or m.startswith(x + ".") for x in NOT_FOR_A_LOCAL_LISTING))
    assert not unwanted, unwanted
    assert "lxml.etree" in loaded and "qemu_mcp.ops.vms" in loaded  # the listing itself ran


def test_demo_command() -> None:
    out = cli("demo")
    assert out.returncode == 0, out.stderr
    assert "test" in out.stdout and "list_vms" in out.stdout and "success=True" in out.stdout
    seen = json.loads(cli("demo", "--json").stdout)
    assert seen["vms"]["vm_count"] == 1 and seen["list_vms"]["success"]
    assert "manage_vm" in {t["name"] for t in seen["tools"]}


def test_vm_list_connects_once_while_loading(rig_config: str) -> None:
    """The handshake started while the operation loads (frontends/cli/overlap.py) is the one the
    listing uses: one connection, and an unknown host is still reported by the listing."""
    out = cli("--log-level", "debug", "vm", "list", "--host", "rig", "--json", config=rig_config)
    assert out.returncode == 0, out.stderr
    assert out.stderr.count("Opening SSH connection") == 1, out.stderr[-2000:]
    missing = cli("vm", "list", "--host", "qmcp-no-such-host", "--json", config=rig_config)
    assert missing.returncode == 1 and "not in the inventory" in missing.stderr
