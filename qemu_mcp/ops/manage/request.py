"""A manage_vm call, parsed and checked before anything touches a host (backend-independent)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import get_args

from qemu_mcp import sizes, validation
from qemu_mcp.errors import InvalidInput
from qemu_mcp.models import ManageAction

ACTIONS: tuple[str, ...] = get_args(ManageAction)
DEFAULT_TIMEOUT = 60.0
MAX_TIMEOUT = 3600.0
# Options that only mean something for some actions: passing them elsewhere is a mistake we report.
ONLY_FOR = {
    "arch": ("create",),
    "iso": ("create",),
    # Where plain-QEMU VMs live (every action); on libvirt hosts only create uses it (the disk's dir).
    "vm_dir": ("create", "start", "stop", "reboot", "delete", "modify"),
    "start": ("create",),
    "memory": ("create", "modify"),
    "vcpus": ("create", "modify"),
    "disk": ("create", "modify"),
}


@dataclass(frozen=True)
class ManageRequest:
    name: str
    action: ManageAction
    arch: str | None = None
    memory_mib: int | None = None
    vcpus: int | None = None
    disk: sizes.DiskSpec | None = None
    iso: str | None = None
    vm_dir: str | None = None
    force: bool = False
    confirm: bool = False
    dry_run: bool = False
    start: bool = False
    timeout: float = DEFAULT_TIMEOUT

    @property
    def changes_config(self) -> bool:
        """modify: memory or vCPUs change, which a running guest only sees after a restart."""
        return self.memory_mib is not None or self.vcpus is not None


def parse_request(
    name: str,
    action: str,
    *,
    arch: str | None = None,
    memory: str | None = None,
    disk: str | None = None,
    iso: str | None = None,
    vcpus: int | None = None,
    vm_dir: str | None = None,
    force: bool = False,
    confirm: bool = False,
    dry_run: bool = False,
    start: bool = False,
    timeout: float | None = None,
) -> ManageRequest:
    """Every check that needs no host: names, sizes, paths, and which options fit the action."""
    if action not in ACTIONS:
        raise InvalidInput(f"action {action!r} is not one of {', '.join(ACTIONS)}")
    given = {
        "arch": arch,
        "memory": memory,
        "disk": disk,
        "iso": iso,
        "vcpus": vcpus,
        "vm_dir": vm_dir,
        "start": start or None,
    }
    for option, value in given.items():
        if value is not None and action not in ONLY_FOR[option]:
            raise InvalidInput(
                f"{option} does not apply to action={action}; it is used by {' and '.join(ONLY_FOR[option])}"
            )
    wait = _timeout(timeout)

    if action == "create":
        validation.creatable_vm_name(name)
        if not arch:
            raise InvalidInput("create needs arch: x86_64 or aarch64 (arm64)")
        new_disk = sizes.parse_disk_spec(disk) if disk is not None else sizes.DiskSpec()
        return ManageRequest(
            name=name,
            action="create",
            arch=validation.arch(arch),
            memory_mib=sizes.memory_mib(memory if memory is not None else sizes.DEFAULT_MEMORY),
            vcpus=sizes.vcpus(vcpus if vcpus is not None else sizes.DEFAULT_VCPUS),
            disk=new_disk,
            iso=sizes.image_path(iso, "iso") if iso is not None else None,
            vm_dir=_dir(vm_dir) if vm_dir is not None else None,
            dry_run=dry_run,
            start=start,
            force=force,
            confirm=confirm,
            timeout=wait,
        )

    validation.vm_name(name)
    disk_spec: sizes.DiskSpec | None = None
    if action == "modify":
        if memory is None and vcpus is None and disk is None:
            raise InvalidInput("modify needs at least one of memory, vcpus or disk (e.g. disk='size=40G')")
        if disk is not None:
            disk_spec = sizes.parse_disk_spec(disk)
            if disk_spec.size_bytes is None:
                raise InvalidInput(
                    f"disk {disk!r}: modify grows a disk, so give its new size, e.g. 'size=40G' "
                    "(and path=... to pick a disk other than the first)"
                )
    return ManageRequest(
        name=name,
        action=action,  # type: ignore[arg-type]  # checked against ACTIONS above
        memory_mib=sizes.memory_mib(memory) if memory is not None else None,
        vcpus=sizes.vcpus(vcpus) if vcpus is not None else None,
        disk=disk_spec,
        vm_dir=_dir(vm_dir) if vm_dir is not None else None,
        force=force,
        confirm=confirm,
        dry_run=dry_run,
        timeout=wait,
    )


def _timeout(value: float | None) -> float:
    if value is None:
        return DEFAULT_TIMEOUT
    if isinstance(value, bool) or not isinstance(value, int | float) or not 1 <= value <= MAX_TIMEOUT:
        raise InvalidInput(f"timeout {value!r} is out of range: use 1 to {MAX_TIMEOUT:.0f} seconds")
    return float(value)


def _dir(path: str) -> str:
    validation.abs_path(path, "vm_dir")
    stripped = path.rstrip("/") or "/"
    if "//" in stripped or any(part in (".", "..") for part in stripped.split("/")):
        raise InvalidInput(f"vm_dir {path!r} must be a plain absolute path without '//', '.' or '..'")
    return stripped
