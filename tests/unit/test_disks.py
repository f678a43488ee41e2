"""manage_vm add_disk / remove_disk: the spec, the builders (virsh argv and XML, QMP commands), and
the shared flow with the fake backend (refusals, confirmation, undo on failure)."""

from __future__ import annotations

import asyncio
import json

import pytest
from lxml import etree

from qemu_mcp.backends.base import VmDisk
from qemu_mcp.backends.libvirt import disks as lv
from qemu_mcp.backends.qemu import disks as qd
from qemu_mcp.backends.qemu.argv import build_argv, hotplug_port_args
from qemu_mcp.backends.qemu.qmp import QMPClient
from qemu_mcp.backends.qemu.vmconf import ConfDisk, ConfError, Home, VmConf, parse, render
from qemu_mcp.disk_spec import AddDisk, NewDisk, check_target, default_paths, free_target, parse_add_disk
from qemu_mcp.errors import CommandFailed, Conflict, InvalidInput, NotFound
from qemu_mcp.ops.manage import Consent, NeedsConfirmation, parse_request
from tests.unit.test_manage_flows import call, rig, vm  # noqa: F401  (rig is a fixture)

UUID = "6f1c6f2e-2b1a-4c3d-9e8f-0a1b2c3d4e5f"
GIB = 1024**3


# ---- spec


def test_add_disk_spec_defaults_and_parts() -> None:
    assert parse_add_disk("size=10G") == AddDisk(10 * GIB, None, "qcow2", "virtio")
    assert parse_add_disk(" size=1G , bus=SCSI,format=raw") == AddDisk(GIB, None, "raw", "scsi")
    assert parse_add_disk("size=1G,path=/d/x.img") == AddDisk(GIB, "/d/x.img", "raw", "virtio")
    assert parse_add_disk("size=1G,path=/d/x.qcow2,format=qcow2").format == "qcow2"


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ("", "must look like"),
        ("path=/d/x.qcow2", "needs a size"),
        ("size=10", "has no unit"),
        ("size=10GB", "ambiguous"),
        ("size=1G,bus=ide", "bus 'ide'"),
        ("size=1G,format=vmdk", "format 'vmdk'"),
        ("size=1G,path=/d/x.qcow2,format=raw", "make them agree"),
        ("size=1G,path=relative.qcow2", "absolute"),
        ("size=1G,path=/d/../x.qcow2", "'..'"),
        ("size=1G,path=/d/x.vmdk", "must end in .qcow2"),
        ("size=1G,size=2G", "given twice"),
        ("size=1G,colour=red", "unknown key"),
        ("size=1G,bus", "not key=value"),
    ],
)
def test_add_disk_spec_refusals(text: str, words: str) -> None:
    with pytest.raises(InvalidInput, match=words.replace("(", r"\(").replace(".", r"\.")):
        parse_add_disk(text)


def test_targets() -> None:
    assert check_target("vdb") == "vdb" and check_target("sdaa") == "sdaa"
    for bad in ("", "vd", "/dev/vdb", "--live", "vdb;x", "VDB", "nvme0"):
        with pytest.raises(InvalidInput, match="guest device name"):
            check_target(bad)
    assert free_target("virtio", ["vda", "sda"]) == "vdb"
    assert free_target("virtio", ["vda", "vdb", "vdd"]) == "vdc"
    assert free_target("scsi", ["vda", "sda"]) == "sdb"  # the CD-ROM's sda is taken
    assert free_target("sata", []) == "sda"
    assert free_target("virtio", [f"vd{c}" for c in "abcdefghijklmnopqrstuvwxyz"]) == "vdaa"
    assert default_paths("/vm", "web-vdb", "qcow2")[:3] == ["/vm/web-vdb.qcow2", "/vm/web-vdb-1.qcow2",
                                                           "/vm/web-vdb-2.qcow2"]  # fmt: skip
    assert default_paths("/vm/web", "vdc", "raw")[0] == "/vm/web/vdc.raw"


def test_request_rules() -> None:
    req = parse_request("web", "modify", add_disk="size=2G,bus=sata")
    assert req.add_disk == AddDisk(2 * GIB, None, "qcow2", "sata") and not req.deletes_disk_file
    req = parse_request("web", "modify", remove_disk="vdb")
    assert req.remove_disk == "vdb" and req.keep_file and not req.deletes_disk_file
    assert parse_request("web", "modify", remove_disk="vdb", keep_file=False).deletes_disk_file
    for kwargs, words in [
        ({"add_disk": "size=1G", "remove_disk": "vdb"}, "not both"),
        ({"add_disk": "size=1G", "memory": "1G"}, "go alone"),
        ({"keep_file": False}, "remove_disk only"),
        ({"remove_disk": "vdb;rm"}, "guest device name"),
    ]:
        with pytest.raises(InvalidInput, match=words):
            parse_request("web", "modify", **kwargs)  # type: ignore[arg-type]
    with pytest.raises(InvalidInput, match="does not apply to action=start"):
        parse_request("web", "start", add_disk="size=1G")


# ---- builders


def test_libvirt_xml_and_argv() -> None:
    new = NewDisk("vdb", "/vm/a b'.qcow2", "qcow2", "virtio", GIB)
    root = etree.fromstring(lv.disk_xml(new).encode())
    assert root.tag == "disk" and root.get("type") == "file" and root.get("device") == "disk"
    assert root.find("driver").get("type") == "qcow2"  # type: ignore[union-attr]
    assert root.find("source").get("file") == "/vm/a b'.qcow2"  # type: ignore[union-attr]
    assert (root.find("target").get("dev"), root.find("target").get("bus")) == ("vdb", "virtio")  # type: ignore[union-attr]
    assert lv.attach_device(UUID, live=True) == [
        "attach-device", "--domain", UUID, "--file", "/dev/stdin", "--config", "--live",
    ]  # fmt: skip
    assert lv.attach_device(UUID, live=False)[-1] == "--config"
    assert lv.detach_disk(UUID, "sdb", live=False) == ["detach-disk", "--domain", UUID, "--target", "sdb", "--config"]
    with pytest.raises(InvalidInput):
        lv.attach_device("web1", live=True)  # a name never reaches --domain
    with pytest.raises(ValueError, match="unsafe"):
        lv.detach_disk(UUID, "--live", live=False)
    xml = "<domain><devices><disk><target dev='vda'/></disk><disk><target dev='vdb'/></disk></devices></domain>"
    assert lv.has_target(xml, "vdb") and not lv.has_target(xml, "vdc")


def test_qmp_commands() -> None:
    new = NewDisk("vdb", "/vm/web/vdb.qcow2", "qcow2", "virtio", GIB)
    assert qd.blockdev_add(new) == [
        {"driver": "file", "filename": "/vm/web/vdb.qcow2", "node-name": "vdb-file"},
        {"driver": "qcow2", "file": "vdb-file", "node-name": "vdb"},
    ]
    assert qd.device_add(new, "hp1") == {"driver": "virtio-blk-pci", "drive": "vdb", "id": "vdb", "bus": "hp1"}
    assert qd.blockdev_del("vdb") == [{"node-name": "vdb"}, {"node-name": "vdb-file"}]
    # query-pci, abbreviated to the fields free_port reads (QEMU 7.2, q35 with two root ports)
    pci = [{"bus": 0, "devices": [
        {"qdev_id": "vda", "slot": 2},
        {"qdev_id": "hp0", "pci_bridge": {"bus": {"number": 1}, "devices": [{"qdev_id": "vdb"}]}},
        {"qdev_id": "hp1", "pci_bridge": {"bus": {"number": 2}, "devices": []}},
    ]}]  # fmt: skip
    assert qd.free_port(pci) == "hp1"
    assert qd.free_port(pci[:0]) is None
    assert hotplug_port_args()[:2] == ["-device", "pcie-root-port,id=hp0,chassis=1"]
    assert len(hotplug_port_args()) == 8


# ---- the flow (fake backend, fake runner)


async def test_add_disk_persistent_and_live(rig) -> None:  # type: ignore[no-untyped-def]  # noqa: F811
    fleet, backend, runner = rig
    backend.vms = {"web": vm("web"), "run": vm("run", "running")}
    result = await call(fleet, "web", "modify", add_disk="size=2G")
    applied = result.data.details.applied
    assert applied == {"disk_target": "vdb", "disk_path": "/vm/web-vdb.qcow2", "mode": "persistent"}
    assert "persistent only" in result.message and result.data.details.disks_created == ["/vm/web-vdb.qcow2"]
    argvs = [c.argv for c in runner.calls]
    assert ("sh", "-c", 'set -C; : > "$1"', "qmcp-reserve", "/vm/web-vdb.qcow2") in argvs
    assert ("qemu-img", "create", "-q", "-f", "qcow2", "--", "/vm/web-vdb.qcow2", str(2 * GIB)) in argvs
    result = await call(fleet, "run", "modify", add_disk="size=1G,bus=scsi")
    assert result.data.details.applied["mode"] == "live+persistent" and "live and persistent" in result.message
    assert result.data.details.applied["disk_target"] == "sda"
    # SATA cannot be hot-plugged: persistent only, said so
    result = await call(fleet, "run", "modify", add_disk="size=1G,bus=sata")
    assert result.data.details.applied["mode"] == "persistent" and result.data.details.restart_required
    assert any("SATA" in n for n in result.data.details.notes)


async def test_add_disk_failure_removes_only_the_new_file(rig) -> None:  # type: ignore[no-untyped-def]  # noqa: F811
    fleet, backend, runner = rig
    backend.vms = {"web": vm("web")}
    backend.fail_define = True
    with pytest.raises(CommandFailed, match=r"undone: removing the new disk image /vm/web-vdb\.qcow2"):
        await call(fleet, "web", "modify", add_disk="size=1G")
    assert runner.calls[-1].argv == ("rm", "-f", "--", "/vm/web-vdb.qcow2")
    assert [d.target for d in backend.vms["web"].disks] == ["vda"]


async def test_add_disk_never_overwrites(rig, monkeypatch) -> None:  # type: ignore[no-untyped-def]  # noqa: F811
    fleet, backend, _ = rig
    backend.vms = {"web": vm("web")}
    host = backend.host
    original = host.__call__

    def taken(c):  # type: ignore[no-untyped-def]
        if c.argv[:2] == ("sh", "-c") and c.argv[3] == "qmcp-path-status":
            return "".join("file\n" if p in ("/d/x.qcow2", "/vm/web-vdb.qcow2") else "missing\n" for p in c.argv[4:])
        return original(c)

    monkeypatch.setattr(type(host), "__call__", lambda self, c: taken(c))
    with pytest.raises(Conflict, match="never overwrites"):
        await call(fleet, "web", "modify", add_disk="size=1G,path=/d/x.qcow2")
    result = await call(fleet, "web", "modify", add_disk="size=1G")
    assert result.data.details.applied["disk_path"] == "/vm/web-vdb-1.qcow2"


async def test_remove_disk_refusals_and_confirmation(rig) -> None:  # type: ignore[no-untyped-def]  # noqa: F811
    fleet, backend, runner = rig
    disks = (VmDisk("sda", "/iso/x.iso", "raw", device="cdrom", readonly=True), VmDisk("vda", "/vm/web.qcow2", "qcow2"),
             VmDisk("vdb", "/vm/web-vdb.qcow2", "qcow2"))  # fmt: skip
    backend.vms = {"web": vm("web", disks=disks)}
    with pytest.raises(InvalidInput, match="boot disk"):
        await call(fleet, "web", "modify", remove_disk="vda")
    with pytest.raises(InvalidInput, match="is a cdrom"):
        await call(fleet, "web", "modify", remove_disk="sda")
    with pytest.raises(NotFound, match="has no disk vdc"):
        await call(fleet, "web", "modify", remove_disk="vdc")
    with pytest.raises(NeedsConfirmation, match="needs confirmation: pass confirm=true") as e:
        await call(fleet, "web", "modify", remove_disk="vdb", keep_file=False)
    assert "/vm/web-vdb.qcow2" in e.value.question and backend.calls == []
    kept = await call(fleet, "web", "modify", remove_disk="vdb")  # keep_file: moderate, no question
    assert kept.data.details.disks_kept == ["/vm/web-vdb.qcow2 kept (keep_file=true)"]
    assert not any(c.argv[0] == "rm" for c in runner.calls)
    backend.vms = {"web": vm("web", disks=disks)}
    gone = await call(fleet, "web", "modify", Consent(True, "cli"), remove_disk="vdb", keep_file=False)
    assert gone.data.details.disks_removed == ["/vm/web-vdb.qcow2"]
    assert runner.calls[-2].argv == ("rm", "-f", "--", "/vm/web-vdb.qcow2")  # then: checked it is gone


async def test_only_disk_and_shared_file_refused(rig) -> None:  # type: ignore[no-untyped-def]  # noqa: F811
    fleet, backend, _ = rig
    backend.vms = {"one": vm("one")}
    with pytest.raises(InvalidInput, match="its only disk"):
        await call(fleet, "one", "modify", remove_disk="vda")
    shared = (VmDisk("vda", "/vm/a.qcow2", "qcow2"), VmDisk("vdb", "/vm/shared.qcow2", "qcow2"))
    backend.vms = {"web": vm("web", disks=shared)}
    with pytest.raises(Conflict, match="also used by VM"):
        await call(fleet, "web", "modify", Consent(True, "cli"), remove_disk="vdb", keep_file=False)


async def test_dry_run_changes_nothing(rig) -> None:  # type: ignore[no-untyped-def]  # noqa: F811
    fleet, backend, runner = rig
    backend.vms = {"web": vm("web", "running")}
    result = await call(fleet, "web", "modify", add_disk="size=1G", dry_run=True)
    planned = [c.argv[:2] for c in result.data.details.commands if c.changes_host]
    assert planned == [["sh", "-c"], ["qemu-img", "create"], ["virsh", "attach-device"]]
    assert not any(c.argv[0] in ("qemu-img", "rm") for c in runner.calls)
    assert [d.target for d in backend.vms["web"].disks] == ["vda"] and result.message.startswith("dry run: would add")


# ---- plain QEMU buses: vm.conf and the command line


def test_plain_qemu_buses_in_vm_conf_and_argv() -> None:
    disks = (
        ConfDisk("vda", "/v/w/disk0.qcow2", "qcow2"),
        ConfDisk("sdb", "/v/w/sdb.qcow2", "qcow2", bus="scsi"),
        ConfDisk("sdc", "/v/w/sdc.raw", "raw", bus="sata"),
    )
    c = VmConf(name="w", uuid=UUID, arch="x86_64", machine="q35", accel="tcg", memory_mib=128, vcpus=1,
               disks=disks, iso="/iso/x.iso")  # fmt: skip
    text = render(c)
    assert "disk.1.bus=scsi\n" in text and "disk.2.bus=sata\n" in text and "disk.0.bus" not in text
    assert parse(text) == c
    with pytest.raises(ConfError, match="bus 'ide'"):
        parse(text.replace("disk.1.bus=scsi", "disk.1.bus=ide"))
    argv = build_argv(c, Home("/v", "w"), vnc_display=None)
    devices = [argv[i + 1] for i, w in enumerate(argv) if w == "-device"]
    assert devices.index("virtio-scsi-pci,id=scsi0") < devices.index("scsi-hd,drive=sdb,id=sdb,bus=scsi0.0,bootindex=2")
    assert "ide-cd,drive=sda,id=sda,bus=ide.0,bootindex=0" in devices  # the ISO takes AHCI port 0
    assert "ide-hd,drive=sdc,id=sdc,bus=ide.1,bootindex=3" in devices
    assert devices.count("virtio-scsi-pci,id=scsi0") == 1  # not again for hot-plug: there is one
    plain = build_argv(c.with_(disks=disks[:1], iso=None), Home("/v", "w"), vnc_display=None)
    assert plain.index("virtio-scsi-pci,id=scsi0") > plain.index("virtio-blk-pci,drive=vda,id=vda,bootindex=0")
    new = NewDisk("sdb", "/v/w/sdb.qcow2", "qcow2", "scsi", GIB)
    assert qd.device_add(new, "") == {"driver": "scsi-hd", "drive": "sdb", "id": "sdb", "bus": "scsi0.0"}


async def test_qmp_wait_event_matches_device_and_times_out() -> None:
    reader = asyncio.StreamReader()
    for event in (
        {"event": "DEVICE_DELETED", "data": {"path": "/machine/peripheral/vdb/virtio-backend"}},
        {"event": "DEVICE_DELETED", "data": {"device": "vdb", "path": "/machine/peripheral/vdb"}},
    ):
        reader.feed_data(json.dumps(event).encode() + b"\n")
    client = QMPClient(reader, None, "h", "/s")  # type: ignore[arg-type]  # reads only
    got = await client.wait_event("DEVICE_DELETED", 1.0, device="vdb")
    assert got is not None and got["data"]["device"] == "vdb"
    assert len(client.events) == 1  # the backend's event is kept, not taken
    assert await client.wait_event("DEVICE_DELETED", 0.05, device="vdc") is None
