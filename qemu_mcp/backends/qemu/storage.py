"""list_storage_pools on a plain-QEMU host: its two directories as pools, in one round trip.

`vm_dir` (the VMs' directories, with the disk images create makes) and `image_dir` (base images;
`<vm_dir>/images` for now) are the pools. A fixed sh script (paths and marker are positional
arguments) prints each directory's filesystem (`df -B1`) and its image files: in vm_dir the files
in it and in each VM's directory, in image_dir the files in it. With details it also runs
`qemu-img info --output=json -U` on each image and prints every VM's vm.conf (which VM uses
which image). An image's format comes from its extension, as create decides it, and is passed
with -f: never guessed by qemu-img from content a guest may have written.
"""

from __future__ import annotations

from qemu_mcp import validation
from qemu_mcp.backends.qemu.scripts import failed
from qemu_mcp.backends.qemu.vmconf import ConfError, parse
from qemu_mcp.backends.volume_users import DiskUse, with_users
from qemu_mcp.config import HostSpec
from qemu_mcp.errors import CommandFailed, NotFound
from qemu_mcp.host.images import FORMAT_CASES
from qemu_mcp.models import StoragePoolInfo, VolumeInfo
from qemu_mcp.parsers.df import OUTPUT as DF_OUTPUT
from qemu_mcp.parsers.df import parse_df
from qemu_mcp.parsers.qemu_img import image_facts
from qemu_mcp.parsers.qemu_storage import RawDir, RawImage, RawStorage, parse_storage
from qemu_mcp.parsers.sections import new_marker, script_marker
from qemu_mcp.transport.base import Runner

VM_DIR, IMAGE_DIR = "vm_dir", "image_dir"
POOLS = (VM_DIR, IMAGE_DIR)

STORAGE_SCRIPT = r"""
export LC_ALL=C
m=$1 mode=$2 vm_dir=$3 image_dir=$4
image() {
  case $1 in
CASES
    *) return ;;
  esac
  [ -f "$1" ] || return
  echo "$m image $fmt"
  printf '%s\n' "$1"
  [ "$mode" = details ] || return
  if out=$(qemu-img info --output=json -U -f "$fmt" -- "$1" 2>&1); then echo "$m info"; else echo "$m info-error"; fi
  printf '%s\n' "$out"
}
pool() {
  echo "$m pool $1"
  printf '%s\n' "$2"
  [ -d "$2" ] || { echo "$m missing"; return; }
  echo "$m df"
  df -B1 --output=DF_OUTPUT -- "$2" 2>&1
  for f in "$2"/*; do image "$f"; done
  [ "$1" = vm_dir ] || return
  for f in "$2"/*/*; do
    case $f in "$image_dir"/*) continue ;; esac
    image "$f"
  done
}
pool vm_dir "$vm_dir"
pool image_dir "$image_dir"
[ "$mode" = details ] || exit 0
for c in "$vm_dir"/*/vm.conf; do
  [ -f "$c" ] || continue
  d=${c%/vm.conf}
  echo "$m conf ${d##*/}"
  cat "$c"
done
exit 0
""".replace("CASES", FORMAT_CASES).replace("DF_OUTPUT", DF_OUTPUT)


def image_dir_of(vm_dir: str) -> str:
    return vm_dir.rstrip("/") + "/images"


def storage_argv(vm_dir: str, marker: str, *, details: bool = False) -> list[str]:
    validation.abs_path(vm_dir, "vm_dir")
    vm_dir = vm_dir.rstrip("/") or "/"
    return ["sh", "-c", STORAGE_SCRIPT, "qmcp-qemu-storage", script_marker(marker),
            "details" if details else "list", vm_dir, image_dir_of(vm_dir)]  # fmt: skip


def pool_of(host: str, raw: RawDir) -> StoragePoolInfo:
    pool = StoragePoolInfo(host=host, name=raw.name, kind="directory", state="running", active=True, type="dir",
                           target_path=raw.path, volume_count=len(raw.images))  # fmt: skip
    if raw.missing:
        note = f"{raw.path} does not exist" + (" (create makes it)" if raw.name == VM_DIR else "")
        return pool.model_copy(update={"state": "missing", "active": False, "volume_count": None, "notes": [note]})
    try:
        fs = parse_df(raw.df or "")[0]
    except (ValueError, IndexError):
        pool.notes.append(f"df did not describe {raw.path}: {' '.join((raw.df or '').split())[:200]}")
        return pool
    return pool.model_copy(update={
        "capacity_bytes": fs.size, "allocation_bytes": fs.used, "available_bytes": fs.available,
        "filesystem": f"{fs.source} ({fs.fstype}, mounted on {fs.mounted_on})",
    })  # fmt: skip


def volume_of(host: str, pool: RawDir, raw: RawImage) -> VolumeInfo:
    """An image; its name is its path below the pool's directory (web1/disk0.qcow2 in vm_dir)."""
    name = raw.path.removeprefix(pool.path.rstrip("/") + "/")
    volume = VolumeInfo(host=host, pool=pool.name, name=name, path=raw.path, type="file", format=raw.format)
    if raw.error is not None:
        volume.notes.append(f"qemu-img info failed: {raw.error[:300]}")
    if raw.info is None:
        return volume
    try:
        facts = image_facts(raw.info)
    except ValueError as e:
        volume.notes.append(str(e))
        return volume
    return volume.model_copy(update={
        "capacity_bytes": facts.virtual_size, "allocation_bytes": facts.actual_size,
        "backing_file": facts.full_backing_file or facts.backing_file, "backing_format": facts.backing_format,
    })  # fmt: skip


def conf_disks(confs: dict[str, str]) -> list[DiskUse]:
    """What every VM's vm.conf attaches: its disks and its ISO (a broken vm.conf attaches nothing)."""
    uses = []
    for name, text in confs.items():
        try:
            conf = parse(text)
        except ConfError:
            continue
        uses += [DiskUse(name, d.target, "disk", d.path) for d in conf.disks]
        if conf.iso:
            uses.append(DiskUse(name, "sda", "cdrom", conf.iso))
    return uses


async def read_storage(runner: Runner, spec: HostSpec, *, details: bool) -> RawStorage:
    marker = new_marker()
    result = await runner.run(storage_argv(spec.vm_dir, marker, details=details), read_only=True)
    if result.exit_status != 0:
        raise failed(result, spec.name, f"reading {spec.vm_dir} and {image_dir_of(spec.vm_dir)}")
    return parse_storage(result.stdout, marker)  # pure text: nothing in it can fail to parse


async def list_dirs(runner: Runner, spec: HostSpec) -> list[StoragePoolInfo]:
    raw = await read_storage(runner, spec, details=False)
    return [pool_of(spec.name, d) for d in raw.dirs]


async def describe_dir(runner: Runner, spec: HostSpec, name: str) -> tuple[StoragePoolInfo, list[VolumeInfo]]:
    if name not in POOLS:
        raise NotFound(f"storage pool '{name}' not found on host '{spec.name}': a plain-QEMU host's pools are "
                       f"{' and '.join(POOLS)}")  # fmt: skip
    # Both directories are read: a VM disk in vm_dir uses a base image in image_dir as its backing file.
    raw = await read_storage(runner, spec, details=True)
    found = next((d for d in raw.dirs if d.name == name), None)
    if found is None:
        raise CommandFailed(f"reading {name} on host '{spec.name}' printed nothing", host=spec.name)
    volumes = with_users([volume_of(spec.name, d, i) for d in raw.dirs for i in d.images], conf_disks(raw.confs))
    return pool_of(spec.name, found), [v for v in volumes if v.pool == name]
