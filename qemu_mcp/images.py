"""Screen images: PPM (P6, what `virsh screenshot` gives from QEMU 7.2) to PNG, and a PNG's size.
Pure, zlib only (no imaging library)."""

from __future__ import annotations

import re
import struct
import zlib

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
_PPM_HEADER = re.compile(rb"P6\s+(?:#[^\n]*\n\s*)*(\d+)\s+(?:#[^\n]*\n\s*)*(\d+)\s+(?:#[^\n]*\n\s*)*(\d+)\s")


def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)


def ppm_to_png(ppm: bytes) -> bytes:
    """A binary 8-bit PPM (P6) as an RGB PNG. ValueError for anything else."""
    m = _PPM_HEADER.match(ppm)
    if m is None:
        raise ValueError("not a binary PPM (P6) image")
    width, height, maxval = int(m[1]), int(m[2]), int(m[3])
    if maxval != 255 or width < 1 or height < 1:
        raise ValueError(f"unsupported PPM: {width}x{height}, maxval {maxval}")
    pixels = ppm[m.end() : m.end() + width * height * 3]
    if len(pixels) != width * height * 3:
        raise ValueError("PPM pixel data is truncated")
    row = width * 3
    raw = b"".join(b"\x00" + pixels[y * row : (y + 1) * row] for y in range(height))  # filter 0 per row
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)  # 8-bit RGB
    return PNG_MAGIC + _chunk(b"IHDR", header) + _chunk(b"IDAT", zlib.compress(raw, 6)) + _chunk(b"IEND", b"")


def png_size(png: bytes) -> tuple[int, int]:
    """(width, height) from a PNG's IHDR. ValueError for anything else."""
    if not png.startswith(PNG_MAGIC) or png[12:16] != b"IHDR":
        raise ValueError("not a PNG image")
    width, height = struct.unpack(">II", png[16:24])
    return int(width), int(height)


def as_png(image: bytes) -> tuple[bytes, str]:
    """(PNG bytes, the format it came in: png or ppm)."""
    if image.startswith(PNG_MAGIC):
        return image, "png"
    return ppm_to_png(image), "ppm"
