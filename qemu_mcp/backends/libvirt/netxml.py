"""The NIC of a new libvirt domain (issue 11): a libvirt network, a host bridge, or user-mode
networking, with an SSH forward on the host's 127.0.0.1 when asked. Pure: no I/O.

libvirt 9.0 as Debian 12 ships it refuses `<backend type='passt'/>` ("Invalid value for attribute
'type' in element 'backend'"), and its `<interface type='user'>` has no port forward. So a forwarded
user-mode NIC is given to QEMU directly, in `<qemu:commandline>`: `-netdev user` with `hostfwd` and
its virtio-net device at a fixed PCI address (the arguments come before libvirt's own devices, so
QEMU's automatic slot would take the one libvirt then gives the video card). The metadata records
the forward (`<qmcp:ssh-forward port=... via='qemu-commandline'/>`) so readers need not guess.
"""

from __future__ import annotations

from lxml import etree

from qemu_mcp.backends.provision import FORWARD_HOST, GUEST_SSH_PORT

QEMU_NS = "http://libvirt.org/schemas/domain/qemu/1.0"
FORWARD_VIA = "qemu-commandline"
FORWARD_NETDEV = "qmcpnet0"
# A pcie.0 slot libvirt does not hand out to a small domain (it fills slots from 1 upwards).
FORWARD_PCI = {"x86_64": "bus=pcie.0,addr=0x10", "aarch64": "bus=pcie.0,addr=0x10"}


def add_interface(dev: etree._Element, *, network: str | None, bridge: str | None, mac: str | None) -> None:
    """`<interface>` on a libvirt network or a host bridge, or user-mode (no forward)."""
    if bridge is not None:
        nic = etree.SubElement(dev, "interface", type="bridge")
        etree.SubElement(nic, "source", bridge=bridge)
    elif network is not None:
        nic = etree.SubElement(dev, "interface", type="network")
        etree.SubElement(nic, "source", network=network)
    else:
        nic = etree.SubElement(dev, "interface", type="user")
    if mac:
        etree.SubElement(nic, "mac", address=mac)
    etree.SubElement(nic, "model", type="virtio")


def forward_args(arch: str, port: int, mac: str) -> list[str]:
    """QEMU's arguments for a user-mode virtio NIC whose host 127.0.0.1:port reaches guest port 22."""
    if not 1 <= port <= 65535:
        raise ValueError(f"forward port {port} is out of range")
    return [
        "-netdev", f"user,id={FORWARD_NETDEV},hostfwd=tcp:{FORWARD_HOST}:{port}-:{GUEST_SSH_PORT}",
        "-device", f"virtio-net-pci,netdev={FORWARD_NETDEV},id={FORWARD_NETDEV},mac={mac},{FORWARD_PCI[arch]}",
    ]  # fmt: skip


def add_forward_commandline(root: etree._Element, arch: str, port: int, mac: str) -> None:
    """`<qemu:commandline>` at the end of the domain (the root needs the qemu namespace)."""
    cmdline = etree.SubElement(root, f"{{{QEMU_NS}}}commandline")
    for value in forward_args(arch, port, mac):
        etree.SubElement(cmdline, f"{{{QEMU_NS}}}arg", value=value)


def forward_port(root: etree._Element) -> int | None:
    """The guest-SSH forward port a domain's `<qemu:commandline>` sets up, if any (for readers
    that do not look at the metadata)."""
    for arg in root.iterfind(f"{{{QEMU_NS}}}commandline/{{{QEMU_NS}}}arg"):
        value = arg.get("value", "")
        marker = f"hostfwd=tcp:{FORWARD_HOST}:"
        if marker in value:
            port = value.split(marker, 1)[1].split("-", 1)[0]
            return int(port) if port.isdigit() else None
    return None
