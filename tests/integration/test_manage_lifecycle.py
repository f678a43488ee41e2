"""manage_vm's whole life cycle through an MCP session over SSH, checked with virsh, qemu-img and the
file system directly: create (with an ISO, and with every default), start, reboot, stop (graceful
times out on a guest with no OS, then force), modify, delete."""

from __future__ import annotations

import asyncio
import os
import re
import stat
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from lxml import etree
from mcp import Client

from qemu_mcp.config import Inventory
from qemu_mcp.frontends.mcp.server import build_server
from tests.conftest import key_host
from tests.integration.manage_helpers import (
    GIB,
    Area,
    data,
    domstate,
    error,
    exists,
    image_size,
    inactive_xml,
    live_xml,
    make_iso,
    manage_area,
    virsh,
)

pytestmark = pytest.mark.integration
WAIT = 3  # seconds a graceful stop/reboot may take: a guest without an OS never does it


@pytest.fixture(scope="module")
def area(libvirtd_running: None) -> Iterator[Area]:
    with manage_area() as a:
        yield a


@pytest.fixture
def server(sshd_host, area: Area):  # type: ignore[no-untyped-def]
    # The host's vm_dir does not exist yet: create makes it.
    return build_server(Inventory([key_host(sshd_host, vm_dir=f"{area.dir}/vms")]))


class Progress:
    def __init__(self) -> None:
        self.events: list[tuple[float, float | None, str | None]] = []

    async def __call__(self, progress: float, total: float | None, message: str | None) -> None:
        self.events.append((progress, total, message))


async def manage(client: Client, progress: Progress | None = None, **args: Any) -> Any:
    return await client.call_tool("manage_vm", {"host": "rig", **args}, progress_callback=progress)


async def test_full_life_cycle_with_iso_over_ssh(server, area: Area) -> None:  # type: ignore[no-untyped-def]
    name = area.name("life")
    iso = make_iso(Path(area.dir) / "tiny.iso")
    disk = f"{area.dir}/vms/{name}.qcow2"
    async with Client(server) as client:
        # ---- create (not started): the disk, the definition, the ISO first in boot order
        progress = Progress()
        created = data(
            await manage(
                client, progress, name=name, action="create", arch="x86_64", memory="128M", vcpus=1,
                disk="size=1G", iso=iso,
            )
        )  # fmt: skip
        assert created["details"]["disks_created"] == [disk]
        assert domstate(name) == "shut off" and image_size(disk) == GIB
        assert stat.S_IMODE(os.stat(f"{area.dir}/vms").st_mode) == 0o755
        root = etree.fromstring(inactive_xml(name).encode())
        assert root.get("type") in ("qemu", "kvm") and root.get("type") == created["details"]["applied"]["domain_type"]
        assert root.find("os/type").get("machine").startswith("pc-q35")  # type: ignore[union-attr]
        boot = {d.get("device"): d.find("boot").get("order") for d in root.findall("devices/disk")}  # type: ignore[union-attr]
        assert boot == {"cdrom": "1", "disk": "2"}
        assert root.find("devices/disk[@device='cdrom']/source").get("file") == iso  # type: ignore[union-attr]
        assert root.find("devices/disk[@device='disk']/target").get("bus") == "virtio"  # type: ignore[union-attr]
        vnc = root.find("devices/graphics[@type='vnc']")
        assert vnc is not None and vnc.get("autoport") == "yes" and vnc.get("listen") == "127.0.0.1"
        # The NIC: libvirt's own, or (user-mode with the SSH forward, issue 11) QEMU's in <qemu:commandline>
        nic = root.find("devices/interface")
        if nic is None:
            nic = root.find("{http://libvirt.org/schemas/domain/qemu/1.0}commandline")
        assert root.find("devices/serial") is not None and nic is not None
        assert progress.events and progress.events[-1][0] == progress.events[-1][1]  # done == total
        # The commands it ran are reported, XML included.
        commands = created["details"]["commands"]
        assert any(c["argv"][:2] == ["qemu-img", "create"] and c["ran"] for c in commands)
        assert any("define --file /dev/stdin" in " ".join(c["argv"]) and c["stdin"] for c in commands)

        # ---- start; a second start is refused
        data(await manage(client, name=name, action="start"))
        assert domstate(name) == "running"
        assert "is already running" in error(await manage(client, name=name, action="start"))

        # ---- reboot: a guest with no OS ignores ACPI -> clear error; force (confirmed) resets it
        msg = error(await manage(client, name=name, action="reboot", timeout=WAIT))
        assert f"did not reboot within {WAIT} s" in msg and "force=true" in msg
        data(await manage(client, name=name, action="reboot", force=True, confirm=True))
        assert domstate(name) == "running"

        # ---- stop: graceful times out (with progress while waiting), then force
        progress = Progress()
        msg = error(await manage(client, progress, name=name, action="stop", timeout=WAIT))
        assert f"did not shut down within {WAIT} s" in msg and "force=true" in msg
        assert domstate(name) == "running"
        assert len(progress.events) >= 3 and all(total == WAIT for _, total, _ in progress.events)
        assert "needs confirmation: pass confirm=true" in error(
            await manage(client, name=name, action="stop", force=True)
        )
        assert domstate(name) == "running"
        data(await manage(client, name=name, action="stop", force=True, confirm=True))
        assert domstate(name) == "shut off"
        assert "is shut off" in error(await manage(client, name=name, action="reboot"))

        # ---- modify a stopped VM: read back with virsh and qemu-img
        modified = data(await manage(client, name=name, action="modify", memory="256M", vcpus=2, disk="size=2G"))
        d = modified["details"]
        assert d["requested"]["memory_mib"] == d["applied"]["memory_mib"] == 256
        assert d["requested"]["vcpus"] == d["applied"]["vcpus"] == 2
        assert d["applied"]["disk_size_bytes"] == 2 * GIB and not d["restart_required"]
        root = etree.fromstring(inactive_xml(name).encode())
        assert root.findtext("memory") == str(256 * 1024) and root.findtext("currentMemory") == str(256 * 1024)
        assert root.findtext("vcpu") == "2" and image_size(disk) == 2 * GIB
        # Shrinking is refused and changes nothing.
        msg = error(await manage(client, name=name, action="modify", disk="size=1G"))
        assert "shrink" in msg and image_size(disk) == 2 * GIB

        # ---- modify a running VM: without confirmation it applies at next boot (no restart) ...
        data(await manage(client, name=name, action="start"))
        domid = virsh("domid", "--domain", name).stdout.strip()
        d = data(await manage(client, name=name, action="modify", memory="192M", disk="size=3G"))["details"]
        assert d["restart_required"] and "next boot" in " ".join(d["notes"])
        assert virsh("domid", "--domain", name).stdout.strip() == domid  # not restarted
        assert etree.fromstring(inactive_xml(name).encode()).findtext("memory") == str(192 * 1024)
        assert etree.fromstring(live_xml(name).encode()).findtext("memory") == str(256 * 1024)
        assert image_size(disk) == 3 * GIB  # grown live (virsh blockresize)
        # ... with confirmation (and force: no OS to honour ACPI) it is restarted with the new config.
        d = data(await manage(client, name=name, action="modify", vcpus=1, force=True, confirm=True))["details"]
        assert not d["restart_required"] and domstate(name) == "running"
        assert virsh("domid", "--domain", name).stdout.strip() != domid
        live = etree.fromstring(live_xml(name).encode())
        assert live.findtext("vcpu") == "1" and live.findtext("memory") == str(192 * 1024)

        # ---- delete: running needs force; confirmation needed; then nothing is left but the ISO
        assert "force=true" in error(await manage(client, name=name, action="delete", confirm=True))
        assert "pass confirm=true" in error(await manage(client, name=name, action="delete", force=True))
        assert exists(name) and Path(disk).exists()
        deleted = data(await manage(client, name=name, action="delete", force=True, confirm=True))
        assert deleted["details"]["disks_removed"] == [disk]
        assert f"{iso} (cdrom: never deleted)" in deleted["details"]["disks_kept"]
    assert not exists(name) and not Path(disk).exists() and Path(iso).exists()


async def test_create_with_defaults_then_delete(server, area: Area) -> None:  # type: ignore[no-untyped-def]
    name = area.name("plain")
    async with Client(server) as client:
        # Dry run first: the exact commands and XML, and nothing changes.
        before = area.snapshot()
        plan = data(await manage(client, name=name, action="create", arch="x86_64", memory="128M", dry_run=True))
        assert area.snapshot() == before
        assert plan["details"]["xml"] and "<domain" in plan["details"]["xml"]
        planned = [c for c in plan["details"]["commands"] if c["changes_host"]]
        assert planned and not any(c["ran"] for c in planned)

        created = data(await manage(client, name=name, action="create", arch="x86_64", memory="128M", start=True))
        disk = f"{area.dir}/vms/{name}.qcow2"  # <host vm_dir>/<name>.qcow2, 20G qcow2
        assert created["details"]["disks_created"] == [disk] and image_size(disk) == 20 * GIB
        assert domstate(name) == "running"
        root = etree.fromstring(inactive_xml(name).encode())
        assert [d.get("device") for d in root.findall("devices/disk")] == ["disk"]
        assert root.findtext("vcpu") == "2"  # the default

        # The planned XML is what got defined (apart from what libvirt adds: uuid, mac, ...).
        # The same XML, but for the UUID, the MAC and the SSH forward's port each call picks anew.
        def same(xml: str) -> str:
            return re.sub(r"<uuid>[^<]*</uuid>|mac=[0-9a-f:]+|127\.0\.0\.1:[0-9]+|port=\"[0-9]+\"|\s+", "", xml)

        assert same(plan["details"]["xml"]) == same(created["details"]["xml"])
        data(await manage(client, name=name, action="delete", force=True, confirm=True))
    assert not exists(name) and not Path(disk).exists()


async def test_concurrent_calls_on_one_vm_are_serialised(server, area: Area) -> None:  # type: ignore[no-untyped-def]
    name = area.name("pair")
    async with Client(server) as client:
        data(
            await manage(client, name=name, action="create", arch="x86_64", memory="128M", disk="size=64M", start=True)
        )
        # Two graceful stops at once: each waits its full WAIT in turn, never both at the same time.
        # Real time: a real guest ignoring ACPI behind the MCP server (the lock's arithmetic is checked
        # on virtual time in tests/unit/test_manage_flows.py); a lower bound, so load cannot break it.
        loop = asyncio.get_running_loop()
        start = loop.time()
        both = await asyncio.gather(*(manage(client, name=name, action="stop", timeout=2) for _ in range(2)))
        assert loop.time() - start >= 4
        assert all("did not shut down within 2 s" in error(r) for r in both)
        # Two forced stops at once: one powers it off, the other then finds it already off.
        both = await asyncio.gather(
            *(manage(client, name=name, action="stop", force=True, confirm=True) for _ in range(2))
        )
        assert sorted(r.is_error for r in both) == [False, True]
        assert "already shut off" in error(next(r for r in both if r.is_error))
        assert domstate(name) == "shut off"
        data(await manage(client, name=name, action="delete", confirm=True))
    assert not exists(name)
