"""Parse libvirt domain XML (`virsh dumpxml NAME`) into a DomainDefinition.

Every element is optional here: the test driver, hand-written XML and inactive vs live
dumps differ in what they carry, and a missing element must give None/[] rather than fail.
"""

from __future__ import annotations

from decimal import Decimal, InvalidOperation

from lxml import etree
from pydantic import BaseModel, ConfigDict, Field

from qemu_mcp.models import DiskInfo, GraphicsInfo, NicInfo

# No entity expansion, no network: the XML may come from a remote host.
_PARSER = etree.XMLParser(resolve_entities=False, no_network=True, huge_tree=False)

# libvirt's memory units (formatdomain "Memory Allocation"; virScaleInteger), bytes per unit.
# Matched case-insensitively like libvirt: KB/MB/... are powers of 1000, k/KiB/M/MiB/...
# powers of 1024; no unit means KiB.
UNITS = {
    "b": 1, "byte": 1, "bytes": 1,
    "kb": 1000, "k": 1024, "kib": 1024,
    "mb": 1000**2, "m": 1024**2, "mib": 1024**2,
    "gb": 1000**3, "g": 1024**3, "gib": 1024**3,
    "tb": 1000**4, "t": 1024**4, "tib": 1024**4,
    "pb": 1000**5, "p": 1024**5, "pib": 1024**5,
    "eb": 1000**6, "e": 1024**6, "eib": 1024**6,
}  # fmt: skip
_MIB = 1024**2


class DomainDefinition(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str
    uuid: str | None = None
    domain_type: str | None = Field(None, description="qemu (TCG), kvm, or test for the test driver")
    arch: str | None = None
    machine: str | None = None
    vcpus: int | None = Field(None, description="Current vCPUs: <vcpu current=...>, else <vcpu>")
    max_vcpus: int | None = None
    memory_mib: int | None = Field(None, description="<currentMemory>, else <memory>")
    max_memory_mib: int | None = Field(None, description="<memory>")
    disks: list[DiskInfo] = Field(default_factory=list)
    nics: list[NicInfo] = Field(default_factory=list)
    graphics: list[GraphicsInfo] = Field(default_factory=list)
    os_loader: str | None = None
    nvram: str | None = None
    title: str | None = None
    description: str | None = None


def memory_to_mib(value: str, unit: str | None = None) -> int:
    """libvirt memory value in `unit` (default KiB) -> whole MiB, rounded down."""
    factor = UNITS.get((unit or "KiB").strip().lower())
    if factor is None:
        raise ValueError(f"unknown memory unit {unit!r}")
    try:
        amount = Decimal(value.strip())
    except InvalidOperation:
        raise ValueError(f"memory value is not a number: {value!r}") from None
    return int(amount * factor // _MIB)


def _text(node: etree._Element | None) -> str | None:
    if node is None or node.text is None:
        return None
    return node.text.strip() or None


def _int(value: str | None) -> int | None:
    try:
        return int(value) if value is not None else None
    except ValueError:
        return None


def _memory(root: etree._Element, tag: str) -> int | None:
    node = root.find(tag)
    text = _text(node)
    if node is None or text is None:
        return None
    return memory_to_mib(text, node.get("unit"))


def _disk(node: etree._Element) -> DiskInfo | None:
    target = node.find("target")
    if target is None or not target.get("dev"):
        return None  # libvirt requires <target dev>; skip rather than invent a name
    source = node.find("source")
    path = None
    if source is not None:
        # file= (type file), dev= (block), name= (network), volume= (pool volume)
        path = source.get("file") or source.get("dev") or source.get("name") or source.get("volume")
    driver = node.find("driver")
    return DiskInfo(
        target=target.get("dev", ""),
        device=node.get("device", "disk"),
        path=path,
        format=driver.get("type") if driver is not None else None,
        bus=target.get("bus"),
        readonly=node.find("readonly") is not None,
    )


def _nic(node: etree._Element) -> NicInfo:
    source = node.find("source")
    src = None
    if source is not None:
        src = source.get("network") or source.get("bridge") or source.get("dev")
    mac, model, target = node.find("mac"), node.find("model"), node.find("target")
    return NicInfo(
        mac=mac.get("address") if mac is not None else None,
        type=node.get("type", "unknown"),
        source=src,
        model=model.get("type") if model is not None else None,
        target=target.get("dev") if target is not None else None,
    )


def _graphics(node: etree._Element) -> GraphicsInfo:
    port = _int(node.get("port"))
    listen = node.get("listen")
    if listen is None:  # newer style: only <listen type='address' address=.../>
        child = node.find("listen")
        listen = child.get("address") if child is not None else None
    return GraphicsInfo(
        type=node.get("type", "unknown"),
        port=port if port is not None and port >= 0 else None,
        listen=listen,
        autoport=node.get("autoport") == "yes",
    )


def parse_domain_xml(xml: str) -> DomainDefinition:
    """Parse `virsh dumpxml` output. ValueError if it is not well-formed <domain> XML."""
    return domain_definition(domain_root(xml))


def domain_root(xml: str) -> etree._Element:
    """The <domain> element of `virsh dumpxml` output (parse once, read it several ways)."""
    try:
        root = etree.fromstring(xml.encode(), _PARSER)
    except etree.XMLSyntaxError as exc:
        raise ValueError(f"domain XML is not well-formed: {exc}") from None
    if root is None or root.tag != "domain":
        tag = None if root is None else root.tag
        raise ValueError(f"expected a <domain> XML document, got <{tag}>")
    return root


def domain_definition(root: etree._Element) -> DomainDefinition:
    # Not stripped: libvirt keeps leading/trailing spaces in names (" web" is a valid name).
    name_node = root.find("name")
    name = name_node.text if name_node is not None else None
    if not name:
        raise ValueError("domain XML has no <name>")

    vcpu = root.find("vcpu")
    max_vcpus = _int(_text(vcpu))
    current = _int(vcpu.get("current")) if vcpu is not None else None
    os_type = root.find("os/type")
    max_mib = _memory(root, "memory")
    cur_mib = _memory(root, "currentMemory")
    devices = root.find("devices")
    disks = [] if devices is None else [d for d in map(_disk, devices.findall("disk")) if d]

    return DomainDefinition(
        name=name,
        uuid=_text(root.find("uuid")),
        domain_type=root.get("type"),
        arch=os_type.get("arch") if os_type is not None else None,
        machine=os_type.get("machine") if os_type is not None else None,
        vcpus=current if current is not None else max_vcpus,
        max_vcpus=max_vcpus,
        memory_mib=cur_mib if cur_mib is not None else max_mib,
        max_memory_mib=max_mib,
        disks=disks,
        nics=[] if devices is None else [_nic(n) for n in devices.findall("interface")],
        graphics=[] if devices is None else [_graphics(g) for g in devices.findall("graphics")],
        os_loader=_text(root.find("os/loader")),
        nvram=_text(root.find("os/nvram")),
        title=_text(root.find("title")),
        description=_text(root.find("description")),
    )
