"""What each disk of a domain reads, from `virsh dumpxml`: which storage pools' volumes a VM uses. Pure.

A disk names its image by path (<source file=...> or dev=), or as a pool volume (<source
pool=... volume=...>, disk type 'volume'); a running domain's XML also lists the backing chain
(<backingStore><source file=.../>...), which an inactive one does not.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from lxml import etree

from qemu_mcp.parsers.libvirt_xml import name_of, parse_root

MAX_CHAIN = 64  # backing chains are short; a deeper one is cut rather than walked forever


@dataclass(frozen=True)
class DiskSource:
    target: str | None
    device: str
    path: str | None
    pool: str | None = None
    volume: str | None = None
    backing: tuple[str, ...] = ()


@dataclass
class DomainDisks:
    name: str
    disks: list[DiskSource] = field(default_factory=list)


def _path(source: etree._Element | None) -> str | None:
    return None if source is None else source.get("file") or source.get("dev")


def _chain(disk: etree._Element) -> tuple[str, ...]:
    paths: list[str] = []
    node = disk.find("backingStore")
    while node is not None and len(paths) < MAX_CHAIN:
        path = _path(node.find("source"))
        if path:
            paths.append(path)
        node = node.find("backingStore")
    return tuple(paths)


def _disk(disk: etree._Element) -> DiskSource:
    source = disk.find("source")
    target = disk.find("target")
    return DiskSource(
        target=target.get("dev") if target is not None else None,
        device=disk.get("device", "disk"),
        path=_path(source),
        pool=source.get("pool") if source is not None else None,
        volume=source.get("volume") if source is not None else None,
        backing=_chain(disk),
    )


def parse_disk_sources(xml: str) -> DomainDisks:
    root = parse_root(xml, "domain")
    return DomainDisks(name=name_of(root), disks=[_disk(d) for d in root.findall("devices/disk")])
