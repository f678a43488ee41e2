"""Parse `qemu-img info --output=json`."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class ImageFacts:
    format: str | None
    virtual_size: int
    actual_size: int | None  # bytes allocated on the host
    backing_file: str | None  # as the image names it (may be relative to the image)
    full_backing_file: str | None  # resolved by qemu-img
    backing_format: str | None


def _info(stdout: str) -> dict[str, Any]:
    try:
        data = json.loads(stdout)
        size = data["virtual-size"]
    except (ValueError, KeyError, TypeError):
        raise ValueError(f"not qemu-img info JSON: {stdout[:200]!r}") from None
    if not isinstance(size, int) or size < 0:
        raise ValueError(f"qemu-img reported an odd virtual-size: {size!r}")
    return dict(data)


def virtual_size(stdout: str) -> int:
    """The size the guest sees, in bytes. ValueError if the output is not qemu-img's JSON."""
    return int(_info(stdout)["virtual-size"])


def _str(data: dict[str, Any], key: str) -> str | None:
    value = data.get(key)
    return value if isinstance(value, str) else None


def image_facts(stdout: str) -> ImageFacts:
    """Format, sizes and backing file of one image. ValueError if the output is not qemu-img's JSON."""
    data = _info(stdout)
    actual = data.get("actual-size")
    return ImageFacts(
        format=_str(data, "format"),
        virtual_size=int(data["virtual-size"]),
        actual_size=actual if isinstance(actual, int) else None,
        backing_file=_str(data, "backing-filename"),
        full_backing_file=_str(data, "full-backing-filename"),
        backing_format=_str(data, "backing-filename-format"),
    )
