"""Parse libvirt's snapshot XML (`virsh snapshot-dumpxml`) and `virsh snapshot-info`.

    <domainsnapshot>
      <name>s1</name> <description>...</description> <state>shutoff</state>
      <parent><name>s0</name></parent> <creationTime>1796044382</creationTime>
      <memory snapshot='no|internal|external'/>
      <disks><disk name='vda' snapshot='internal|external|no' type='file'>
               <driver type='qcow2'/> <source file='/overlay'/></disk></disks>
      <domain ...> the VM's definition when the snapshot was taken </domain>
    </domainsnapshot>

For an external snapshot, the disk's <source> is the overlay the VM went on writing to, and the
inner <domain> still names the image it was taken of (the overlay's backing file).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from lxml import etree

from qemu_mcp.parsers.dominfo import flag, parse_dominfo

# No entity expansion, no network: the XML comes from a host.
_PARSER = etree.XMLParser(resolve_entities=False, no_network=True, huge_tree=False)


@dataclass(frozen=True)
class SnapshotDisk:
    target: str  # vda
    snapshot: str  # internal, external or no
    source: str | None = None  # external: the overlay file
    format: str | None = None  # external: the overlay's format


@dataclass(frozen=True)
class DomainDisk:
    """A disk of the inner <domain> (the VM as it was): what an external snapshot was taken of."""

    target: str
    device: str
    source: str | None
    format: str | None


@dataclass(frozen=True)
class LibvirtSnapshot:
    name: str
    description: str | None
    state: str | None  # the VM's state then: running, paused, shutoff, disk-snapshot
    parent: str | None
    created: str | None  # ISO 8601, UTC
    memory: str  # no, internal or external
    disks: tuple[SnapshotDisk, ...]
    domain_disks: tuple[DomainDisk, ...]
    domain_xml: str | None  # the inner <domain> as XML text

    @property
    def external(self) -> bool:
        return any(d.snapshot == "external" for d in self.disks) or self.memory == "external"

    @property
    def saved_disks(self) -> list[str]:
        return [d.target for d in self.disks if d.snapshot in ("internal", "external")]


def _created(value: str | None) -> str | None:
    if not value or not value.strip().isdigit():
        return None
    return datetime.fromtimestamp(int(value), UTC).isoformat()


def _disks(root: etree._Element) -> tuple[SnapshotDisk, ...]:
    disks = []
    for node in root.iterfind("disks/disk"):
        source, driver = node.find("source"), node.find("driver")
        disks.append(
            SnapshotDisk(
                target=node.get("name", ""),
                snapshot=node.get("snapshot", "no"),
                source=source.get("file") if source is not None else None,
                format=driver.get("type") if driver is not None else None,
            )
        )
    return tuple(disks)


def _domain_disks(domain: etree._Element | None) -> tuple[DomainDisk, ...]:
    if domain is None:
        return ()
    disks = []
    for node in domain.iterfind("devices/disk"):
        target, source, driver = node.find("target"), node.find("source"), node.find("driver")
        disks.append(
            DomainDisk(
                target=target.get("dev", "") if target is not None else "",
                device=node.get("device", "disk"),
                source=source.get("file") if source is not None else None,
                format=driver.get("type") if driver is not None else None,
            )
        )
    return tuple(disks)


def parse_snapshot_xml(xml: str) -> LibvirtSnapshot:
    """ValueError when the text is not a <domainsnapshot> document."""
    try:
        root = etree.fromstring(xml.strip().encode(), _PARSER)
    except etree.XMLSyntaxError as e:
        raise ValueError(f"not snapshot XML: {e}") from None
    if root.tag != "domainsnapshot" or not root.findtext("name"):
        raise ValueError(f"not snapshot XML: root <{root.tag}>")
    memory = root.find("memory")
    domain = root.find("domain")
    return LibvirtSnapshot(
        name=root.findtext("name") or "",
        description=root.findtext("description"),
        state=root.findtext("state"),
        parent=root.findtext("parent/name"),
        created=_created(root.findtext("creationTime")),
        memory=memory.get("snapshot", "no") if memory is not None else "no",
        disks=_disks(root),
        domain_disks=_domain_disks(domain),
        domain_xml=etree.tostring(domain, encoding="unicode") if domain is not None else None,
    )


def parse_snapshot_info(text: str) -> tuple[bool | None, str | None]:
    """(is it the current snapshot, its location) from `virsh snapshot-info`'s Key: value lines."""
    info = parse_dominfo(text)
    return flag(info, "current"), info.get("location")
