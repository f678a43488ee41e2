"""An aarch64 guest under TCG: `virt` machine, UEFI from qemu-efi-aarch64, its own NVRAM file."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from lxml import etree
from mcp import Client

from qemu_mcp.config import Inventory
from qemu_mcp.frontends.mcp.server import build_server
from tests.conftest import key_host
from tests.integration.manage_helpers import Area, data, domstate, exists, inactive_xml, manage_area, virsh

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def area(libvirtd_running: None) -> Iterator[Area]:
    with manage_area() as a:
        yield a


def cpu_time(name: str) -> int:
    out = virsh("domstats", "--cpu-total", "--raw", "--domain", name).stdout
    return int(next(line.split("=")[1] for line in out.splitlines() if line.strip().startswith("cpu.time=")))


async def test_aarch64_create_start_delete(sshd_host, area: Area) -> None:  # type: ignore[no-untyped-def]
    name = area.name("arm")
    server = build_server(Inventory([key_host(sshd_host, vm_dir=area.dir)]))  # accel auto: no KVM for aarch64
    async with Client(server) as client:
        created = data(
            await client.call_tool(
                "manage_vm",
                {"host": "rig", "name": name, "action": "create", "arch": "arm64", "memory": "256M",
                 "vcpus": 1, "disk": "size=256M", "start": True},
            )
        )  # fmt: skip
        assert any("TCG" in n and "no KVM for aarch64" in n for n in created["details"]["notes"])
        assert domstate(name) == "running"
        root = etree.fromstring(inactive_xml(name).encode())
        assert root.get("type") == "qemu" and root.find("os/type").get("arch") == "aarch64"  # type: ignore[union-attr]
        assert root.find("os/type").get("machine").startswith("virt")  # type: ignore[union-attr]
        assert root.findtext("os/loader") == "/usr/share/AAVMF/AAVMF_CODE.fd"
        nvram = Path(root.findtext("os/nvram") or "")
        assert nvram.is_file() and nvram.parent == Path("/var/lib/libvirt/qemu/nvram")
        # The firmware really runs: the guest burns CPU time.
        first = cpu_time(name)
        time.sleep(1)
        assert cpu_time(name) > first

        deleted = data(
            await client.call_tool(
                "manage_vm", {"host": "rig", "name": name, "action": "delete", "force": True, "confirm": True}
            )
        )
    assert deleted["details"]["disks_removed"] == [f"{area.dir}/{name}.qcow2"]
    assert not exists(name) and not nvram.exists() and not Path(area.dir, f"{name}.qcow2").exists()
