"""manage_vm modify's add_disk / remove_disk, parsed strictly before any command (issue 12 item 4).

    add_disk    'size=10G[,path=/data/vm/x.qcow2][,format=qcow2|raw][,bus=virtio|sata|scsi]'
    remove_disk a guest device name: vdb, sdb

Pure: the guest device name a new disk gets (the first free one on its bus: vdb, vdc, ... or
sda, sdb, ...) and its default file name are chosen here from what the VM already has.
"""

from __future__ import annotations

import posixpath
import re
import string
from collections.abc import Iterable
from dataclasses import dataclass

from qemu_mcp import sizes
from qemu_mcp.errors import InvalidInput

BUSES = ("virtio", "sata", "scsi")
FORMATS = ("qcow2", "raw")
EXTENSION = {"qcow2": ".qcow2", "raw": ".raw"}
# Guest device names: vd* on virtio, sd* on SATA and SCSI (libvirt's naming; hd* for old IDE).
PREFIX = {"virtio": "vd", "sata": "sd", "scsi": "sd"}
TARGET = re.compile(r"(vd|sd|hd|xvd)[a-z]{1,2}")
MAX_TRIES = 100  # default file names tried before giving up (name-vdb.qcow2, name-vdb-1.qcow2, ...)
EXAMPLE = "'size=10G' (optional: path=/data/vm/x.qcow2, format=qcow2|raw, bus=virtio|sata|scsi)"


@dataclass(frozen=True)
class AddDisk:
    """A new disk to create and attach."""

    size_bytes: int
    path: str | None = None  # None: in the VM's disk directory, with a free name
    format: str = "qcow2"
    bus: str = "virtio"


@dataclass(frozen=True)
class NewDisk:
    """An AddDisk with its guest device name and file path chosen."""

    target: str
    path: str
    format: str
    bus: str
    size_bytes: int


def parse_add_disk(text: str) -> AddDisk:
    """'size=10G,bus=scsi' -> AddDisk. InvalidInput names the bad part."""
    if not isinstance(text, str) or not text.strip():
        raise InvalidInput(f"add_disk must look like {EXAMPLE}")
    fields: dict[str, str] = {}
    for item in text.split(","):
        key, sep, value = item.partition("=")
        key, value = key.strip().lower(), value.strip()
        if not sep or not key or not value:
            raise InvalidInput(f"add_disk {text!r}: {item!r} is not key=value; write e.g. {EXAMPLE}")
        if key not in ("size", "path", "format", "bus"):
            raise InvalidInput(f"add_disk {text!r}: unknown key {key!r}; the keys are size, path, format and bus")
        if key in fields:
            raise InvalidInput(f"add_disk {text!r}: {key} is given twice")
        fields[key] = value
    if "size" not in fields:
        raise InvalidInput(f"add_disk {text!r} needs a size, e.g. {EXAMPLE}")
    size = sizes.disk_size(fields["size"])
    bus = fields.get("bus", "virtio").lower()
    if bus not in BUSES:
        raise InvalidInput(f"add_disk {text!r}: bus {bus!r} is not one of {', '.join(BUSES)}")
    fmt = fields.get("format", "").lower() or None
    if fmt is not None and fmt not in FORMATS:
        raise InvalidInput(f"add_disk {text!r}: format {fmt!r} is not qcow2 or raw")
    path = fields.get("path")
    if path is not None:
        sizes.image_path(path)
        by_extension = sizes.image_format(path)
        if fmt is not None and fmt != by_extension:
            raise InvalidInput(
                f"add_disk {text!r}: format={fmt} but the path's extension says {by_extension}; "
                "make them agree (or leave format out)"
            )
        fmt = by_extension
    return AddDisk(size_bytes=size, path=path, format=fmt or "qcow2", bus=bus)


def check_target(target: str) -> str:
    """remove_disk's device name: vdb, sdc, ... (never a path, never an option)."""
    if not isinstance(target, str) or not TARGET.fullmatch(target):
        raise InvalidInput(
            f"remove_disk {target!r} is not a guest device name such as vdb or sdb; get_vm_info lists the VM's disks"
        )
    return target


def free_target(bus: str, used: Iterable[str]) -> str:
    """The first device name on `bus` that no device of the VM uses: vda..vdz, vdaa.. (or sd*)."""
    taken = set(used)
    prefix = PREFIX[bus]
    letters = string.ascii_lowercase
    names = [*letters, *(a + b for a in letters for b in letters)]
    for suffix in names:
        if prefix + suffix not in taken:
            return prefix + suffix
    raise InvalidInput(f"no free {bus} device name is left (all of {prefix}a..{prefix}zz are used)")


def default_paths(directory: str, stem: str, fmt: str) -> list[str]:
    """Candidate file names for a new disk, in order: <dir>/<stem>.qcow2, <dir>/<stem>-1.qcow2, ..."""
    ext = EXTENSION[fmt]
    first = posixpath.join(directory, stem + ext)
    return [first, *(posixpath.join(directory, f"{stem}-{i}{ext}") for i in range(1, MAX_TRIES))]
