"""delete never pulls a disk from under other VMs (issue 11): a VM whose disk image is the backing
file of other VMs' disks (linked clones, VMs created from it with linked=true) is not deleted; the
error names those VMs. One read on the host: every VM's disks with their backing chains."""

from __future__ import annotations

from qemu_mcp.errors import Conflict
from qemu_mcp.host import images
from qemu_mcp.ops.manage.call import Call
from qemu_mcp.parsers.image_list import ImageListing, overlay_users, parse_image_listing
from qemu_mcp.parsers.sections import new_marker


async def read_chains(call: Call) -> ImageListing:
    spec, kind = call.spec, call.backend.kind
    where = spec.libvirt_uri if kind == "libvirt" else (call.req.vm_dir or spec.vm_dir)
    marker = new_marker()
    purpose = "reading every VM's disks and their backing chains (overlays)"
    result = await call.job.read(purpose, images.list_argv(spec.images, marker, kind, where))
    if result.exit_status != 0:
        raise call.job.step_failed(purpose, result)
    return parse_image_listing(result.stdout, marker)


async def refuse_if_based_on(call: Call, name: str, paths: list[str]) -> None:
    """Conflict when another VM's disk has one of `paths` in its backing chain."""
    if not paths:
        return
    users = overlay_users(await read_chains(call))
    based = {p: [u for u in users.get(p, []) if u != name] for p in paths}
    based = {p: vms for p, vms in based.items() if vms}
    if based:
        which = "; ".join(f"{p} is the base of {', '.join(vms)}" for p, vms in based.items())
        raise Conflict(
            f"VM '{name}' on host '{call.spec.name}' is not deleted: other VMs' disks are overlays on its disks "
            f"({which}); delete those VMs first (or recreate them with linked=false)"
        )
