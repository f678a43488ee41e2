"""Pure parts of the libvirt storage-pool disks and the <metadata> file list: which pool holds a
path, the virsh words, and the metadata written and read back (the real thing on the rig:
tests/integration/test_pool_storage.py)."""

from __future__ import annotations

import pytest
from lxml import etree

from qemu_mcp.backends.libvirt import metadata
from qemu_mcp.backends.libvirt.domain_xml_builder import DomainSpec, build_domain_xml
from qemu_mcp.backends.libvirt.manage import vm_disks
from qemu_mcp.backends.libvirt.storage_pool import place, vol_create_as, vol_delete, vol_resize
from qemu_mcp.errors import InvalidInput
from qemu_mcp.models import StoragePoolInfo

U1, U2, U3 = (f"{d}1111111-2222-3333-4444-555555555555" for d in "123")


def pool(name: str, uuid: str, path: str, *, active: bool = True, kind: str = "dir") -> StoragePoolInfo:
    return StoragePoolInfo(host="h", name=name, kind="libvirt", uuid=uuid, state="running" if active else "inactive",
                           active=active, type=kind, target_path=path)  # fmt: skip


POOLS = [
    pool("images", U1, "/var/lib/libvirt/images/"),
    pool("nested", U2, "/var/lib/libvirt/images/fast"),
    pool("off", U3, "/srv/off", active=False),
    pool("lvm", "41111111-2222-3333-4444-555555555555", "/dev/vg", kind="logical"),
]


def test_place_finds_the_deepest_active_file_pool() -> None:
    top = place("/var/lib/libvirt/images/a.qcow2", POOLS)
    assert top is not None and (top.pool.name, top.volume, top.uuid) == ("images", True, U1)
    nested = place("/var/lib/libvirt/images/fast/b.qcow2", POOLS)
    assert nested is not None and (nested.pool.name, nested.volume) == ("nested", True)
    deeper = place("/var/lib/libvirt/images/vms/c.qcow2", POOLS)
    assert deeper is not None and (deeper.pool.name, deeper.volume) == ("images", False)
    assert place("/srv/off/d.qcow2", POOLS) is None  # inactive: libvirt cannot make volumes there
    assert place("/dev/vg/e", POOLS) is None  # not file-backed
    assert place("/var/lib/libvirt/imagesX/f.qcow2", POOLS) is None  # a prefix is not a parent


def test_virsh_words() -> None:
    assert vol_create_as(U1, "a b.qcow2", 64 * 2**20, "qcow2") == [
        "vol-create-as", "--pool", U1, "--name", "a b.qcow2", "--capacity", "67108864B", "--allocation", "0",
        "--format", "qcow2",
    ]  # fmt: skip
    assert vol_resize("/p/a.qcow2", 10) == ["vol-resize", "--vol", "/p/a.qcow2", "--capacity", "10B"]
    assert vol_delete("/p/a.qcow2") == ["vol-delete", "--vol", "/p/a.qcow2"]
    for bad in ("", "x/y", ".."):
        with pytest.raises(ValueError):
            vol_create_as(U1, bad, 1, "qcow2")
    with pytest.raises(ValueError):
        vol_create_as(U1, "a.vmdk", 1, "vmdk")
    with pytest.raises(InvalidInput):
        vol_create_as("images", "a.qcow2", 1, "qcow2")  # a pool goes by its UUID only
    with pytest.raises(InvalidInput):
        vol_delete("relative.qcow2")


def spec(created: metadata.Created | None) -> DomainSpec:
    return DomainSpec(name="web", arch="x86_64", accel="qemu", memory_mib=128, vcpus=1, disk_path="/i/web.qcow2",
                      disk_format="qcow2", iso="/i/seed.iso", uuid=U1, state="created", created=created)  # fmt: skip


def test_metadata_lists_the_created_files_and_reads_them_back() -> None:
    made = metadata.Created(((metadata.DISK, "/i/web.qcow2"),)).with_file(metadata.SEED, "/i/seed.iso")
    made = made.with_file(metadata.BASE_IMAGE, "/b/debian.qcow2").with_file(metadata.SEED, "/i/seed.iso")
    xml = build_domain_xml(spec(made))
    assert metadata.create_state(xml) == metadata.CREATED and metadata.created_files(xml) == made
    assert made.of(metadata.SEED) == ["/i/seed.iso"] and len(made.paths) == 3
    root = etree.fromstring(xml.encode())
    disk, cdrom = sorted(vm_disks(root, made), key=lambda d: d.device, reverse=True)
    assert (disk.created, cdrom.created) == (True, True)
    # Without a file list (made before it was kept): every disk counts as created, the old rule.
    old = build_domain_xml(spec(None))
    assert metadata.create_state(old) == metadata.CREATED and metadata.created_files(old) is None
    assert all(d.created for d in vm_disks(etree.fromstring(old.encode()), None))
    only_disk = metadata.Created(((metadata.DISK, "/i/web.qcow2"),))
    assert [d.created for d in vm_disks(root, only_disk) if d.device == "cdrom"] == [False]
    with pytest.raises(ValueError):
        made.with_file("iso", "/x")
    # An external snapshot's overlay on a created disk is the VM's too; a look-alike name is not.
    assert made.made_disk("/i/web.qcow2.snap1") and not made.made_disk("/i/web.qcow22") and not made.made_disk(None)


def test_metadata_set_command_and_its_own_output() -> None:
    made = metadata.Created(((metadata.DISK, "/i/a b.qcow2"),))
    words = metadata.set_command(U1, metadata.CREATED, made, live=False)
    assert words[:8] == ["metadata", "--domain", U1, "--uri", metadata.NS, "--key", metadata.PREFIX, "--set"]
    assert words[9:] == ["--config"] and metadata.set_command(U1, "created", made, live=True)[9:] == [
        "--config",
        "--live",
    ]
    assert (
        words[8]
        == '<vm state="created" created-by="qemu-mcp" files="recorded"><created-disk path="/i/a b.qcow2"/></vm>'
    )
    # `virsh metadata --uri NS` prints the element alone, without its namespace (libvirt 9.0)
    printed = '<vm state="created" files="recorded">\n  <seed path="/s"/>\n</vm>\n'
    assert metadata.printed(printed) == ("created", metadata.Created(((metadata.SEED, "/s"),)))
    assert metadata.printed('<vm state="created"/>') == ("created", None)
