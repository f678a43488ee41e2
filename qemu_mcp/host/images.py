"""Pure argv builders for a host's image directory (issue 11): list it with the VMs' disks in one
round trip, move an uploaded file into place, check its digest.

An image's format comes from its extension (.qcow2; .raw, .img and .iso are raw) and is passed to
qemu-img with -f: never guessed from content. The listing also reads every VM's disks (libvirt:
`virsh domblklist` by UUID; plain QEMU: the disk paths in each vm.conf) with their backing chains,
so the caller can say which VMs use an image as a base.
"""

from __future__ import annotations

import posixpath
import re

from qemu_mcp import sizes, validation
from qemu_mcp.errors import InvalidInput

# What counts as an image, and its format: create's extensions, and ISOs (read as raw).
IMAGE_FORMATS = {**sizes.FORMAT_OF_EXTENSION, ".iso": "raw"}
# The same as `case` branches, for the host scripts that list images (here and plain QEMU's storage).
FORMAT_CASES = "\n".join(f"    *{ext}) fmt={fmt} ;;" for ext, fmt in IMAGE_FORMATS.items())
# A bare image name: letters, digits, '.', '_', '-', not starting with '.' or '-'.
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._+-]{0,200}")

LIST_SCRIPT = r"""
export LC_ALL=C
m=$1 image_dir=$2 kind=$3 where=$4
info() {
  case $2 in
CASES
    *) return ;;
  esac
  [ -f "$2" ] || return
  echo "$m $1 $fmt"
  printf '%s\n' "$2"
  f="-f $fmt"
  # A .img base image in image_dir (the operator's file, often a qcow2 cloud image) is probed;
  # a VM's disk never is: its content is the guest's.
  [ "$1" = image ] && [ "${2%.img}" != "$2" ] && f=
  if out=$(qemu-img info --output=json --backing-chain -U $f -- "$2" 2>&1)
  then echo "$m info"; else echo "$m info-error"; fi
  printf '%s\n' "$out"
}
if [ -d "$image_dir" ]; then echo "$m dir present"; else echo "$m dir missing"; fi
for f in "$image_dir"/*; do info image "$f"; done
if [ "$kind" = libvirt ]; then
  for u in $(virsh -q -c "$where" list --all --uuid 2>/dev/null); do
    n=$(virsh -q -c "$where" domname "$u" 2>/dev/null) || continue
    echo "$m vm $n"
    virsh -q -c "$where" domblklist --inactive --details "$u" 2>/dev/null | while read -r type dev target src; do
      [ "$type" = file ] && [ "$dev" = disk ] && info disk "$src"
    done
  done
else
  for c in "$where"/*/vm.conf; do
    [ -f "$c" ] || continue
    d=${c%/vm.conf}
    echo "$m vm ${d##*/}"
    sed -n 's/^disk\.[0-9]*\.path=//p' "$c" | while IFS= read -r src; do info disk "$src"; done
  done
fi
exit 0
""".replace("CASES", FORMAT_CASES)

# Move an uploaded temp file into place without replacing anything: a hard link fails if $2 exists.
PLACE_SCRIPT = 'ln -- "$1" "$2" && rm -f -- "$1"'


def image_format(path: str) -> str:
    fmt = IMAGE_FORMATS.get(posixpath.splitext(path)[1].lower())
    if fmt is None:
        raise InvalidInput(
            f"image {path!r} must end in .qcow2 (qcow2), .raw/.img (raw) or .iso: "
            "the format is taken from the extension"
        )
    return fmt


def image_name(name: str) -> str:
    """A bare file name for the image directory (no '/', no leading '.' or '-')."""
    if not isinstance(name, str) or not _NAME.fullmatch(name) or name.endswith("."):
        raise InvalidInput(
            f"image name {name!r} must be a plain file name: letters, digits, '.', '_', '+', '-' "
            "(not starting with '.' or '-'), ending in .qcow2, .raw, .img or .iso"
        )
    image_format(name)
    return name


def resolve(image: str, image_dir: str) -> str:
    """An absolute host path as given (checked), or a bare name in the host's image_dir."""
    if "/" in image:
        return sizes.image_path(image, "image")
    return posixpath.join(image_dir, image_name(image))


def list_argv(image_dir: str, marker: str, kind: str, where: str) -> list[str]:
    """kind 'libvirt' (where: the libvirt URI) or 'qemu' (where: vm_dir)."""
    validation.abs_path(image_dir, "image_dir")
    if kind == "libvirt":
        validation.libvirt_uri(where)
    else:
        validation.abs_path(where, "vm_dir")
        where = where.rstrip("/") or "/"
    return ["sh", "-c", LIST_SCRIPT, "qmcp-images", marker, image_dir.rstrip("/") or "/", kind, where]


def place(tmp: str, path: str) -> list[str]:
    return ["sh", "-c", PLACE_SCRIPT, "qmcp-place", validation.abs_path(tmp), validation.abs_path(path)]


def replace(tmp: str, path: str) -> list[str]:
    """Atomic rename over an existing file (overwrite=true)."""
    return ["mv", "-f", "-T", "--", validation.abs_path(tmp), validation.abs_path(path)]


def sha256(path: str) -> list[str]:
    return ["sha256sum", "--", validation.abs_path(path)]


def convert(src: str, src_fmt: str, dest: str) -> list[str]:
    """A full qcow2 copy of `src` (create linked=false, clone linked=false)."""
    return ["qemu-img", "convert", "-q", "-f", _fmt(src_fmt), "-O", "qcow2", "--",
            sizes.image_path(src), sizes.image_path(dest)]  # fmt: skip


def overlay(path: str, backing: str, backing_fmt: str, size_bytes: int | None = None) -> list[str]:
    """A new qcow2 overlay on `backing`, always with -F; `size_bytes` grows it beyond the base."""
    argv = ["qemu-img", "create", "-q", "-f", "qcow2", "-F", _fmt(backing_fmt), "-b", sizes.image_path(backing),
            "--", sizes.image_path(path)]  # fmt: skip
    return argv + ([str(size_bytes)] if size_bytes is not None else [])


def probe(path: str) -> list[str]:
    """qemu-img info that reads the format from the file (a base image: the operator's file, not a
    guest's disk); the caller checks it against the extension and accepts qcow2 or raw only."""
    return ["qemu-img", "info", "--output=json", "-U", "--", sizes.image_path(path, "image")]


def resize(path: str, size_bytes: int) -> list[str]:
    return ["qemu-img", "resize", "-q", "-f", "qcow2", "--", sizes.image_path(path), str(size_bytes)]


def info(path: str, fmt: str) -> list[str]:
    return ["qemu-img", "info", "--output=json", "-U", "-f", _fmt(fmt), "--", sizes.image_path(path)]


def _fmt(fmt: str) -> str:
    if fmt not in ("qcow2", "raw"):
        raise InvalidInput(f"unsupported image format {fmt!r}")
    return fmt
