"""The qemu-system-<arch> command line of a plain-QEMU VM, built from its vm.conf. Pure: no I/O.

What a VM gets (the same as a libvirt VM made by manage_vm): the arch's usual machine (x86_64:
q35, aarch64: virt with UEFI), KVM with the host's CPU or TCG, virtio disks (QEMU node name =
guest device name, so QMP block_resize and query-blockstats name them vda, vdb), the ISO as a
CD-ROM booted first, a virtio NIC (user-mode networking, or a tap device named in vm.conf),
VNC on 127.0.0.1:<display>, a USB tablet, a virtio RNG, the serial console in serial.log, QMP on
qmp.sock, `-daemonize -pidfile`. Disks use `-blockdev` JSON, so no path is ever parsed as QEMU
options; the few option strings that hold a path double their commas (QEMU's escape).
"""

from __future__ import annotations

import ipaddress
import json
import re

from qemu_mcp.backends.machines import Machine, machine_for
from qemu_mcp.backends.qemu import netargs
from qemu_mcp.backends.qemu.provision import provision_args
from qemu_mcp.backends.qemu.vmconf import Home, VmConf
from qemu_mcp.host.qemu_img import option_value as opt

MAX_VNC_DISPLAY = 99
_TARGET = re.compile(r"[a-z][a-z0-9]{1,15}")
# Empty PCIe root ports (ids hp0..hp3) for disks hot-plugged into the running guest (manage_vm
# add_disk): q35's and virt's root bus takes no hot-plugged device, a root port does.
HOTPLUG_PORT = "hp"
HOTPLUG_PORTS = 4
SCSI = "scsi0"  # the virtio-scsi controller's id
MAX_SATA_PORT = 5


def _blockdev(spec: dict[str, object]) -> list[str]:
    return ["-blockdev", json.dumps(spec, separators=(",", ":"))]


def cpu_args(conf: VmConf) -> list[str]:
    if conf.accel == "kvm":
        return ["-cpu", "host"]
    tcg_cpu = machine_for(conf.arch).tcg_cpu
    return ["-cpu", tcg_cpu] if tcg_cpu else []


def machine_arg(conf: VmConf) -> str:
    machine = conf.machine or machine_for(conf.arch).machine
    parts = [machine]
    if conf.arch == "aarch64" and conf.accel == "kvm":
        parts.append("gic-version=max")
    if conf.firmware_code:
        parts += ["pflash0=pflash0", "pflash1=pflash1"]
    return ",".join(parts)


def build_argv(conf: VmConf, home: Home, *, vnc_display: int | None, daemonize: bool = True) -> list[str]:
    """The full argv. `vnc_display` N listens on 127.0.0.1:(5900+N); None: no VNC."""
    machine = machine_for(conf.arch)
    if conf.arch == "aarch64" and not (conf.firmware_code and conf.firmware_vars):
        raise ValueError("aarch64 guests need UEFI firmware (firmware_code and firmware_vars)")
    argv = [
        f"qemu-system-{conf.arch}",
        "-name", f"guest={opt(conf.name)},debug-threads=on",
        "-uuid", conf.uuid,
        "-no-user-config", "-nodefaults",
        "-machine", machine_arg(conf),
        "-accel", "kvm" if conf.accel == "kvm" else "tcg",
        *cpu_args(conf),
        "-m", f"{conf.memory_mib}M",
        "-smp", str(conf.vcpus),
    ]  # fmt: skip
    argv += firmware_args(conf)
    argv += disk_args(conf, machine)
    argv += provision_args(conf, home, scsi_present=uses_scsi(conf, machine))
    argv += nic_args(conf)
    argv += display_args(conf, vnc_display)
    argv += hotplug_port_args(conf)
    argv += [
        "-object", "rng-random,id=rng0,filename=/dev/urandom", "-device", "virtio-rng-pci,rng=rng0",
        "-chardev", f"file,id=serial0,path={opt(home.serial)}", "-serial", "chardev:serial0",
        "-chardev", f"socket,id=qmp,path={opt(home.qmp)},server=on,wait=off", "-mon", "chardev=qmp,mode=control",
        "-pidfile", home.pidfile,
    ]  # fmt: skip
    if daemonize:
        argv.append("-daemonize")
    return argv


def hotplug_port_args(conf: VmConf | None = None) -> list[str]:
    """Root ports for hot-plugged disks, and a SCSI controller (SCSI disks hot-plug onto it) unless
    the VM has one already; after every other PCI device, so their addresses stay put."""
    argv: list[str] = []
    if conf is not None and not uses_scsi(conf, machine_for(conf.arch)):
        argv += ["-device", f"virtio-scsi-pci,id={SCSI}"]
    for i in range(HOTPLUG_PORTS):
        argv += ["-device", f"pcie-root-port,id={HOTPLUG_PORT}{i},chassis={i + 1}"]
    return argv


def firmware_args(conf: VmConf) -> list[str]:
    """UEFI code (read-only) and the VM's own variable store as the two pflash devices."""
    if not (conf.firmware_code and conf.firmware_vars):
        return []
    return [
        *_blockdev({"driver": "file", "filename": conf.firmware_code, "node-name": "pflash0-file", "read-only": True}),
        *_blockdev({"driver": "raw", "file": "pflash0-file", "node-name": "pflash0", "read-only": True}),
        *_blockdev({"driver": "file", "filename": conf.firmware_vars, "node-name": "pflash1-file"}),
        *_blockdev({"driver": "raw", "file": "pflash1-file", "node-name": "pflash1"}),
    ]


def uses_scsi(conf: VmConf, machine: Machine) -> bool:
    """The VM has a SCSI device at start (its ISO on virt, its NoCloud seed, or a disk with bus=scsi):
    disk_args then makes the one virtio-scsi controller, first."""
    scsi_cd = bool(conf.iso and machine.cdrom_bus == "scsi") or bool(conf.seed)
    return scsi_cd or any(d.bus == "scsi" for d in conf.disks)


def disk_args(conf: VmConf, machine: Machine) -> list[str]:
    """The ISO (booted first) on the machine's CD-ROM bus, then the disks (virtio, SATA or SCSI)."""
    argv: list[str] = ["-device", f"virtio-scsi-pci,id={SCSI}"] if uses_scsi(conf, machine) else []
    boot = 0
    sata_port = 0  # q35's AHCI ports ide.0..ide.5
    if conf.iso:
        argv += _blockdev({"driver": "file", "filename": conf.iso, "node-name": "cd0-file", "read-only": True})
        argv += _blockdev({"driver": "raw", "file": "cd0-file", "node-name": "sda", "read-only": True})
        if machine.cdrom_bus == "sata":
            argv += ["-device", f"ide-cd,drive=sda,id=sda,bus=ide.0,bootindex={boot}"]
            sata_port += 1
        else:
            argv += ["-device", f"scsi-cd,drive=sda,id=sda,bus={SCSI}.0,bootindex={boot}"]
        boot += 1
    for disk in conf.disks:
        if not _TARGET.fullmatch(disk.target):
            raise ValueError(f"disk target {disk.target!r} is not a device name like vda")
        if disk.format not in ("qcow2", "raw"):
            raise ValueError(f"disk format {disk.format!r} is not qcow2 or raw")
        file_node = f"{disk.target}-file"
        argv += _blockdev({"driver": "file", "filename": disk.path, "node-name": file_node})
        argv += _blockdev({"driver": disk.format, "file": file_node, "node-name": disk.target})
        argv += ["-device", disk_device(disk.bus, disk.target, sata_port) + f",bootindex={boot}"]
        sata_port += disk.bus == "sata"
        boot += 1
    return argv


def disk_device(bus: str, target: str, sata_port: int = 0) -> str:
    """The -device (or QMP device_add) of a disk whose format node is named `target`."""
    if bus == "virtio":
        return f"virtio-blk-pci,drive={target},id={target}"
    if bus == "scsi":
        return f"scsi-hd,drive={target},id={target},bus={SCSI}.0"
    if bus == "sata":
        if sata_port > MAX_SATA_PORT:
            raise ValueError("no free SATA port: q35 has six (ide.0 to ide.5)")
        return f"ide-hd,drive={target},id={target},bus=ide.{sata_port}"
    raise ValueError(f"disk bus {bus!r} is not virtio, sata or scsi")


def nic_args(conf: VmConf) -> list[str]:
    return netargs.nic_args(conf.nics)


def display_args(conf: VmConf, vnc_display: int | None) -> list[str]:
    """USB input, the video card, and VNC (or no display)."""
    # aarch64 virt has no PS/2: keyboard and tablet on USB so VNC input works.
    argv = ["-device", "qemu-xhci,id=usb", "-device", "usb-tablet,bus=usb.0"]
    if conf.arch == "aarch64":
        argv += ["-device", "usb-kbd,bus=usb.0"]
    argv += ["-device", "virtio-gpu-pci" if conf.arch == "aarch64" else "VGA"]
    if conf.display == "vnc" and vnc_display is not None:
        listen = str(ipaddress.ip_address(conf.vnc_listen))
        if ":" in listen:
            listen = f"[{listen}]"
        if not 0 <= vnc_display <= MAX_VNC_DISPLAY:
            raise ValueError(f"VNC display {vnc_display} is out of range")
        argv += ["-vnc", f"{listen}:{vnc_display}"]
    else:
        argv += ["-display", "none"]
    return argv


def kvm_probe_argv(arch: str) -> list[str]:
    """A tiny KVM guest with the CPU a real one gets (the host's): QMP on stdio, no devices."""
    machine = machine_for(arch).machine + (",gic-version=max" if arch == "aarch64" else "")
    return [
        f"qemu-system-{arch}", "-machine", machine, "-accel", "kvm", "-cpu", "host", "-m", "32M",
        "-nodefaults", "-no-user-config", "-display", "none", "-serial", "none", "-qmp", "stdio",
    ]  # fmt: skip
