"""manage_vm (issue 3): life-cycle actions, shared by every backend. `actions`: the entry point;
`create`, `power`, `change`: the flows; `lock`: the per-VM locks (in this process and on the
host); `call`: confirmation and shared steps; `interface`: what a backend implements; `job`:
dry runs, undo and progress. manage_snapshot (issue 12): `snapshot` (entry point and flows) and
`snapshot_request`, over the same locks, audit and undo."""

from qemu_mcp.backends.job import ProgressFn
from qemu_mcp.ops.manage.actions import Consent, NeedsConfirmation, confirmation_question, manage_vm
from qemu_mcp.ops.manage.request import ManageRequest, parse_request
from qemu_mcp.ops.manage.snapshot import manage_snapshot, snapshot_confirmation_question
from qemu_mcp.ops.manage.snapshot_request import SnapshotRequest, parse_snapshot_request

__all__ = [
    "Consent",
    "ManageRequest",
    "NeedsConfirmation",
    "ProgressFn",
    "SnapshotRequest",
    "confirmation_question",
    "manage_snapshot",
    "manage_vm",
    "parse_request",
    "parse_snapshot_request",
    "snapshot_confirmation_question",
]
