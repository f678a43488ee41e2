"""A plain-QEMU VM's NICs on the command line: user-mode (with the guest-SSH forward on the
host's 127.0.0.1 that vm.conf records as `nic.N.ssh_forward`), a tap device, or a host bridge
through qemu-bridge-helper (`-netdev bridge`). Pure: no I/O."""

from __future__ import annotations

import re

from qemu_mcp.backends.provision import FORWARD_HOST, GUEST_SSH_PORT
from qemu_mcp.backends.qemu.vmconf import ConfNic

_IFNAME = re.compile(r"[A-Za-z0-9_.-]{1,15}")
_MAC = re.compile(r"[0-9a-fA-F]{2}(:[0-9a-fA-F]{2}){5}")
_MODEL = re.compile(r"[a-z0-9-]{1,40}")


def netdev(i: int, nic: ConfNic) -> str:
    """The -netdev value of NIC i."""
    if nic.type == "tap":
        if not nic.ifname or not _IFNAME.fullmatch(nic.ifname):
            raise ValueError(f"tap NIC {i}: ifname {nic.ifname!r} is not a network device name")
        return f"tap,id=net{i},ifname={nic.ifname},script=no,downscript=no"
    if nic.type == "bridge":
        if not nic.bridge or not _IFNAME.fullmatch(nic.bridge):
            raise ValueError(f"bridge NIC {i}: {nic.bridge!r} is not a bridge name")
        return f"bridge,id=net{i},br={nic.bridge}"
    value = f"user,id=net{i}"
    if nic.ssh_forward is not None:
        if not 1 <= nic.ssh_forward <= 65535:
            raise ValueError(f"NIC {i}: ssh_forward {nic.ssh_forward} is not a port")
        value += f",hostfwd=tcp:{FORWARD_HOST}:{nic.ssh_forward}-:{GUEST_SSH_PORT}"
    return value


def nic_args(nics: tuple[ConfNic, ...]) -> list[str]:
    argv: list[str] = []
    for i, nic in enumerate(nics):
        argv += ["-netdev", netdev(i, nic)]
        if not _MODEL.fullmatch(nic.model):
            raise ValueError(f"NIC {i}: model {nic.model!r} is not a QEMU device name")
        device = f"{nic.model},netdev=net{i},id=net{i}"
        if nic.mac:
            if not _MAC.fullmatch(nic.mac):
                raise ValueError(f"NIC {i}: {nic.mac!r} is not a MAC address")
            device += f",mac={nic.mac}"
        argv += ["-device", device]
    return argv
