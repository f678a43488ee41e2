"""manage_vm's image options (issue 11), checked before any host is touched: create's `image` and
`linked`, and clone's `source`."""

from __future__ import annotations

from typing import Any

from qemu_mcp import sizes
from qemu_mcp.errors import InvalidInput
from qemu_mcp.host import images


def image_options(image: str | None, linked: bool | None) -> dict[str, Any]:
    """create: `image` (an absolute host path, or a bare name in the host's image_dir) and `linked`."""
    if image is None:
        if linked is not None:
            raise InvalidInput("linked applies to create only with image=... (or to clone)")
        return {}
    if not isinstance(image, str) or not image:
        raise InvalidInput("image must be an absolute path on the host or a file name in its image_dir")
    checked = sizes.image_path(image, "image") if "/" in image else images.image_name(image)
    if checked.lower().endswith(".iso"):
        raise InvalidInput(f"image {image!r} is an ISO: attach it with iso=..., images are disks (qcow2 or raw)")
    return {"image": checked, "linked": True if linked is None else bool(linked)}
