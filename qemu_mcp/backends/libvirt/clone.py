"""Clone on a libvirt host: the source's persistent XML (read by UUID), rewritten for the clone
(name, UUID, new MACs, disk paths, qcow2 driver, no NVRAM path so libvirt makes the clone's own
from the template, no seed CD-ROM or Ignition of the source's), with its own identity (issue 11):
its own seed CD-ROM when cloud_init is given, a new port and MAC for the SSH-forwarded user-mode
NIC in <qemu:commandline>, its own serial log, and a <metadata> list of exactly the files the clone
made (its disks, its seed) and its facts, so delete removes those and nothing of the source's.
Defined under create's metadata markers: 'creating' first (undone by undefine), 'created' last."""

from __future__ import annotations

import re

from lxml import etree

from qemu_mcp.backends.clone_plan import ClonePlan, is_seed
from qemu_mcp.backends.job import Job, Undo
from qemu_mcp.backends.libvirt import metadata, netxml, provision, virsh
from qemu_mcp.backends.libvirt.manage import batch_check
from qemu_mcp.backends.provision import new_mac
from qemu_mcp.config import HostSpec
from qemu_mcp.errors import NotFound

_HOSTFWD = re.compile(r"(hostfwd=tcp:[0-9.]*:)[0-9]+-")
_MAC = re.compile(r"((?:^|,)mac=)[0-9A-Fa-f:]{17}")
_PARSER = etree.XMLParser(resolve_entities=False, no_network=True, huge_tree=False, remove_blank_text=True)


def clone_xml(source_xml: str, plan: ClonePlan, state: str, macs: list[str]) -> str:
    """The clone's XML; `macs` (one per interface, in order, then one for a forwarded user-mode NIC
    in <qemu:commandline>) are the clone's new addresses."""
    root = etree.fromstring(source_xml.encode(), _PARSER)
    for tag, value in (("name", plan.name), ("uuid", plan.uuid)):
        node = root.find(tag)
        if node is None:
            node = etree.SubElement(root, tag)
        node.text = value
    interfaces = list(root.iterfind("devices/interface"))
    for interface, mac in zip(interfaces, macs, strict=False):
        node = interface.find("mac")
        if node is None:
            node = etree.SubElement(interface, "mac")
        node.set("address", mac)
    _disks(root, plan)
    for nvram in root.iterfind("os/nvram"):
        nvram.text = None  # libvirt makes <name>_VARS.fd from the template
    for sysinfo in root.findall("sysinfo[@type='fwcfg']"):
        root.remove(sysinfo)  # the source's Ignition file: the clone's disk was provisioned already
    for old in root.findall("metadata"):
        root.remove(old)
    for node in root.iterfind("devices/graphics"):
        if node.get("port") not in (None, "-1"):
            node.set("autoport", "yes")
            del node.attrib["port"]
    forward = _forward(root, plan.forward_port, macs[len(interfaces)] if len(macs) > len(interfaces) else None)
    log = _serial_log(root, plan.name)
    metadata.add(root, state, recorded(plan, forward, log))
    return etree.tostring(root, encoding="unicode")


def _disks(root: etree._Element, plan: ClonePlan) -> None:
    """The clone's disks at their new paths (qcow2, no backing chain: libvirt reads it), no seed of
    the source's; the clone's own seed when it has one."""
    devices = root.find("devices")
    for disk in list(root.iterfind("devices/disk")):
        source = disk.find("source")
        path = source.get("file") if source is not None else None
        if disk.get("device") == "cdrom" and is_seed(path):
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
    if plan.new_seed is not None and devices is not None:
        provision.add_seed(devices, plan.new_seed)


def _forward(root: etree._Element, port: int, mac: str | None) -> int | None:
    """The <qemu:commandline> user-mode NIC with its SSH forward: the clone's port and MAC. Returns
    the port when the source has such a forward (None: nothing to change)."""
    if netxml.forward_port(root) is None:
        return None
    if not port or mac is None:
        raise ValueError("a clone of a VM with an SSH forward needs a new port and MAC")
    for arg in root.iterfind(f"{{{netxml.QEMU_NS}}}commandline/{{{netxml.QEMU_NS}}}arg"):
        value = arg.get("value", "")
        value = _HOSTFWD.sub(lambda m: f"{m.group(1)}{port}-", value)
        value = _MAC.sub(lambda m: f"{m.group(1)}{mac}", value)
        arg.set("value", value)
    return port


def _serial_log(root: etree._Element, name: str) -> str | None:
    """The serial console's log (virtlogd) at the clone's own path; None if the source keeps none."""
    logs = list(root.iterfind("devices/serial/log")) + list(root.iterfind("devices/console/log"))
    if not logs:
        return None
    path = provision.serial_log_path(name)
    for log in logs:
        log.set("file", path)
    return path


def recorded(plan: ClonePlan, forward: int | None, serial_log: str | None) -> metadata.Created:
    """What the clone's <metadata> lists: the files the clone made (its disks, its seed), which
    delete removes, and its facts (SSH forward, serial log). Never the source's disks (a linked
    clone's backing files)."""
    created = metadata.Created()
    for disk in plan.disks:
        created = created.with_file(metadata.DISK, disk.path)
    if plan.new_seed is not None:
        created = created.with_file(metadata.SEED, plan.new_seed)
    for tag, attrs in provision.metadata_facts(
        seed=None, ignition=None, forward=forward, forward_via=netxml.FORWARD_VIA, serial_log=serial_log
    ):
        created = created.with_fact(tag, attrs)
    return created


class LibvirtCloner:
    def __init__(self, spec: HostSpec) -> None:
        self.spec = spec
        self.source_xml = ""
        self.macs: list[str] = []
        self.forward: int | None = None  # the clone's SSH-forward port, when the source has a forward

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
        forwarded = "hostfwd=" in result.stdout  # a user-mode NIC in <qemu:commandline> (netxml)
        self.forward = plan.forward_port if forwarded else None
        self.macs = [new_mac() for _ in range(result.stdout.count("<interface ") + int(forwarded))]
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
