"""manage_vm modify add_disk / remove_disk through an MCP session over SSH, on a libvirt rig host and
a plain-QEMU rig host, with tiny VMs (no OS). Checked directly: `virsh dumpxml` (live and
--inactive), the files, vm.conf, and QMP query-block over the socket with a plain socket client.

A guest without an OS never releases a PCI (virtio) disk, so a live virtio removal stays pending
(said so, file kept); SCSI disks leave a running guest at once and show the live removal."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from lxml import etree
from mcp import Client

from qemu_mcp.config import Inventory
from qemu_mcp.frontends.mcp.server import build_server
from qemu_mcp.policy import PolicySpec
from tests.conftest import key_host
from tests.integration.manage_helpers import (
    Area,
    data,
    domstate,
    error,
    image_size,
    inactive_xml,
    live_xml,
    manage_area,
)
from tests.integration.qemu_helpers import QemuArea, qemu_area, qmp

pytestmark = pytest.mark.integration
MIB = 1024**2


def targets(xml: str) -> dict[str, str]:
    """target dev -> source file of every disk in a domain XML."""
    root = etree.fromstring(xml.encode())
    out = {}
    for d in root.iterfind("devices/disk"):
        t, s = d.find("target"), d.find("source")
        out[t.get("dev")] = s.get("file") if s is not None else ""  # type: ignore[union-attr]
    return out


# ---- libvirt


@pytest.fixture(scope="module")
def larea(libvirtd_running: None) -> Iterator[Area]:
    with manage_area() as a:
        yield a


@pytest.fixture
def lserver(sshd_host, larea: Area):  # type: ignore[no-untyped-def]
    return build_server(Inventory([key_host(sshd_host, vm_dir=larea.dir)]))


async def lmanage(client: Client, **args: Any) -> Any:
    return await client.call_tool("manage_vm", {"host": "rig", **args})


async def test_libvirt_add_and_remove_persistent_and_live(lserver, larea: Area) -> None:  # type: ignore[no-untyped-def]
    name = larea.name("disks")
    vda = f"{larea.dir}/{name}.qcow2"
    async with Client(lserver) as client:
        data(await lmanage(client, name=name, action="create", arch="x86_64", memory="128M", vcpus=1, disk="size=16M"))

        # ---- stopped: persistent only, default name beside vda, qcow2/virtio, the next free target
        added = data(await lmanage(client, name=name, action="modify", add_disk="size=32M"))
        vdb = f"{larea.dir}/{name}-vdb.qcow2"
        assert added["details"]["applied"] == {"disk_target": "vdb", "disk_path": vdb, "mode": "persistent"}
        assert targets(inactive_xml(name)) == {"vda": vda, "vdb": vdb} and image_size(vdb) == 32 * MIB
        # a given path that exists is refused, never overwritten
        msg = error(await lmanage(client, name=name, action="modify", add_disk=f"size=8M,path={vdb}"))
        assert "never overwrites" in msg and image_size(vdb) == 32 * MIB

        # ---- running: live + persistent (virtio and SCSI), both in the live and the inactive XML
        data(await lmanage(client, name=name, action="start"))
        raw = await lmanage(client, name=name, action="modify", add_disk="size=8M,bus=scsi,format=raw")
        live = data(raw)
        sda = f"{larea.dir}/{name}-sda.raw"
        assert live["details"]["applied"] == {"disk_target": "sda", "disk_path": sda, "mode": "live+persistent"}
        assert "live and persistent" in raw.structured_content["message"]
        vdc = data(await lmanage(client, name=name, action="modify", add_disk="size=8M"))["details"]["applied"]
        assert vdc["mode"] == "live+persistent" and vdc["disk_target"] == "vdc"
        for xml in (live_xml(name), inactive_xml(name)):
            assert set(targets(xml)) == {"vda", "vdb", "vdc", "sda"}

        # ---- remove with keep_file=false: confirmation first, nothing changed without it
        msg = error(await lmanage(client, name=name, action="modify", remove_disk="sda", keep_file=False))
        assert "needs confirmation" in msg and "sda" in targets(live_xml(name)) and os.path.exists(sda)
        gone = data(await lmanage(client, name=name, action="modify", remove_disk="sda", keep_file=False,
                                  confirm=True))  # fmt: skip
        assert gone["details"]["applied"]["mode"] == "live+persistent" and gone["details"]["disks_removed"] == [sda]
        assert "sda" not in targets(live_xml(name)) and "sda" not in targets(inactive_xml(name))
        assert not os.path.exists(sda)

        # ---- virtio on a guest without an OS: the definition drops it, the guest keeps it (pending), file kept
        pending = data(await lmanage(client, name=name, action="modify", remove_disk="vdc", keep_file=False,
                                     confirm=True, timeout=2))  # fmt: skip
        assert pending["details"]["applied"]["mode"] == "persistent" and pending["details"]["restart_required"]
        assert "vdc" not in targets(inactive_xml(name)) and os.path.exists(vdc["disk_path"])
        assert "has not released" in " ".join(pending["details"]["notes"])

        # ---- refusals: the boot disk, an unknown target
        assert "boot disk" in error(await lmanage(client, name=name, action="modify", remove_disk="vda"))
        assert "has no disk vdz" in error(await lmanage(client, name=name, action="modify", remove_disk="vdz"))

        # ---- failure cleanup: a file the guest's qemu cannot open -> the live attach fails, the new file
        # is removed, the definition is unchanged
        private = Path(larea.dir) / "private"
        private.mkdir(mode=0o700)
        before = targets(inactive_xml(name))
        msg = error(await lmanage(client, name=name, action="modify", add_disk=f"size=8M,path={private}/x.qcow2"))
        assert "undone: removing the new disk image" in msg, msg
        assert not (private / "x.qcow2").exists() and targets(inactive_xml(name)) == before

        # ---- stopped again: removing vdb is persistent only; keep_file (default) keeps it
        data(await lmanage(client, name=name, action="stop", force=True, confirm=True))
        assert domstate(name) == "shut off"
        kept = data(await lmanage(client, name=name, action="modify", remove_disk="vdb"))
        assert kept["details"]["applied"]["mode"] == "persistent" and os.path.exists(vdb)
        assert set(targets(inactive_xml(name))) == {"vda"}


# ---- plain QEMU


@pytest.fixture
def qarea() -> Iterator[QemuArea]:
    with qemu_area() as a:
        yield a


@pytest.fixture
def plain(qemu_only_sshd_host, qarea: QemuArea):  # type: ignore[no-untyped-def]
    return key_host(qemu_only_sshd_host, name="plain", vm_dir=qarea.vm_dir,
                    policy=PolicySpec(allowed_paths=(qarea.root,)))  # fmt: skip


async def qmanage(client: Client, **args: Any) -> Any:
    return await client.call_tool("manage_vm", {"host": "plain", **args})


def conf_disks(area: QemuArea, name: str) -> dict[str, str]:
    conf = area.conf(name)
    return {conf[f"disk.{i}.target"]: conf[f"disk.{i}.path"] for i in range(10) if f"disk.{i}.target" in conf}


def block_nodes(area: QemuArea, name: str) -> set[str]:
    """The guest's disks by QMP query-block: each block device's qdev id (/machine/peripheral/<id>/...)
    and the node name of what is inserted."""
    out = set()
    for b in qmp(area.home(name) / "qmp.sock", "query-block"):
        qdev = b.get("qdev") or ""
        if qdev.startswith("/machine/peripheral/"):
            out.add(qdev.split("/")[3])
        if b.get("inserted"):
            out.add(b["inserted"].get("node-name"))
    return out


async def test_plain_qemu_add_and_remove_persistent_and_live(plain, qarea: QemuArea) -> None:  # type: ignore[no-untyped-def]
    name = "dsk"
    home = qarea.home(name)
    async with Client(build_server(Inventory([plain]))) as client:
        data(await qmanage(client, name=name, action="create", arch="x86_64", memory="128M", vcpus=1, disk="size=16M"))

        # ---- stopped: vm.conf only; the default file is <vm dir>/<target>.qcow2
        added = data(await qmanage(client, name=name, action="modify", add_disk="size=32M"))
        vdb = str(home / "vdb.qcow2")
        assert added["details"]["applied"] == {"disk_target": "vdb", "disk_path": vdb, "mode": "persistent"}
        assert conf_disks(qarea, name) == {"vda": str(home / "disk0.qcow2"), "vdb": vdb}
        assert qarea.conf(name)["disk.1.owned"] == "yes" and image_size(vdb) == 32 * MIB

        # ---- start: vdb is there from vm.conf; a live add reaches the guest (query-block) and vm.conf
        data(await qmanage(client, name=name, action="start"))
        assert {"vda", "vdb"} <= block_nodes(qarea, name)
        vdc = str(home / "vdc.qcow2")
        # failure cleanup: a block node of that name already in the guest -> blockdev-add fails; the new
        # file is removed and vm.conf restored
        sock = home / "qmp.sock"
        qmp(sock, "blockdev-add", {"driver": "null-co", "node-name": "vdc-file"})
        conf_before = (home / "vm.conf").read_text()
        msg = error(await qmanage(client, name=name, action="modify", add_disk="size=8M"))
        assert "undone" in msg and "removing the new disk image" in msg, msg
        assert not os.path.exists(vdc) and (home / "vm.conf").read_text() == conf_before
        qmp(sock, "blockdev-del", {"node-name": "vdc-file"})
        live = data(await qmanage(client, name=name, action="modify", add_disk="size=8M"))
        assert live["details"]["applied"] == {"disk_target": "vdc", "disk_path": vdc, "mode": "live+persistent"}
        assert "vdc" in block_nodes(qarea, name) and conf_disks(qarea, name)["vdc"] == vdc

        # ---- SCSI: hot-plugged onto the VM's virtio-scsi controller, and it leaves the guest at once
        scsi = data(await qmanage(client, name=name, action="modify", add_disk="size=8M,bus=scsi"))
        sda = str(home / "sda.qcow2")
        assert scsi["details"]["applied"] == {"disk_target": "sda", "disk_path": sda, "mode": "live+persistent"}
        assert "sda" in block_nodes(qarea, name) and qarea.conf(name)["disk.3.bus"] == "scsi"
        gone = data(await qmanage(client, name=name, action="modify", remove_disk="sda", keep_file=False,
                                  confirm=True))  # fmt: skip
        assert gone["details"]["applied"]["mode"] == "live+persistent" and gone["details"]["disks_removed"] == [sda]
        assert "sda" not in block_nodes(qarea, name) and "sda" not in conf_disks(qarea, name)
        assert not os.path.exists(sda)
        # SATA cannot be hot-plugged: vm.conf only, said so; the guest has it from its next start
        sata = data(await qmanage(client, name=name, action="modify", add_disk="size=8M,bus=sata"))
        assert sata["details"]["applied"]["mode"] == "persistent" and sata["details"]["restart_required"]
        sata_target = sata["details"]["applied"]["disk_target"]

        # ---- deleting the file asks first; a guest without an OS never releases a PCI disk: pending,
        # vm.conf drops it, the file is kept
        msg = error(await qmanage(client, name=name, action="modify", remove_disk="vdc", keep_file=False))
        assert "needs confirmation" in msg and "vdc" in conf_disks(qarea, name)
        pending = data(await qmanage(client, name=name, action="modify", remove_disk="vdc", keep_file=False,
                                     confirm=True, timeout=2))  # fmt: skip
        assert pending["details"]["applied"]["mode"] == "persistent" and os.path.exists(vdc)
        assert "vdc" not in conf_disks(qarea, name)
        assert "boot disk" in error(await qmanage(client, name=name, action="modify", remove_disk="vda"))
        assert "has no disk vdz" in error(await qmanage(client, name=name, action="modify", remove_disk="vdz"))

        # ---- restarted: the SATA disk is there; then stopped: removing vdb with its file (confirmed)
        data(await qmanage(client, name=name, action="stop", force=True, confirm=True))
        data(await qmanage(client, name=name, action="start"))
        assert sata_target in block_nodes(qarea, name) and "vdc" not in block_nodes(qarea, name)
        data(await qmanage(client, name=name, action="stop", force=True, confirm=True))
        gone = data(await qmanage(client, name=name, action="modify", remove_disk="vdb", keep_file=False,
                                  confirm=True))  # fmt: skip
        assert gone["details"]["applied"]["mode"] == "persistent" and gone["details"]["disks_removed"] == [vdb]
        assert not os.path.exists(vdb) and set(conf_disks(qarea, name)) == {"vda", sata_target}
