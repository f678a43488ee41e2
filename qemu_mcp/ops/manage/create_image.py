"""create from a base image (issue 11): resolve and read the base, size the new disk, and the
commands that make it: a qcow2 overlay (`qemu-img create -F <fmt> -b <base>`, always with -F) or a
full copy (`qemu-img convert -O qcow2`, grown with `qemu-img resize` when asked for more)."""

from __future__ import annotations

import json
import posixpath
from dataclasses import replace

from qemu_mcp import sizes
from qemu_mcp.backends.base import CreatePlan
from qemu_mcp.backends.job import Job
from qemu_mcp.errors import InvalidInput, NotFound
from qemu_mcp.host import images
from qemu_mcp.ops.manage.call import Call

EXTENSION_FORMAT = {".qcow2": "qcow2", ".raw": "raw"}  # extensions that promise a format


async def read_base(job: Job, path: str) -> tuple[str, int]:
    """(format, virtual size) of a base image on the host, read with qemu-img info."""
    purpose = f"reading the base image {path}"
    result = await job.read(purpose, images.probe(path))
    if result.exit_status != 0:
        if "No such file" in result.stderr:
            raise NotFound(f"image {path} does not exist on host '{job.host}': upload it with upload_image "
                           "(list_images shows the images there) or give its absolute path")  # fmt: skip
        raise job.step_failed(purpose, result)
    try:
        info = json.loads(result.stdout)
        fmt, size = info["format"], int(info["virtual-size"])
    except (ValueError, KeyError, TypeError):
        raise InvalidInput(f"qemu-img did not describe {path} on host '{job.host}'") from None
    if fmt not in ("qcow2", "raw"):
        raise InvalidInput(f"image {path} on host '{job.host}' is {fmt}: only qcow2 and raw images can be a base")
    promised = EXTENSION_FORMAT.get(posixpath.splitext(path)[1].lower())
    if promised is not None and promised != fmt:
        raise InvalidInput(f"image {path} on host '{job.host}' is {fmt} but named .{promised}: rename it")
    return fmt, size


def base_path(call: Call) -> str | None:
    """create's `image` as a host path (a bare name is in the host's image_dir)."""
    return None if call.req.image is None else images.resolve(call.req.image, call.spec.images)


async def with_image(call: Call, plan: CreatePlan) -> CreatePlan:
    """The plan with its base image read and the disk sized (never smaller than the base)."""
    req, path = call.req, base_path(call)
    if path is None:
        return plan
    if plan.disk_format != "qcow2":
        raise InvalidInput(
            f"a disk made from an image is qcow2: give a disk path ending in .qcow2, not {plan.disk_path}"
        )
    fmt, base_size = await read_base(call.job, path)
    wanted = req.disk.size_bytes if req.disk is not None else None
    if wanted is not None and wanted < base_size:
        raise InvalidInput(
            f"disk size {sizes.human(wanted)} is smaller than the image {path} ({sizes.human(base_size)}, "
            f"{base_size} bytes): a disk made from it can only be as large or larger; omit size or give more"
        )
    return replace(plan, image=path, image_format=fmt, image_size=base_size, linked=req.linked,
                   disk_size=max(wanted or base_size, base_size))  # fmt: skip


def disk_steps(plan: CreatePlan) -> list[tuple[str, list[str]]]:
    """(purpose, argv) that fill the reserved disk path from the base image."""
    assert plan.image and plan.image_format and plan.image_size is not None
    path, base, fmt = plan.disk_path, plan.image, plan.image_format
    grow = plan.disk_size if plan.disk_size > plan.image_size else None
    if plan.linked:
        return [(f"creating {path}, a qcow2 overlay on {base}", images.overlay(path, base, fmt, grow))]
    steps = [(f"copying {base} to {path} (qcow2)", images.convert(base, fmt, path))]
    if grow is not None:
        steps.append((f"growing {path} to {sizes.human(grow)}", images.resize(path, grow)))
    return steps


def image_words(plan: CreatePlan) -> str:
    if plan.image is None:
        return ""
    return f", from {plan.image} ({'linked overlay' if plan.linked else 'full copy'})"
