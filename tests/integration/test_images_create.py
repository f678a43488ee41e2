"""manage_vm create from a base image (issue 11), on a libvirt and a plain-QEMU rig host: linked
(a qcow2 overlay with -F) and full (a qcow2 copy), grown by disk size, never shrunk; delete keeps
the base image, and refuses a VM whose disk other VMs build on."""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path

import pytest

from qemu_mcp.config import HostSpec, Inventory
from qemu_mcp.consent import Consent
from qemu_mcp.errors import CommandFailed, Conflict, InvalidInput, NotFound
from qemu_mcp.ops import images as image_ops
from qemu_mcp.ops.fleet import Fleet, HostRef
from qemu_mcp.ops.manage import manage_vm, parse_request
from qemu_mcp.ops.vms import get_vm_info
from tests.integration.test_images import MIB, host, lib, lib_area, plain, q_area, tiny_qcow2  # noqa: F401

pytestmark = pytest.mark.integration


def info(path: str) -> dict:  # type: ignore[type-arg]
    out = subprocess.run(["qemu-img", "info", "-U", "--output=json", path], capture_output=True, text=True, check=True)
    return json.loads(out.stdout)  # type: ignore[no-any-return]


async def act(fleet: Fleet, spec: HostSpec, name: str, action: str, **kw: object):  # type: ignore[no-untyped-def]
    req = parse_request(name, action, **kw)  # type: ignore[arg-type]
    return await manage_vm(fleet, HostRef(spec.name), req)


async def test_create_linked_and_full_then_delete_keeps_the_base(host: HostSpec, tmp_path: Path) -> None:  # noqa: F811
    local = tiny_qcow2(tmp_path / "tiny.qcow2", "16M", content=b"\x42")
    fleet = Fleet(Inventory([host]))
    try:
        await image_ops.upload_image(fleet, HostRef(host.name), str(local))
        base = f"{host.images}/tiny.qcow2"
        pre = "qmcp-t" + Path(host.vm_dir).name[-6:] + "-" if host.name == "lib" else ""
        linked, full = pre + "img-linked", pre + "img-full"

        done = await act(fleet, host, linked, "create", arch="x86_64", memory="64M", vcpus=1, image="tiny.qcow2")
        disk = done.data.details.disks_created[0]
        top = info(disk)
        assert top["format"] == "qcow2" and top["backing-filename"] == base
        assert top["backing-filename-format"] == "qcow2" and top["virtual-size"] == 16 * MIB
        assert "linked overlay" in done.message

        done = await act(fleet, host, full, "create", arch="x86_64", memory="64M", vcpus=1, image=base,
                         linked=False, disk="size=48M")  # fmt: skip
        copy = info(done.data.details.disks_created[0])
        assert "backing-filename" not in copy and copy["virtual-size"] == 48 * MIB

        with pytest.raises(InvalidInput, match="smaller than the image"):
            await act(fleet, host, pre + "img-small", "create", arch="x86_64", image="tiny.qcow2", disk="size=8M")
        with pytest.raises(NotFound, match="upload_image"):
            await act(fleet, host, pre + "img-none", "create", arch="x86_64", image="nothing.qcow2")

        listed = await image_ops.list_images(fleet, HostRef(host.name))
        (image,) = [i for i in listed.images if i.name == "tiny.qcow2"]
        assert image.used_by == [linked]
        with pytest.raises(Conflict, match="is the base of"):  # never replaced under a VM's overlay
            await image_ops.upload_image(fleet, HostRef(host.name), str(local), overwrite=True,
                                         consent=Consent(True, "confirm"))  # fmt: skip

        # an overlay on the linked VM's own disk: that VM cannot be deleted while the other exists
        child = pre + "img-child"
        await act(fleet, host, child, "create", arch="x86_64", memory="64M", vcpus=1, image=disk)
        with pytest.raises(Conflict, match=child):
            await act(fleet, host, linked, "delete", confirm=True)
        assert Path(disk).exists()
        for name in (child, linked, full):
            await act(fleet, host, name, "delete", confirm=True)
        assert Path(base).is_file() and not Path(disk).exists()
        assert info(base)["virtual-size"] == 16 * MIB
    finally:
        await fleet.close()


async def test_clone_linked_and_full(host: HostSpec, tmp_path: Path) -> None:  # noqa: F811
    fleet = Fleet(Inventory([host]))
    pre = "qmcp-t" + Path(host.vm_dir).name[-6:] + "-" if host.name == "lib" else ""
    src, linked, full = pre + "cl-src", pre + "cl-linked", pre + "cl-full"
    try:
        made = await act(fleet, host, src, "create", arch="x86_64", memory="96M", vcpus=1, disk="size=24M")
        src_disk = made.data.details.disks_created[0]
        await act(fleet, host, src, "start")
        with pytest.raises(Conflict, match="must be shut off"):
            await act(fleet, host, linked, "clone", source=src)
        await act(fleet, host, src, "stop", force=True, confirm=True)

        done = await act(fleet, host, linked, "clone", source=src)
        overlay = done.data.details.disks_created[0]
        assert info(overlay)["backing-filename"] == src_disk and info(overlay)["backing-filename-format"] == "qcow2"
        copied = (await act(fleet, host, full, "clone", source=src, linked=False)).data.details.disks_created[0]
        assert "backing-filename" not in info(copied) and info(copied)["virtual-size"] == 24 * MIB

        facts = {n: await get_vm_info(fleet, n, HostRef(host.name)) for n in (src, linked, full)}
        hardware = {n: (v.arch, v.machine, v.memory, v.vcpus, v.domain_type) for n, v in facts.items()}
        assert hardware[linked] == hardware[full] == hardware[src]
        assert len({v.uuid for v in facts.values()}) == 3
        macs = [re.findall(r"52:54:00(?::[0-9a-f]{2}){3}", (v.xml or v.config or "")) for v in facts.values()]
        assert all(len(m) == 1 for m in macs) and len({m[0] for m in macs}) == 3, macs
        # the linked clone builds on the source's disk: the source cannot go first
        with pytest.raises(Conflict, match=linked):
            await act(fleet, host, src, "delete", confirm=True)
        # a clone starts (its disk chain is usable)
        await act(fleet, host, linked, "start")
        await act(fleet, host, linked, "stop", force=True, confirm=True)
        for name in (linked, full, src):
            await act(fleet, host, name, "delete", confirm=True)
        assert not Path(overlay).exists() and not Path(copied).exists() and not Path(src_disk).exists()
    finally:
        await fleet.close()


async def test_a_failed_clone_leaves_nothing_and_a_dry_run_changes_nothing(host: HostSpec) -> None:  # noqa: F811
    fleet = Fleet(Inventory([host]))
    pre = "qmcp-t" + Path(host.vm_dir).name[-6:] + "-" if host.name == "lib" else ""
    src, bad = pre + "fl-src", pre + "fl-bad"
    try:
        made = await act(fleet, host, src, "create", arch="x86_64", memory="64M", vcpus=1, disk="size=16M")
        src_disk = Path(made.data.details.disks_created[0])
        before = sorted(p.name for p in Path(host.vm_dir).rglob("*"))
        plan = await act(fleet, host, bad, "clone", source=src, dry_run=True)
        changes = [c for c in plan.data.details.commands if c.changes_host]
        assert any(c.argv[:2] == ["qemu-img", "create"] and "-F" in c.argv for c in changes)
        assert not any(c.ran for c in changes) and sorted(p.name for p in Path(host.vm_dir).rglob("*")) == before

        src_disk.rename(src_disk.with_suffix(".moved"))  # the overlay's base is gone: qemu-img create fails
        with pytest.raises(CommandFailed, match="undone"):
            await act(fleet, host, bad, "clone", source=src)
        src_disk.with_suffix(".moved").rename(src_disk)
        assert sorted(p.name for p in Path(host.vm_dir).rglob("*")) == before
        with pytest.raises(NotFound):
            await get_vm_info(fleet, bad, HostRef(host.name))
        await act(fleet, host, src, "delete", confirm=True)
    finally:
        await fleet.close()
