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
    table = cli(
        "vm", "list", "--host", "rig", "--status", "running", "--filter", guests.prefix, config=rig_config
    )
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


def test_cli_does_not_import_mcp() -> None:
    code = (
        "import sys; from qemu_mcp.frontends.cli.main import main;"
        "rc = main(['vm', 'list', '--host', 'demo', '--json']);"
        "assert 'mcp' not in sys.modules, 'mcp imported'; sys.exit(rc)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr


def test_demo_command() -> None:
    out = cli("demo")
    assert out.returncode == 0, out.stderr
    assert "test" in out.stdout and "list_vms" in out.stdout and "success=True" in out.stdout
    seen = json.loads(cli("demo", "--json").stdout)
    assert seen["vms"]["vm_count"] == 1 and seen["list_vms"]["success"]
    assert "manage_vm" in {t["name"] for t in seen["tools"]}
