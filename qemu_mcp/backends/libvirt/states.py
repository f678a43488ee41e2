"""libvirt's domain states (virsh domstate / domstats state.state) mapped onto the shared VmStatus."""

from __future__ import annotations

from qemu_mcp.models import VmStatus

STATUS_OF_STATE: dict[str, VmStatus] = {
    "running": "running",
    "idle": "running",  # blocked on I/O: still running
    "paused": "paused",
    "in shutdown": "shutting-down",
    "shut off": "stopped",
    "crashed": "crashed",
    "pmsuspended": "suspended",
}


def vm_status(state: str) -> VmStatus:
    """The shared status of a virsh state word; an unknown word is "unknown"."""
    return STATUS_OF_STATE.get(state, "unknown")
