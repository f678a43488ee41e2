"""The VNC display of a plain-QEMU VM: the lowest display no running VM of ours and no listening
socket uses, and how qemu says that its display was taken meanwhile."""

from __future__ import annotations

from collections.abc import Iterable

from qemu_mcp.backends.qemu.argv import MAX_VNC_DISPLAY
from qemu_mcp.backends.qemu.read import QemuVm
from qemu_mcp.backends.qemu.runtime import VNC_BASE_PORT
from qemu_mcp.parsers.qemu_host import listening_ports
from qemu_mcp.transport.base import CommandResult


def free_displays(vms: Iterable[QemuVm], tcp_listeners: str) -> list[int]:
    """Displays (0 = port 5900) free of our running VMs and of every listening TCP port."""
    ports = listening_ports(tcp_listeners)
    used = {v.runtime.vnc_display for v in vms if v.alive and v.runtime and v.runtime.vnc_display is not None}
    return [n for n in range(MAX_VNC_DISPLAY + 1) if n not in used and VNC_BASE_PORT + n not in ports]


def vnc_taken(result: CommandResult) -> bool:
    """qemu failed because its VNC port was taken between our check and its bind."""
    err = result.stderr.lower()
    return "vnc" in err and ("in use" in err or "failed to" in err or "address" in err)
