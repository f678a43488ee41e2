"""Parse the image-directory listing script's output (host/images.py LIST_SCRIPT).

Tagged sections: `dir present|missing`; `image FMT` / `disk FMT` (next line: the path), each
followed by `info` (qemu-img info --backing-chain JSON: a list, the image first) or `info-error`;
`vm NAME` starts the disks of one VM.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from qemu_mcp.parsers.sections import tagged_sections


@dataclass
class ChainEntry:
    path: str
    format: str | None
    virtual_size: int | None
    actual_size: int | None


@dataclass
class Listed:
    path: str
    format: str
    chain: list[ChainEntry] = field(default_factory=list)  # the image first, then its backing images
    error: str | None = None


@dataclass
class ImageListing:
    dir_present: bool = False
    images: list[Listed] = field(default_factory=list)
    vm_disks: dict[str, list[Listed]] = field(default_factory=dict)


def _int(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def chain_of(text: str) -> list[ChainEntry]:
    """qemu-img info --backing-chain --output=json: a JSON list (one object per image)."""
    data = json.loads(text)
    if isinstance(data, dict):
        data = [data]
    if not isinstance(data, list):
        raise ValueError("not a qemu-img info list")
    out = []
    for item in data:
        if not isinstance(item, dict) or not isinstance(item.get("filename"), str):
            raise ValueError("a qemu-img info entry without a filename")
        fmt = item.get("format")
        out.append(ChainEntry(item["filename"], fmt if isinstance(fmt, str) else None,
                              _int(item.get("virtual-size")), _int(item.get("actual-size"))))  # fmt: skip
    return out


def parse_image_listing(stdout: str, marker: str) -> ImageListing:
    out = ImageListing()
    current: list[Listed] | None = None
    for s in tagged_sections(stdout, marker):
        if s.tag == "dir":
            out.dir_present = s.rest.strip() == "present"
        elif s.tag == "vm":
            current = out.vm_disks.setdefault(s.rest, [])
        elif s.tag in ("image", "disk") and s.lines:
            entry = Listed(path=s.lines[0], format=s.rest.strip())
            (out.images if s.tag == "image" else current if current is not None else []).append(entry)
        elif s.tag in ("info", "info-error"):
            target = _last(out, current)
            if target is None:
                continue
            if s.tag == "info-error":
                target.error = " ".join(s.text.split())[:300]
                continue
            try:
                target.chain = chain_of(s.text)
            except ValueError as e:
                target.error = f"unreadable qemu-img output: {e}"
    return out


def _last(out: ImageListing, current: list[Listed] | None) -> Listed | None:
    """The entry an info section belongs to: the last one printed."""
    if current is not None:
        return current[-1] if current else None
    return out.images[-1] if out.images else None


def overlay_users(listing: ImageListing) -> dict[str, list[str]]:
    """path -> the VMs whose disks have it below them in their backing chain."""
    users: dict[str, list[str]] = {}
    for vm, disks in listing.vm_disks.items():
        for disk in disks:
            for link in disk.chain[1:]:
                names = users.setdefault(link.path, [])
                if vm not in names:
                    names.append(vm)
    return users
