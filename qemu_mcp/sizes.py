"""Sizes people type (memory `2G`, `4096M`, `512MiB`; disk `size=20G`) and the disk spec, parsed strictly.

Units are binary, as QEMU and qemu-img read them: K/KiB = 1024, M/MiB = 1024², G/GiB, T/TiB.
A bare number is refused (is `2048` bytes, KiB or MiB?), and so are decimal-looking units
(GB, MB): libvirt reads those as powers of 1000, QEMU as powers of 1024, so we ask for G/GiB.
"""

from __future__ import annotations

import posixpath
import re
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation

from qemu_mcp import validation
from qemu_mcp.errors import InvalidInput

KIB = 1024
MIB = 1024**2
GIB = 1024**3
TIB = 1024**4

_UNITS = {
    "b": 1,
    "k": KIB, "kib": KIB,
    "m": MIB, "mib": MIB,
    "g": GIB, "gib": GIB,
    "t": TIB, "tib": TIB,
}  # fmt: skip
_AMBIGUOUS = {"kb", "mb", "gb", "tb"}
_SIZE = re.compile(r"\s*([0-9]+(?:\.[0-9]+)?)\s*([A-Za-z]*)\s*")

MIN_MEMORY_MIB = 16
MAX_MEMORY_MIB = 16 * 1024 * 1024  # 16 TiB
MAX_VCPUS = 1024
MIN_DISK = MIB
MAX_DISK = 64 * TIB
SECTOR = 512
DEFAULT_MEMORY = "2G"
DEFAULT_VCPUS = 2
DEFAULT_DISK_SIZE = "20G"
# Image format by file extension (seed 004: qcow2 or raw).
FORMAT_OF_EXTENSION = {".qcow2": "qcow2", ".raw": "raw", ".img": "raw"}


def parse_size(text: str, what: str) -> int:
    """'2G' -> 2147483648. InvalidInput for anything that is not a number with a binary unit."""
    if not isinstance(text, str) or not text.strip():
        raise InvalidInput(f"{what} must be a size such as 2G, 4096M or 512MiB")
    m = _SIZE.fullmatch(text)
    if not m:
        raise InvalidInput(f"{what} {text!r} is not a size: use a number and a unit, e.g. 2G, 4096M, 512MiB")
    number, unit = m[1], m[2].lower()
    if unit == "":
        raise InvalidInput(f"{what} {text!r} has no unit: write e.g. {number}M or {number}G")
    if unit in _AMBIGUOUS:
        raise InvalidInput(
            f"{what} {text!r}: {m[2]} is ambiguous (powers of 1000 or 1024?); "
            f"use binary units: {number}{m[2][0].upper()} or {number}{m[2][0].upper()}iB"
        )
    if unit not in _UNITS:
        raise InvalidInput(f"{what} {text!r} has an unknown unit {m[2]!r}: use K, M, G or T (KiB, MiB, ...)")
    try:
        value = Decimal(number) * _UNITS[unit]
    except InvalidOperation:  # pragma: no cover - the regex admits only plain decimals
        raise InvalidInput(f"{what} {text!r} is not a number") from None
    if value != value.to_integral_value():
        raise InvalidInput(f"{what} {text!r} is not a whole number of bytes")
    return int(value)


def human(n: int) -> str:
    """Bytes as the largest binary unit that divides them exactly: 2147483648 -> '2G'."""
    for unit, size in (("T", TIB), ("G", GIB), ("M", MIB), ("K", KIB)):
        if n and n % size == 0:
            return f"{n // size}{unit}"
    return f"{n}B"


def memory_mib(text: str) -> int:
    """Guest memory in whole MiB, 16 MiB .. 16 TiB."""
    n = parse_size(text, "memory")
    if n % MIB:
        raise InvalidInput(f"memory {text!r} is not a whole number of MiB; round it, e.g. to {n // MIB}M")
    mib = n // MIB
    if not MIN_MEMORY_MIB <= mib <= MAX_MEMORY_MIB:
        raise InvalidInput(f"memory {text!r} is out of range: use {MIN_MEMORY_MIB}M to 16T")
    return mib


def vcpus(value: int) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or not 1 <= value <= MAX_VCPUS:
        raise InvalidInput(f"vcpus {value!r} is out of range: use a whole number from 1 to {MAX_VCPUS}")
    return value


def disk_size(text: str) -> int:
    n = parse_size(text, "disk size")
    if n % SECTOR:
        raise InvalidInput(f"disk size {text!r} is not a multiple of 512 bytes (a disk sector)")
    if not MIN_DISK <= n <= MAX_DISK:
        raise InvalidInput(f"disk size {text!r} is out of range: use 1M to 64T")
    return n


def image_format(path: str) -> str:
    ext = posixpath.splitext(path)[1].lower()
    fmt = FORMAT_OF_EXTENSION.get(ext)
    if fmt is None:
        raise InvalidInput(
            f"disk path {path!r} must end in .qcow2 (qcow2 image) or .raw/.img (raw image): "
            "the image format is taken from the extension"
        )
    return fmt


def image_path(path: str, what: str = "disk path") -> str:
    """An absolute path with no '..' and no ',' (the disk spec's separator)."""
    validation.abs_path(path, what)
    parts = path.split("/")
    if ".." in parts or "." in parts:
        raise InvalidInput(f"{what} {path!r} contains '.' or '..' components; give the plain absolute path")
    if "//" in path or path.endswith("/"):
        raise InvalidInput(f"{what} {path!r} must be a file path without '//' or a trailing '/'")
    return path


@dataclass(frozen=True)
class DiskSpec:
    """`path=/data/vm/x.qcow2,size=20G`: either part may be missing."""

    path: str | None = None
    size_bytes: int | None = None

    @property
    def format(self) -> str | None:
        return image_format(self.path) if self.path else None


def parse_disk_spec(text: str) -> DiskSpec:
    if not isinstance(text, str) or not text.strip():
        raise InvalidInput("disk must look like 'path=/data/vm/x.qcow2,size=20G' (either part may be left out)")
    fields: dict[str, str] = {}
    for item in text.split(","):
        key, sep, value = item.partition("=")
        key = key.strip().lower()
        if not sep or not key or not value.strip():
            raise InvalidInput(f"disk {text!r}: {item!r} is not key=value; write e.g. 'path=/data/vm/x.qcow2,size=20G'")
        if key not in ("path", "size"):
            raise InvalidInput(f"disk {text!r}: unknown key {key!r}; the keys are path and size")
        if key in fields:
            raise InvalidInput(f"disk {text!r}: {key} is given twice")
        fields[key] = value.strip()
    path = fields.get("path")
    if path is not None:
        image_path(path)
        image_format(path)
    size = disk_size(fields["size"]) if "size" in fields else None
    return DiskSpec(path=path, size_bytes=size)
