"""Parse `qemu-img info --output=json`."""

from __future__ import annotations

import json


def virtual_size(stdout: str) -> int:
    """The size the guest sees, in bytes. ValueError if the output is not qemu-img's JSON."""
    try:
        data = json.loads(stdout)
        size = data["virtual-size"]
    except (ValueError, KeyError, TypeError):
        raise ValueError(f"not qemu-img info JSON: {stdout[:200]!r}") from None
    if not isinstance(size, int) or size < 0:
        raise ValueError(f"qemu-img reported an odd virtual-size: {size!r}")
    return size
