"""Clone on a libvirt host: the source's persistent XML (read by UUID), rewritten for the clone
(name, UUID, no MACs so libvirt makes new ones, disk paths, qcow2 driver, no seed CD-ROM, no NVRAM
path so libvirt makes the clone's own from the template), defined under create's metadata markers:
'creating' first (undone by undefine), 'created' at the end."""

from __future__ import annotations

from lxml import etree

from qemu_mcp.backends.clone_plan import ClonePlan, is_seed, new_mac
from qemu_mcp.backends.job import Job, Undo
from qemu_mcp.backends.libvirt import metadata, virsh
from qemu_mcp.backends.libvirt.manage import batch_check
from qemu_mcp.config import HostSpec
from qemu_mcp.errors import NotFound

_PARSER = etree.XMLParser(resolve_entities=False, no_network=True, huge_tree=False, remove_blank_text=True)


def clone_xml(source_xml: str, plan: ClonePlan, state: str, macs: list[str]) -> str:
    """The clone's XML; `macs` (one per interface, in order) are the clone's new addresses."""
    root = etree.fromstring(source_xml.encode(), _PARSER)
    for tag, value in (("name", plan.name), ("uuid", plan.uuid)):
        node = root.find(tag)
        if node is None:
            node = etree.SubElement(root, tag)
        node.text = value
    for interface, mac in zip(root.iterfind("devices/interface"), macs, strict=False):
        node = interface.find("mac")
        if node is None:
            node = etree.SubElement(interface, "mac")
        node.set("address", mac)
    for disk in list(root.iterfind("devices/disk")):
        source = disk.find("source")
        path = source.get("file") if source is not None else None
        if disk.get("device") == "cdrom" and is_seed(path):
            devices = disk.getparent()
            if devices is not None:
                devices.remove(disk)
            continue
        new = plan.new_path(path)
        if new is None or source is None:
            continue
        source.set("file", new)
        driver = disk.find("driver")
        if driver is not None:
            driver.set("type", "qcow2")
        for chain in disk.findall("backingStore"):
            disk.remove(chain)
    for nvram in root.iterfind("os/nvram"):
        nvram.text = None  # libvirt makes <name>_VARS.fd from the template
    for old in root.findall("metadata"):
        root.remove(old)
    for node in root.iterfind("devices/graphics"):
        if node.get("port") not in (None, "-1"):
            node.set("autoport", "yes")
            del node.attrib["port"]
    metadata.add(root, state)
    return etree.tostring(root, encoding="unicode")


class LibvirtCloner:
    def __init__(self, spec: HostSpec) -> None:
        self.spec = spec
        self.source_xml = ""
        self.macs: list[str] = []

    def _virsh(self, command: list[str]) -> list[str]:
        return virsh.virsh(self.spec.libvirt_uri, [command])

    async def _define(self, job: Job, purpose: str, xml: str, undo: Undo | None = None) -> None:
        check = batch_check(job, self.spec, purpose)
        await job.change(purpose, self._virsh(virsh.define_from_stdin()), stdin=xml, undo=undo, check=check)

    async def claim(self, job: Job, plan: ClonePlan) -> str:
        purpose = f"reading the definition of '{plan.source.name}'"
        result = await job.read(purpose, self._virsh(virsh.dumpxml_inactive(plan.source.uuid)))
        batch_check(job, self.spec, purpose)(result)
        if not result.stdout.strip():
            raise NotFound(f"VM '{plan.source.name}' on host '{self.spec.name}' disappeared")
        self.source_xml = result.stdout
        self.macs = [new_mac() for _ in range(result.stdout.count("<interface "))]
        xml = clone_xml(self.source_xml, plan, metadata.CREATING, self.macs)
        undo = Undo(
            f"removing the definition of '{plan.name}'", self._virsh(virsh.undefine(plan.uuid)),
            probe=self._virsh(virsh.dominfo(plan.uuid)), leftover=f"the domain '{plan.name}' (uuid {plan.uuid})",
        )  # fmt: skip
        await self._define(job, f"defining '{plan.name}' (marked as being created)", xml, undo)
        return xml

    async def define(self, job: Job, plan: ClonePlan) -> str:
        xml = clone_xml(self.source_xml, plan, metadata.CREATED, self.macs)
        await self._define(job, f"defining '{plan.name}'", xml)
        return xml
