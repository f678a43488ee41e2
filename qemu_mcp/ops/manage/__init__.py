"""manage_vm (issue 3): life-cycle actions, shared by every backend. `actions`: the entry point;
`create`, `power`, `change`: the flows; `lock`: the per-VM locks (in this process and on the
host); `call`: confirmation and shared steps; `interface`: what a backend implements; `job`:
dry runs, undo and progress."""

from qemu_mcp.backends.job import ProgressFn
from qemu_mcp.ops.manage.actions import Consent, NeedsConfirmation, confirmation_question, manage_vm
from qemu_mcp.ops.manage.request import ManageRequest, parse_request

__all__ = [
    "Consent",
    "ManageRequest",
    "NeedsConfirmation",
    "ProgressFn",
    "confirmation_question",
    "manage_vm",
    "parse_request",
]
