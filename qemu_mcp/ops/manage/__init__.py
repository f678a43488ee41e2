"""manage_vm (issue 3): life-cycle actions, shared by every backend. See `actions` for the flows,
`interface` for what a backend implements, `job` for dry runs, undo and progress."""

from qemu_mcp.ops.manage.actions import Consent, NeedsConfirmation, confirmation_question, manage_vm
from qemu_mcp.ops.manage.job import ProgressFn
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
