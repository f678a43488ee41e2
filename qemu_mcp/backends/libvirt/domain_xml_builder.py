"""Build libvirt domain XML for a new VM with lxml (never by string formatting). Pure: no I/O.

What a created VM gets (issue 3): the arch's usual machine (x86_64: q35, aarch64: virt with
UEFI), KVM when the host offers it for that arch or else TCG, a virtio disk, the ISO as a
CD-ROM booted first, a NIC on libvirt's `default` network (else user-mode), VNC on 127.0.0.1
with autoport, and a serial console.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from lxml import etree

from qemu_mcp.backends.libvirt import metadata, netxml, provision
from qemu_mcp.backends.machines import machine_for

Accel = Literal["kvm", "qemu"]  # libvirt's domain type: qemu = TCG (emulation)

CDROM_TARGET = {"sata": "sda", "scsi": "sda"}
DESCRIPTION = "created by qemu-mcp"


@dataclass(frozen=True)
class Firmware:
    """UEFI: read-only code and the template libvirt copies into the VM's own NVRAM file."""

    code: str
    vars_template: str


@dataclass(frozen=True)
class DomainSpec:
    name: str
    arch: str  # x86_64 or aarch64
    accel: Accel
    memory_mib: int
    vcpus: int
    disk_path: str
    disk_format: str  # qcow2 or raw
    iso: str | None = None
    network: str | None = "default"  # None: user-mode networking
    firmware: Firmware | None = None  # required for aarch64
    uuid: str | None = None  # chosen by qemu-mcp, so the domain is found again even if define times out
    state: str | None = None  # qemu-mcp's create state in <metadata> (backends.libvirt.metadata)
    created: metadata.Created | None = None  # the files qemu-mcp makes for it, recorded there too
    # issue 11: the NIC on a host bridge, or user-mode with a 127.0.0.1:ssh_forward -> guest 22
    bridge: str | None = None
    ssh_forward: int | None = None
    mac: str | None = None
    seed: str | None = None  # NoCloud seed ISO: a read-only CD-ROM on virtio-scsi
    ignition: str | None = None  # Ignition config file, in fw_cfg opt/com.coreos/config
    agent: bool = False  # the guest-agent virtio-serial channel
    serial_log: str | None = None  # the serial console's log file (virtlogd)

    @property
    def machine(self) -> str:
        return machine_for(self.arch).machine


def _sub(parent: etree._Element, tag: str, text: str | None = None, **attrs: str) -> etree._Element:
    el = etree.SubElement(parent, tag, attrs)
    if text is not None:
        el.text = text
    return el


def _recorded(spec: DomainSpec, forward: bool) -> metadata.Created | None:
    """What <metadata> records: the files qemu-mcp makes (disk, seed, Ignition) and the facts (the
    SSH forward, the serial log). None: no list (a domain qemu-mcp did not create)."""
    created = spec.created
    if created is None:
        return None
    for tag, attrs in provision.metadata_facts(
        seed=spec.seed, ignition=spec.ignition, forward=spec.ssh_forward if forward else None,
        forward_via=netxml.FORWARD_VIA, serial_log=spec.serial_log,
    ):  # fmt: skip
        created = created.with_file(tag, attrs["path"]) if tag in metadata.KINDS else created.with_fact(tag, attrs)
    return created


def build_domain_xml(spec: DomainSpec) -> str:
    machine_for(spec.arch)  # ValueError for an arch we do not create
    if spec.arch == "aarch64" and spec.firmware is None:
        raise ValueError("aarch64 guests need UEFI firmware")
    forward = spec.ssh_forward is not None and spec.network is None and spec.bridge is None
    if forward and not spec.mac:
        raise ValueError("a forwarded user-mode NIC needs its MAC address")
    root = etree.Element("domain", type=spec.accel, nsmap={"qemu": netxml.QEMU_NS} if forward else None)
    _sub(root, "name", spec.name)
    if spec.uuid:
        _sub(root, "uuid", spec.uuid)
    _sub(root, "description", DESCRIPTION)
    if spec.state:
        metadata.add(root, spec.state, _recorded(spec, forward))
    _sub(root, "memory", str(spec.memory_mib), unit="MiB")
    _sub(root, "currentMemory", str(spec.memory_mib), unit="MiB")
    _sub(root, "vcpu", str(spec.vcpus), placement="static")

    os_el = _sub(root, "os")
    _sub(os_el, "type", "hvm", arch=spec.arch, machine=spec.machine)
    if spec.firmware is not None:
        _sub(os_el, "loader", spec.firmware.code, readonly="yes", type="pflash")
        _sub(os_el, "nvram", template=spec.firmware.vars_template)

    features = _sub(root, "features")
    _sub(features, "acpi")
    if spec.arch == "x86_64":
        _sub(features, "apic")
    _cpu(root, spec)
    _sub(root, "clock", offset="utc")
    _sub(root, "on_poweroff", "destroy")
    _sub(root, "on_reboot", "restart")
    _sub(root, "on_crash", "destroy")
    _devices(_sub(root, "devices"), spec)
    if spec.ignition:
        provision.add_ignition(root, spec.ignition)
    if forward:
        assert spec.ssh_forward is not None and spec.mac is not None
        netxml.add_forward_commandline(root, spec.arch, spec.ssh_forward, spec.mac)
    return etree.tostring(root, pretty_print=True, encoding="unicode")


def _cpu(root: etree._Element, spec: DomainSpec) -> None:
    if spec.accel == "kvm":
        _sub(root, "cpu", mode="host-passthrough", check="none")
    elif (model := machine_for(spec.arch).tcg_cpu) is not None:
        cpu = _sub(root, "cpu", mode="custom", match="exact", check="none")
        _sub(cpu, "model", model, fallback="forbid")


ROOT_PORTS = 10  # about 6 taken by the devices a new VM has; more would strain x86's I/O port space


def _devices(dev: etree._Element, spec: DomainSpec) -> None:
    # Boot order per device: the ISO (when given) first, then the disk.
    order = 1
    if spec.iso is not None:
        bus = machine_for(spec.arch).cdrom_bus
        if bus == "scsi":
            _sub(dev, "controller", type="scsi", index="0", model="virtio-scsi")
        cdrom = _sub(dev, "disk", type="file", device="cdrom")
        _sub(cdrom, "driver", name="qemu", type="raw")
        _sub(cdrom, "source", file=spec.iso)
        _sub(cdrom, "target", dev=CDROM_TARGET[bus], bus=bus)
        _sub(cdrom, "readonly")
        _sub(cdrom, "boot", order=str(order))
        order += 1

    disk = _sub(dev, "disk", type="file", device="disk")
    _sub(disk, "driver", name="qemu", type=spec.disk_format)
    _sub(disk, "source", file=spec.disk_path)
    _sub(disk, "target", dev="vda", bus="virtio")
    _sub(disk, "boot", order=str(order))

    if spec.seed is not None:
        provision.add_seed(dev, spec.seed)
    if spec.ssh_forward is None or spec.network is not None or spec.bridge is not None:
        netxml.add_interface(dev, network=spec.network, bridge=spec.bridge, mac=spec.mac)

    # aarch64 virt has no PS/2: keyboard and tablet on USB so VNC input works.
    _sub(dev, "controller", type="usb", index="0", model="qemu-xhci")
    _sub(dev, "input", type="tablet", bus="usb")
    if spec.arch == "aarch64":
        _sub(dev, "input", type="keyboard", bus="usb")

    graphics = _sub(dev, "graphics", type="vnc", port="-1", autoport="yes", listen="127.0.0.1")
    _sub(graphics, "listen", type="address", address="127.0.0.1")
    video = _sub(dev, "video")
    _sub(video, "model", type="virtio" if spec.arch == "aarch64" else "vga")

    provision.add_serial(dev, spec.serial_log)
    console = _sub(dev, "console", type="pty")
    _sub(console, "target", type="serial", port="0")

    if spec.agent:
        provision.add_agent_channel(dev)
    rng = _sub(dev, "rng", model="virtio")
    _sub(rng, "backend", "/dev/urandom", model="random")

    # PCIe root ports, numbered: libvirt puts the defined devices on them and adds more only when
    # they run out, so the rest stay free for disks hot-plugged into the running guest (manage_vm
    # add_disk). q35 and virt are both PCIe machines (index 0 is their root bus).
    if not dev.xpath("controller[@type='scsi']"):  # SCSI disks hot-plug only onto an existing controller
        _sub(dev, "controller", type="scsi", index="0", model="virtio-scsi")
    _sub(dev, "controller", type="pci", index="0", model="pcie-root")
    for index in range(1, ROOT_PORTS + 1):
        _sub(dev, "controller", type="pci", index=str(index), model="pcie-root-port")


def build_kvm_probe_xml(name: str, arch: str) -> str:
    """A minimal KVM guest, created paused and transient, to learn whether KVM guests really start
    (libvirt may report KVM while its qemu user cannot open /dev/kvm, e.g. in containers)."""
    machine = machine_for(arch).machine
    root = etree.Element("domain", type="kvm")
    _sub(root, "name", name)
    _sub(root, "memory", "32", unit="MiB")
    _sub(root, "vcpu", "1")
    os_el = _sub(root, "os")
    _sub(os_el, "type", "hvm", arch=arch, machine=machine)
    _sub(root, "cpu", mode="host-passthrough", check="none")
    _sub(root, "devices")
    return etree.tostring(root, pretty_print=True, encoding="unicode")
