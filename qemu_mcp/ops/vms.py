"""list_vms and get_vm_info: one function per operation, shared by the MCP server and the CLI."""

from __future__ import annotations

from typing import Literal

from qemu_mcp import arches, validation
from qemu_mcp.backends.libvirt.read import describe_domain, list_domains
from qemu_mcp.backends.qemu import read as qemu_read
from qemu_mcp.config import HostSpec
from qemu_mcp.errors import InvalidInput
from qemu_mcp.models import ListVmsData, VmDetail, VmInfo
from qemu_mcp.ops.backend import with_backend
from qemu_mcp.ops.fleet_core import FleetCore, HostRef, across_hosts

StatusFilter = Literal["running", "stopped", "paused", "all"]
STOPPED = ("stopped", "crashed")


def _matches(vm: VmInfo, status: StatusFilter, arch: str | None, needle: str | None) -> bool:
    if status == "running" and vm.status != "running":
        return False
    if status == "stopped" and vm.status not in STOPPED:
        return False
    if status == "paused" and vm.status != "paused":
        return False
    if arch and (arches.canonical(vm.arch) or vm.arch) != arch:
        return False
    return not (needle and needle.lower() not in vm.name.lower())


async def _list_one(fleet: FleetCore, spec: HostSpec, vm_dir: str | None = None) -> list[VmInfo]:
    """One host's VMs with its backend; `vm_dir` only matters on plain-QEMU hosts."""
    return await with_backend(
        fleet,
        spec,
        lambda runner: list_domains(runner, spec, fleet.sessions(spec)),
        lambda runner: qemu_read.list_vms(runner, spec, vm_dir),
    )


async def list_vms(
    fleet: FleetCore,
    ref: HostRef | None = None,
    *,
    status: str = "all",
    arch: str | None = None,
    filter_name: str | None = None,
    vm_dir: str | None = None,
) -> ListVmsData:
    """VMs of one host (ref.host given) or of every inventory host concurrently (each_host)."""
    if status not in ("running", "stopped", "paused", "all"):
        raise InvalidInput(f"status {status!r} is not one of running, stopped, paused, all")
    want_arch = validation.arch(arch)
    needle = validation.substring_filter(filter_name)
    if vm_dir is not None:
        validation.abs_path(vm_dir, "vm_dir")
    specs, answers, errors = await across_hosts(fleet, ref, lambda s: _list_one(fleet, s, vm_dir), "listing its VMs")
    vms = [v for _, found in answers for v in found if _matches(v, status, want_arch, needle)]  # type: ignore[arg-type]
    return ListVmsData(host=", ".join(s.name for s in specs), vm_count=len(vms), vms=vms, errors=errors)


async def get_vm_info(fleet: FleetCore, name: str, ref: HostRef | None = None, vm_dir: str | None = None) -> VmDetail:
    validation.vm_name(name)
    if vm_dir is not None:
        validation.abs_path(vm_dir, "vm_dir")
    spec = fleet.resolve(ref)
    return await with_backend(
        fleet,
        spec,
        lambda runner: describe_domain(runner, spec, name, fleet.sessions(spec)),
        lambda runner: qemu_read.describe_vm(runner, spec, name, vm_dir),
    )
