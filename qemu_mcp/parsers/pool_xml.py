"""Parse `virsh pool-dumpxml` (storage pool XML) and `virsh vol-dumpxml` (volume XML). Pure.

Sizes are in bytes whatever unit the XML names (libvirt prints unit='bytes'); an inactive pool
reports 0 for all three. A volume's <backingStore> is the image under it (qcow2 overlays).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from lxml import etree

from qemu_mcp.parsers.libvirt_xml import attr, name_of, parse_root, size_bytes, text


@dataclass(frozen=True)
class PoolDefinition:
    name: str
    uuid: str | None
    type: str | None
    target_path: str | None
    capacity: int | None
    allocation: int | None
    available: int | None


@dataclass(frozen=True)
class VolumeDefinition:
    name: str
    key: str | None
    type: str | None
    path: str | None
    format: str | None
    capacity: int | None
    allocation: int | None
    backing_path: str | None
    backing_format: str | None


def _shared(root: etree._Element) -> dict[str, Any]:
    """What pool and volume XML both carry: name, type, capacity, allocation."""
    sizes = {key: size_bytes(root.find(key)) for key in ("capacity", "allocation")}
    return {"name": name_of(root), "type": root.get("type"), **sizes}


def parse_pool_xml(xml: str) -> PoolDefinition:
    root = parse_root(xml, "pool")
    return PoolDefinition(
        **_shared(root),
        uuid=text(root.find("uuid")),
        target_path=text(root.find("target/path")),
        available=size_bytes(root.find("available")),
    )


def parse_volume_xml(xml: str) -> VolumeDefinition:
    root = parse_root(xml, "volume")
    return VolumeDefinition(
        **_shared(root),
        key=text(root.find("key")),
        path=text(root.find("target/path")),
        format=attr(root, "target/format", "type"),
        backing_path=text(root.find("backingStore/path")),
        backing_format=attr(root, "backingStore/format", "type"),
    )
