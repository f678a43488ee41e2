"""Pure builders for adding and removing a libvirt domain's disk (manage_vm add_disk / remove_disk).

The disk goes in as `<disk>` XML on stdin of `virsh attach-device` (no temporary file, no path in
an option string); it leaves with `virsh detach-disk --target`. Both address the domain by UUID
only, with `--config` (the persistent definition) and, for a running guest, `--live`.
"""

from __future__ import annotations

from lxml import etree

from qemu_mcp import validation
from qemu_mcp.backends.libvirt import virsh
from qemu_mcp.disk_spec import BUSES, TARGET, NewDisk

NO_SLOT = "No more available PCI slots"  # libvirt: no free root port for a hot-plugged device
_PARSER = etree.XMLParser(resolve_entities=False, no_network=True, huge_tree=False)


def disk_xml(disk: NewDisk) -> str:
    """`<disk type='file' device='disk'>` for a new image file."""
    if disk.bus not in BUSES or disk.format not in ("qcow2", "raw") or not TARGET.fullmatch(disk.target):
        raise ValueError(f"unsupported disk {disk!r}")
    root = etree.Element("disk", type="file", device="disk")
    etree.SubElement(root, "driver", name="qemu", type=disk.format)
    etree.SubElement(root, "source", file=validation.abs_path(disk.path))
    etree.SubElement(root, "target", dev=disk.target, bus=disk.bus)
    return etree.tostring(root, encoding="unicode") + "\n"


def _scope(live: bool) -> list[str]:
    return ["--config", "--live"] if live else ["--config"]


def attach_device(uuid: str, *, live: bool) -> list[str]:
    """The device XML comes on stdin."""
    return ["attach-device", "--domain", validation.domain_uuid(uuid), "--file", virsh.STDIN, *_scope(live)]


def detach_disk(uuid: str, target: str, *, live: bool) -> list[str]:
    if not TARGET.fullmatch(target):
        raise ValueError(f"unsafe disk target {target!r}")
    return ["detach-disk", "--domain", validation.domain_uuid(uuid), "--target", target, *_scope(live)]


def has_target(xml: str, target: str) -> bool:
    """The domain XML (live or inactive) has a disk with this guest device name."""
    root = etree.fromstring(xml.encode(), _PARSER)
    return any(t.get("dev") == target for t in root.iterfind("devices/disk/target"))
