"""`qemu-mcp vm create|start|stop|reboot|delete|modify` as a person runs it (subprocess, rig over SSH)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.integration.manage_helpers import Area, domstate, exists, image_size, manage_area
from tests.integration.test_cli import cli

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def area(libvirtd_running: None) -> Iterator[Area]:
    with manage_area() as a:
        yield a


def test_cli_life_cycle(rig_config: str, area: Area) -> None:
    name = area.name("cli")
    disk = f"{area.dir}/{name}.qcow2"
    base = ["--host", "rig"]
    create = ["vm", "create", name, "--arch", "x86_64", "--memory", "128M", "--disk", "size=64M",
              "--vm-dir", area.dir, *base]  # fmt: skip

    # --dry-run prints the commands and the XML and changes nothing.
    before = area.snapshot()
    dry = cli(*create, "--dry-run", config=rig_config)
    assert dry.returncode == 0, dry.stderr
    assert "qemu-img create -q -f qcow2 -- " + disk in dry.stdout and "<domain" in dry.stdout
    assert area.snapshot() == before

    out = cli(*create, "--start", "--json", config=rig_config)
    assert out.returncode == 0, out.stderr
    result = json.loads(out.stdout)
    assert result["success"] and result["data"]["details"]["disks_created"] == [disk]
    assert domstate(name) == "running"

    # Dangerous steps without --yes (no terminal to ask on): refused, nothing changed.
    refused = cli("vm", "stop", name, "--force", *base, config=rig_config)
    assert refused.returncode == 1 and "Re-run with --yes" in refused.stderr and domstate(name) == "running"
    stopped = cli("vm", "stop", name, "--force", "--yes", *base, config=rig_config)
    assert stopped.returncode == 0 and "powered off" in stopped.stdout and domstate(name) == "shut off"

    grown = cli("vm", "modify", name, "--disk", "size=128M", "--vcpus", "1", *base, config=rig_config)
    assert grown.returncode == 0, grown.stderr
    assert "disk_size_bytes: requested 134217728, applied 134217728" in grown.stdout
    assert image_size(disk) == 128 * 1024**2
    shrink = cli("vm", "modify", name, "--disk", "size=64M", *base, config=rig_config)
    assert shrink.returncode == 1 and "shrink" in shrink.stderr

    assert cli("vm", "delete", name, *base, config=rig_config).returncode == 1 and exists(name)
    gone = cli("vm", "delete", name, "--yes", *base, config=rig_config)
    assert gone.returncode == 0 and f"removed {disk}" in gone.stdout
    assert not exists(name) and not Path(disk).exists()

    bad = cli("vm", "create", "x;y", "--arch", "x86_64", *base, config=rig_config)
    assert bad.returncode == 1 and "is not allowed" in bad.stderr
