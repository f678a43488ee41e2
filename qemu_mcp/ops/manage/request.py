"""A manage_vm call, parsed and checked before anything touches a host (backend-independent)."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any, get_args

from qemu_mcp import disk_spec, sizes, validation
from qemu_mcp.backends.provision import NetworkChoice
from qemu_mcp.cloudinit import CloudInit
from qemu_mcp.errors import InvalidInput
from qemu_mcp.models import ManageAction
from qemu_mcp.ops.manage.image_request import image_options
from qemu_mcp.ops.manage.provision_request import parse_provision

ACTIONS: tuple[str, ...] = get_args(ManageAction)
DEFAULT_TIMEOUT = 60.0
MAX_TIMEOUT = 3600.0
# Options that only mean something for some actions: passing them elsewhere is a mistake we report.
ONLY_FOR = {
    "arch": ("create",),
    "iso": ("create",),
    # Where plain-QEMU VMs live (every action); on libvirt hosts only create uses it (the disk's dir).
    "vm_dir": ("create", "start", "stop", "reboot", "delete", "modify", "clone"),
    "start": ("create",),
    "memory": ("create", "modify"),
    "vcpus": ("create", "modify"),
    "disk": ("create", "modify"),
    "add_disk": ("modify",),
    "remove_disk": ("modify",),
    "keep_file": ("modify",),
    "wait_for_ip": ("create", "start"),  # seconds to wait for an address or SSH (clone: start it after)
    "cloud_init": ("create", "clone"),
    "ignition": ("create",),
    "network": ("create",),
    "ssh_forward": ("create",),
    "image": ("create",),
    "source": ("clone",),
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
    add_disk: disk_spec.AddDisk | None = None  # modify: a new disk to create and attach
    remove_disk: str | None = None  # modify: the guest device to detach (vdb)
    keep_file: bool = True  # remove_disk: keep the image file (False deletes it: dangerous)
    wait_for_ip: float = 0.0  # create/start: seconds to wait for an address or the SSH forward (0: no wait)
    # issue 11 (create): checked by ops.manage.provision.parse_provision
    cloud_init: CloudInit | None = None
    ignition: bytes | None = field(default=None, repr=False)
    network: NetworkChoice | None = None
    ssh_forward: bool | None = None
    image: str | None = None  # create: a host path or a bare name in the host's image_dir
    linked: bool = True  # create with image / clone: a qcow2 overlay (True) or a full copy
    source: str | None = None  # clone: the existing VM

    @property
    def deletes_disk_file(self) -> bool:
        """modify remove_disk with keep_file=false: the image file is deleted."""
        return self.remove_disk is not None and not self.keep_file

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
    add_disk: str | None = None,
    remove_disk: str | None = None,
    keep_file: bool | None = None,
    wait_for_ip: float | None = None,
    cloud_init: CloudInit | dict[str, Any] | None = None,
    ignition: dict[str, Any] | str | None = None,
    network: str | None = None,
    ssh_forward: bool | None = None,
    image: str | None = None,
    linked: bool | None = None,
    source: str | None = None,
) -> ManageRequest:
    """Every check that needs no host: names, sizes, paths, and which options fit the action."""
    _check_options(
        action,
        {"arch": arch, "memory": memory, "disk": disk, "iso": iso, "vcpus": vcpus, "vm_dir": vm_dir,
         "start": start or None, "add_disk": add_disk, "remove_disk": remove_disk, "keep_file": keep_file,
         "wait_for_ip": wait_for_ip or None, "cloud_init": cloud_init, "ignition": ignition, "network": network,
         "ssh_forward": ssh_forward, "image": image, "source": source},
    )  # fmt: skip
    if linked is not None and action not in ("create", "clone"):
        raise InvalidInput(f"linked does not apply to action={action}; it is used by create (with image) and clone")
    wait = _timeout(timeout)
    ip_wait = wait_for_ip_seconds(wait_for_ip, action, start)
    if add_disk is not None or remove_disk is not None or keep_file is not None:
        request = disk_request(name, add_disk, remove_disk, keep_file, memory=memory, disk=disk, vcpus=vcpus,
                               vm_dir=vm_dir)  # fmt: skip
    elif action == "create":
        request = _new_vm(name, arch, memory=memory, disk=disk, iso=iso, vcpus=vcpus, vm_dir=vm_dir)
        request = replace(request, **image_options(image, linked))
    elif action == "clone":
        request = _clone(name, source, vm_dir=vm_dir, linked=linked)
    else:
        request = _existing_vm(name, action, memory=memory, disk=disk, vcpus=vcpus, vm_dir=vm_dir)
    # start is False unless action=create (_check_options)
    request = replace(
        request, force=force, confirm=confirm, dry_run=dry_run, start=start, timeout=wait, wait_for_ip=ip_wait
    )
    if action == "create":
        request = replace(request, **parse_provision(cloud_init, ignition, network, ssh_forward))
    elif action == "clone" and cloud_init is not None:  # the clone's own seed (a new hostname...)
        request = replace(request, cloud_init=parse_provision(cloud_init, None, None, None)["cloud_init"])
    return request


def _check_options(action: str, given: dict[str, object]) -> None:
    """The action exists, and every option given (not None) means something for it."""
    if action not in ACTIONS:
        raise InvalidInput(f"action {action!r} is not one of {', '.join(ACTIONS)}")
    for option, value in given.items():
        if value is not None and action not in ONLY_FOR[option]:
            raise InvalidInput(
                f"{option} does not apply to action={action}; it is used by {' and '.join(ONLY_FOR[option])}"
            )


def _new_vm(
    name: str,
    arch: str | None,
    *,
    memory: str | None,
    disk: str | None,
    iso: str | None,
    vcpus: int | None,
    vm_dir: str | None,
) -> ManageRequest:
    """create: a new name, an arch, and defaults for memory, vCPUs and the disk."""
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
        vm_dir=dir_option(vm_dir) if vm_dir is not None else None,
    )


def _clone(name: str, source: str | None, *, vm_dir: str | None, linked: bool | None) -> ManageRequest:
    """clone: a new name and an existing source (never the same); disks follow the source's."""
    validation.creatable_vm_name(name)
    if not source:
        raise InvalidInput("clone needs source: the name of the existing VM to clone")
    validation.vm_name(source)
    if source == name:
        raise InvalidInput(f"clone: the new VM's name must differ from the source '{source}'")
    return ManageRequest(
        name=name, action="clone", source=source, linked=True if linked is None else bool(linked),
        vm_dir=dir_option(vm_dir) if vm_dir is not None else None,
    )  # fmt: skip


def _existing_vm(
    name: str, action: str, *, memory: str | None, disk: str | None, vcpus: int | None, vm_dir: str | None
) -> ManageRequest:
    """Every action but create: a VM that exists; modify changes memory, vCPUs or a disk's size."""
    validation.vm_name(name)
    grown = _grown_disk(memory, vcpus, disk) if action == "modify" else None
    return ManageRequest(
        name=name,
        action=action,  # type: ignore[arg-type]  # checked against ACTIONS (_check_options)
        memory_mib=sizes.memory_mib(memory) if memory is not None else None,
        vcpus=sizes.vcpus(vcpus) if vcpus is not None else None,
        disk=grown,
        vm_dir=dir_option(vm_dir) if vm_dir is not None else None,
    )


def _grown_disk(memory: str | None, vcpus: int | None, disk: str | None) -> sizes.DiskSpec | None:
    """modify: something to change, and a disk spec (if any) that says the new size."""
    if memory is None and vcpus is None and disk is None:
        raise InvalidInput(
            "modify needs at least one of memory, vcpus, disk (e.g. disk='size=40G'), add_disk or remove_disk"
        )
    if disk is None:
        return None
    disk_spec = sizes.parse_disk_spec(disk)
    if disk_spec.size_bytes is None:
        raise InvalidInput(
            f"disk {disk!r}: modify grows a disk, so give its new size, e.g. 'size=40G' "
            "(and path=... to pick a disk other than the first)"
        )
    return disk_spec


def disk_request(
    name: str,
    add_disk: str | None,
    remove_disk: str | None,
    keep_file: bool | None,
    *,
    memory: str | None,
    disk: str | None,
    vcpus: int | None,
    vm_dir: str | None,
) -> ManageRequest:
    """modify add_disk / remove_disk: one disk change per call, nothing else with it."""
    validation.vm_name(name)
    if add_disk is not None and remove_disk is not None:
        raise InvalidInput("give add_disk or remove_disk, not both: one disk change per call")
    if memory is not None or disk is not None or vcpus is not None:
        raise InvalidInput("add_disk/remove_disk go alone: change memory, vcpus or a disk's size in another call")
    if keep_file is not None and remove_disk is None:
        raise InvalidInput("keep_file applies to remove_disk only")
    if keep_file is not None and not isinstance(keep_file, bool):
        raise InvalidInput(f"keep_file {keep_file!r} must be true or false")
    return ManageRequest(
        name=name,
        action="modify",
        add_disk=disk_spec.parse_add_disk(add_disk) if add_disk is not None else None,
        remove_disk=disk_spec.check_target(remove_disk) if remove_disk is not None else None,
        keep_file=True if keep_file is None else keep_file,
        vm_dir=dir_option(vm_dir) if vm_dir is not None else None,
    )


def _timeout(value: float | None) -> float:
    if value is None:
        return DEFAULT_TIMEOUT
    if isinstance(value, bool) or not isinstance(value, int | float) or not 1 <= value <= MAX_TIMEOUT:
        raise InvalidInput(f"timeout {value!r} is out of range: use 1 to {MAX_TIMEOUT:.0f} seconds")
    return float(value)


def wait_for_ip_seconds(value: float | None, action: str, start: bool) -> float:
    if not value:
        return 0.0
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0 <= value <= MAX_TIMEOUT:
        raise InvalidInput(f"wait_for_ip {value!r} is out of range: use 0 to {MAX_TIMEOUT:.0f} seconds")
    if action == "create" and not start:
        raise InvalidInput("wait_for_ip on create needs start=true (a VM that is not started gets no address)")
    return float(value)


def dir_option(path: str) -> str:
    validation.abs_path(path, "vm_dir")
    stripped = path.rstrip("/") or "/"
    if "//" in stripped or any(part in (".", "..") for part in stripped.split("/")):
        raise InvalidInput(f"vm_dir {path!r} must be a plain absolute path without '//', '.' or '..'")
    return stripped
