"""The plain-QEMU backend's VM states mapped onto the shared VmStatus (and onto the monitor's words).

A VM's state word is QMP's query-status word while its qemu runs and QMP was asked; "running"
when its qemu runs and QMP was not asked (or did not answer); else one of ours: "stopped" (no
live qemu of this VM) or "incomplete" (only a `creating` marker: the create was interrupted).
"""

from __future__ import annotations

from qemu_mcp.backends.counters import SHUT_OFF
from qemu_mcp.models import VmStatus

RUNNING = "running"  # QMP's word for a running guest, and ours for a live qemu QMP was not asked about
STOPPED = "stopped"
INCOMPLETE = "incomplete"

# QMP query-status word -> (our status, the word monitor_vm_status reports: ops.monitor and
# ops.rates speak libvirt's words; None keeps the QMP word).
QMP_STATES: dict[str, tuple[VmStatus, str | None]] = {
    "running": ("running", "running"),
    "paused": ("paused", "paused"),
    "suspended": ("suspended", None),
    "shutdown": ("shutting-down", "in shutdown"),
    "guest-panicked": ("crashed", "crashed"),
    "internal-error": ("paused", None),
    "io-error": ("paused", None),
    "prelaunch": ("paused", None),
    "inmigrate": ("paused", None),
    "postmigrate": ("paused", None),
    "finish-migrate": ("paused", None),
    "restore-vm": ("paused", None),
    "save-vm": ("paused", None),
    "debug": ("paused", None),
    "watchdog": ("paused", None),
}


def vm_status(*, alive: bool, qmp_status: str | None = None) -> VmStatus:
    """The shared status: from QMP when it was asked, else from the process alone."""
    if not alive:
        return "stopped"
    if qmp_status is None:
        return "running"
    return QMP_STATES[qmp_status][0] if qmp_status in QMP_STATES else "unknown"


def vm_state(*, alive: bool, incomplete: bool, qmp_status: str | None = None) -> str:
    """The backend's own state word (VmInfo.state)."""
    if incomplete:
        return INCOMPLETE
    if not alive:
        return STOPPED
    return qmp_status or RUNNING


def monitor_state(*, alive: bool, qmp_status: object = None) -> str:
    """The state word of a monitor reading: QMP's word in libvirt's vocabulary, when QMP answered."""
    if not alive:
        return SHUT_OFF
    if not qmp_status:
        return RUNNING
    word = str(qmp_status)
    monitor = QMP_STATES[word][1] if word in QMP_STATES else None
    return monitor or word
