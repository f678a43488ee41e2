"""Pure argv builders for qemu-img. The format is always given (-f): never let qemu-img guess it
from the file's content, which a guest controls."""

from __future__ import annotations

from qemu_mcp import sizes

FORMATS = ("qcow2", "raw")


def _fmt(fmt: str) -> str:
    if fmt not in FORMATS:
        raise ValueError(f"unsupported image format {fmt!r}")
    return fmt


def create(path: str, fmt: str, size_bytes: int) -> list[str]:
    """A new image (qcow2: thin; raw: sparse). qemu-img overwrites an existing file: reserve it first."""
    return ["qemu-img", "create", "-q", "-f", _fmt(fmt), "--", sizes.image_path(path), str(size_bytes)]


def info(path: str, fmt: str, *, shared: bool = True) -> list[str]:
    """JSON facts of an image; `shared` (-U) reads it even while a running guest holds its lock."""
    argv = ["qemu-img", "info", "--output=json", "-f", _fmt(fmt)]
    if shared:
        argv.append("-U")
    return [*argv, "--", sizes.image_path(path)]


def resize(path: str, fmt: str, size_bytes: int) -> list[str]:
    """Grow an image that no running guest uses (shrinking needs --shrink, which we never pass)."""
    return ["qemu-img", "resize", "-q", "-f", _fmt(fmt), "--", sizes.image_path(path), str(size_bytes)]
