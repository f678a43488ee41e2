"""manage_snapshot against the rig, on both backends, running and shut off: take a snapshot, change
the VM (a marker written into its disk image with qemu-io, its memory via manage_vm modify), revert,
and the change is gone. The host's truth is read directly: virsh snapshot-list / dumpxml,
qemu-img snapshot -l -U, qemu-io, vm.conf, QMP over the socket with a plain socket client. The
rig's guests have no OS, so a running guest is checked by its configuration and state."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from lxml import etree
from mcp import Client

from qemu_mcp.config import HostSpec, Inventory
from qemu_mcp.frontends.mcp.server import build_server
from qemu_mcp.parsers.qemu_img_snapshots import parse_snapshot_list
from qemu_mcp.policy import PolicySpec
from tests.conftest import key_host
from tests.integration.manage_helpers import Area, data, domstate, error, inactive_xml, manage_area, virsh
from tests.integration.qemu_helpers import QemuArea, qemu_area, qmp, running_qemu, stopped
from tests.integration.test_manage_lifecycle import Progress

pytestmark = pytest.mark.integration
ROOT = Path(__file__).resolve().parents[2]
MARK = "0x5a"


@pytest.fixture(scope="module")
def libvirt_area(libvirtd_running: None) -> Iterator[Area]:
    with manage_area() as a:
        yield a


@pytest.fixture
def plain_host(qemu_only_sshd_host) -> Iterator[tuple[HostSpec, QemuArea]]:  # type: ignore[no-untyped-def]
    """The qemu-only host (no libvirt) as inventory host 'plain', with VMs (and disks) in a private area."""
    with qemu_area() as area:
        allowed = PolicySpec(allowed_paths=(area.root,))
        yield key_host(qemu_only_sshd_host, name="plain", vm_dir=area.vm_dir, policy=allowed), area


def marker(path: str, write: bool = False) -> bool:
    """Write the 4 KiB marker at offset 0 of a qcow2 image, or tell whether it is there."""
    op = f"write -P {MARK} 0 4k" if write else f"read -P {MARK} 0 4k"
    out = subprocess.run(["qemu-io", "-f", "qcow2", "-c", op, path], capture_output=True, text=True, timeout=30)
    text = out.stdout + out.stderr
    assert "4096/4096 bytes at offset 0" in text, text  # it read (a differing pattern exits 1)
    return "Pattern verification failed" not in text


def memory_mib(name: str) -> int:
    root = etree.fromstring(inactive_xml(name).encode())
    return int(root.findtext("memory") or 0) // 1024


def virsh_snapshots(name: str) -> list[str]:
    out = virsh("snapshot-list", "--domain", name, "--name")
    assert out.returncode == 0, out.stderr
    return sorted(n for n in out.stdout.splitlines() if n)


def image_snapshots(path: str) -> list[str]:
    out = subprocess.run(["qemu-img", "snapshot", "-l", "-U", path], capture_output=True, text=True, check=True)
    return sorted(s.tag for s in parse_snapshot_list(out.stdout))


async def snapshot(client: Client, host: str, progress: Progress | None = None, **args: Any) -> Any:
    return await client.call_tool("manage_snapshot", {"host": host, **args}, progress_callback=progress)


async def manage(client: Client, host: str, **args: Any) -> Any:
    return await client.call_tool("manage_vm", {"host": host, **args})


async def test_libvirt_shut_off_and_running(sshd_host, libvirt_area: Area) -> None:  # type: ignore[no-untyped-def]
    area, name = libvirt_area, libvirt_area.name("snap")
    disk = f"{area.dir}/{name}.qcow2"
    async with Client(build_server(Inventory([key_host(sshd_host, vm_dir=area.dir, accel="tcg")]))) as client:
        data(await manage(client, "rig", name=name, action="create", arch="x86_64", memory="128M", vcpus=1,
                          disk="size=64M"))  # fmt: skip

        # ---- shut off: the snapshot holds the disk and the definition
        progress = Progress()
        made = data(await snapshot(client, "rig", progress, name=name, action="create", snapshot="off1",
                                   description="before the change"))  # fmt: skip
        assert made["details"]["snapshot"] | {"created": None} == {
            "name": "off1", "created": None, "parent": None, "state": "shutoff", "description": "before the change",
            "memory": False, "location": "internal", "current": True, "disks": ["vda"], "notes": [],
        }  # fmt: skip
        assert progress.events and virsh_snapshots(name) == ["off1"]
        data(await manage(client, "rig", name=name, action="modify", memory="192M"))
        marker(disk, write=True)
        assert memory_mib(name) == 192 and marker(disk)

        refused = error(await snapshot(client, "rig", name=name, action="revert", snapshot="off1"))
        assert "needs confirmation: pass confirm=true" in refused and memory_mib(name) == 192
        reverted = data(await snapshot(client, "rig", name=name, action="revert", snapshot="off1", confirm=True))
        assert memory_mib(name) == 128 and not marker(disk)  # the definition and the disk are back
        assert reverted["details"]["before"]["memory_mib"] == 192 and reverted["details"]["after"]["memory_mib"] == 128

        # ---- running: the snapshot holds the memory too
        data(await manage(client, "rig", name=name, action="start"))
        live = data(await snapshot(client, "rig", name=name, action="create", snapshot="live1"))
        assert live["details"]["snapshot"]["memory"] is True and live["details"]["snapshot"]["parent"] == "off1"
        data(await manage(client, "rig", name=name, action="modify", memory="256M"))  # for the next boot
        assert memory_mib(name) == 256
        data(await snapshot(client, "rig", name=name, action="revert", snapshot="live1", confirm=True))
        assert memory_mib(name) == 128 and domstate(name) == "running"

        listed = data(await snapshot(client, "rig", name=name, action="list"))
        assert (
            [s["name"] for s in listed["details"]["snapshots"]]
            == ["off1", "live1"]
            == sorted(virsh_snapshots(name), reverse=True)
        )
        assert "off1" in listed["details"]["tree"] and "+- live1" in listed["details"]["tree"]
        cli = subprocess.run(
            [sys.executable, "-m", "qemu_mcp", "vm", "snapshot", "list", name, "--host", "rig", "--config",
             str(write_config(area, sshd_host))],
            capture_output=True, text=True, timeout=60, cwd=ROOT, env={**os.environ, "COLUMNS": "80"},
        )  # fmt: skip
        assert cli.returncode == 0, cli.stderr
        assert "live1 *" in cli.stdout and max(len(line) for line in cli.stdout.splitlines()) <= 80

        for snap in ("live1", "off1"):
            data(await snapshot(client, "rig", name=name, action="delete", snapshot=snap, confirm=True))
        assert virsh_snapshots(name) == [] and domstate(name) == "running"
        data(await manage(client, "rig", name=name, action="delete", force=True, confirm=True))


def write_config(area: Area, sshd_host: Any) -> Path:
    path = Path(area.dir) / "hosts.yaml"
    path.write_text(yaml.safe_dump({"hosts": [key_host(sshd_host, vm_dir=area.dir).model_dump(exclude_none=True)]}))
    return path


async def test_libvirt_uefi_gets_an_external_snapshot(sshd_host, libvirt_area: Area) -> None:  # type: ignore[no-untyped-def]
    area, name = libvirt_area, libvirt_area.name("arm")
    base, overlay = f"{area.dir}/{name}.qcow2", f"{area.dir}/{name}.ext1"
    async with Client(build_server(Inventory([key_host(sshd_host, vm_dir=area.dir)]))) as client:
        data(await manage(client, "rig", name=name, action="create", arch="aarch64", memory="128M", vcpus=1,
                          disk="size=64M"))  # fmt: skip
        result = await snapshot(client, "rig", name=name, action="create", snapshot="ext1")
        made, message = data(result), result.structured_content["message"]
        assert "external disk-only" in message and "pflash" in message
        assert made["details"]["snapshot"]["location"] == "external" and Path(overlay).is_file()
        assert f"<source file='{overlay}'/>" in inactive_xml(name)

        data(await manage(client, "rig", name=name, action="modify", memory="192M"))
        marker(overlay, write=True)
        reverted = data(await snapshot(client, "rig", name=name, action="revert", snapshot="ext1", confirm=True))
        assert memory_mib(name) == 128 and not marker(overlay) and f"<source file='{overlay}'/>" in inactive_xml(name)
        assert any("cannot revert external snapshots" in n for n in reverted["details"]["notes"])

        data(await snapshot(client, "rig", name=name, action="delete", snapshot="ext1", confirm=True))
        assert virsh_snapshots(name) == [] and f"<source file='{base}'/>" in inactive_xml(name)
        assert not Path(overlay).exists()

        # ---- running: disk-only (no memory); libvirt 9.0 cannot revert it live, and says what to do
        data(await manage(client, "rig", name=name, action="start"))
        refused = error(await snapshot(client, "rig", name=name, action="create", include_memory=True))
        assert "boots UEFI from pflash, so libvirt takes only external disk-only snapshots" in refused
        live = data(await snapshot(client, "rig", name=name, action="create", snapshot="ext2"))
        assert live["details"]["snapshot"]["memory"] is False and virsh_snapshots(name) == ["ext2"]
        refused = error(await snapshot(client, "rig", name=name, action="revert", snapshot="ext2", confirm=True))
        assert "stop the VM (manage_vm stop) and revert again" in refused and domstate(name) == "running"
        data(await snapshot(client, "rig", name=name, action="delete", snapshot="ext2", confirm=True))
        assert virsh_snapshots(name) == [] and domstate(name) == "running"
        data(await manage(client, "rig", name=name, action="delete", force=True, confirm=True))


async def test_plain_qemu_shut_off_and_running(plain_host: tuple[HostSpec, QemuArea]) -> None:
    plain, area = plain_host
    name = "snap"
    disk = str(area.home(name) / "disk0.qcow2")
    async with Client(build_server(Inventory([plain]))) as client:
        data(await manage(client, "plain", name=name, action="create", arch="x86_64", memory="128M", vcpus=1,
                          disk="size=64M"))  # fmt: skip

        # ---- shut off: qemu-img snapshot on the disk, vm.conf kept beside it
        data(await snapshot(client, "plain", name=name, action="create", snapshot="off1", description="clean"))
        assert image_snapshots(disk) == ["off1"]
        assert (area.home(name) / "snapshots" / "off1.conf").is_file()
        data(await manage(client, "plain", name=name, action="modify", memory="192M"))
        marker(disk, write=True)
        data(await snapshot(client, "plain", name=name, action="revert", snapshot="off1", confirm=True))
        assert area.conf(name)["memory_mib"] == "128" and not marker(disk)

        # ---- running: QMP snapshot-save / snapshot-load / snapshot-delete jobs
        data(await manage(client, "plain", name=name, action="start"))
        refused = error(await snapshot(client, "plain", name=name, action="create", include_memory=False))
        assert "always holds its memory here" in refused
        assert [p.name for p in (area.home(name) / "snapshots").iterdir()] == ["off1.conf"]  # nothing new
        progress = Progress()
        live = data(await snapshot(client, "plain", progress, name=name, action="create", snapshot="live1"))
        assert live["details"]["snapshot"]["memory"] is True and progress.events
        assert image_snapshots(disk) == ["live1", "off1"]
        nodes = qmp(area.home(name) / "qmp.sock", "query-named-block-nodes", {"flat": True})
        vda = next(n for n in nodes if n["node-name"] == "vda")
        assert sorted(s["name"] for s in vda["image"]["snapshots"]) == ["live1", "off1"]

        data(await manage(client, "plain", name=name, action="modify", memory="256M"))  # for the next boot
        data(await snapshot(client, "plain", name=name, action="revert", snapshot="live1", confirm=True))
        assert area.conf(name)["memory_mib"] == "128"
        assert qmp(area.home(name) / "qmp.sock", "query-status")["status"] == "running"
        running_qemu(area, name)

        data(await snapshot(client, "plain", name=name, action="delete", snapshot="live1", confirm=True))
        assert image_snapshots(disk) == ["off1"] and not (area.home(name) / "snapshots" / "live1.conf").exists()
        # A running VM reverted to a snapshot without memory ends shut off, as it was then.
        result = await snapshot(client, "plain", name=name, action="revert", snapshot="off1", confirm=True)
        assert stopped(area, name) and result.structured_content["message"].endswith("it is stopped")
        assert any("powered off" in n for n in data(result)["details"]["notes"])
        data(await snapshot(client, "plain", name=name, action="delete", snapshot="off1", confirm=True))
        assert image_snapshots(disk) == [] and not (area.home(name) / "snapshots").exists()
        # manage_vm delete takes a VM's snapshots (and their metadata) with it
        data(await snapshot(client, "plain", name=name, action="create", snapshot="kept"))
        data(await manage(client, "plain", name=name, action="delete", confirm=True))
        assert not area.home(name).exists()

        # ---- a raw disk cannot hold a snapshot: a clear refusal, nothing changed
        raw = f"{area.root}/raw.img"
        data(await manage(client, "plain", name="rawvm", action="create", arch="x86_64", memory="64M", vcpus=1,
                          disk=f"path={raw},size=16M"))  # fmt: skip
        refused = error(await snapshot(client, "plain", name="rawvm", action="create", snapshot="s1"))
        assert f"({raw}) is raw: only qcow2 images can hold snapshots" in refused
        assert not (area.home("rawvm") / "snapshots").exists()
