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


# Internal snapshots of a qcow2 image. `qemu-img snapshot` takes no -f, so the image is named with
# --image-opts, which states the format (driver=qcow2) instead of letting qemu-img probe it.
SNAPSHOT_OPS = {"create": "-c", "apply": "-a", "delete": "-d"}


def option_value(value: str) -> str:
    """A value inside a QEMU option string: ',' is the separator, ',,' a literal comma."""
    return value.replace(",", ",,")


def qcow2_image_opts(path: str) -> str:
    """`driver=qcow2,file.filename=PATH` (a ',' in the path is doubled, as QEMU's option syntax wants)."""
    return "driver=qcow2,file.driver=file,file.filename=" + option_value(sizes.image_path(path))


def snapshot(op: str, path: str, name: str) -> list[str]:
    """create (-c), apply (-a: revert the image to it) or delete (-d) the snapshot `name` of a qcow2
    image no running guest uses. The name is -c/-a/-d's own value, never read as an option."""
    if not name or name.startswith("-") or name.isdigit():
        raise ValueError(f"unsafe snapshot name {name!r}")
    return ["qemu-img", "snapshot", "-q", SNAPSHOT_OPS[op], name, "--image-opts", qcow2_image_opts(path)]


def snapshot_list(path: str) -> list[str]:
    """The snapshots of a qcow2 image; -U reads it even while a running guest holds its lock."""
    return ["qemu-img", "snapshot", "-l", "-U", "--image-opts", qcow2_image_opts(path)]


def overlay(path: str, backing: str, backing_fmt: str) -> list[str]:
    """A new, empty qcow2 overlay on `backing` (its size is the backing image's). Replaces `path` if it
    exists: only for resetting an external snapshot's overlay, which holds nothing to keep."""
    return [
        "qemu-img", "create", "-q", "-f", "qcow2", "-F", _fmt(backing_fmt), "-b", sizes.image_path(backing),
        "--", sizes.image_path(path),
    ]  # fmt: skip
