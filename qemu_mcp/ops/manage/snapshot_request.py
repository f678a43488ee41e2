"""A manage_snapshot call, parsed and checked before anything touches a host, and the words of
its confirmation question (revert and delete are dangerous: levels.py)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import get_args

from qemu_mcp import levels, validation
from qemu_mcp.errors import InvalidInput
from qemu_mcp.models import SnapshotAction, SnapshotInfo
from qemu_mcp.ops.manage.request import dir_option

ACTIONS: tuple[str, ...] = get_args(SnapshotAction)
# Options that only mean something for some actions: passing them elsewhere is a mistake we report.
ONLY_FOR = {
    "snapshot": ("create", "revert", "delete"),
    "description": ("create",),
    "include_memory": ("create",),
}


@dataclass(frozen=True)
class SnapshotRequest:
    name: str
    action: SnapshotAction
    snapshot: str | None = None  # create: None until parse fills in a name
    description: str | None = None
    include_memory: bool | None = None
    vm_dir: str | None = None
    confirm: bool = False
    dry_run: bool = False

    @property
    def operation(self) -> levels.Operation:
        return levels.operation(levels.SNAPSHOT, self.action)

    @property
    def target(self) -> str:
        assert self.snapshot is not None  # every action but list has one (parse_snapshot_request)
        return self.snapshot


def parse_snapshot_request(
    name: str, action: str, *, snapshot: str | None = None, description: str | None = None,
    include_memory: bool | None = None, vm_dir: str | None = None, confirm: bool = False, dry_run: bool = False,
) -> SnapshotRequest:  # fmt: skip
    """Every check that needs no host. create without a name gets `snap-<UTC time>`."""
    if action not in ACTIONS:
        raise InvalidInput(f"action {action!r} is not one of {', '.join(ACTIONS)}")
    given = {"snapshot": snapshot, "description": description, "include_memory": include_memory}
    for option, value in given.items():
        if value is not None and action not in ONLY_FOR[option]:
            raise InvalidInput(
                f"{option} does not apply to action={action}; it is used by {' and '.join(ONLY_FOR[option])}"
            )
    validation.vm_name(name)
    if action == "create":
        snapshot = validation.new_snapshot_name(snapshot or default_name())
        if description is not None:
            validation.snapshot_description(description)
    elif action != "list":
        if snapshot is None:
            raise InvalidInput(
                f"{action} needs snapshot: the name of one of the VM's snapshots (action=list shows them)"
            )
        validation.snapshot_name(snapshot)
    return SnapshotRequest(
        name=name,
        action=action,  # type: ignore[arg-type]  # checked against ACTIONS above
        snapshot=snapshot,
        description=description or None,
        include_memory=include_memory,
        vm_dir=dir_option(vm_dir) if vm_dir is not None else None,
        confirm=confirm,
        dry_run=dry_run,
    )


def default_name() -> str:
    return "snap-" + datetime.now(UTC).strftime("%Y%m%d-%H%M%S")


def snapshot_question(req: SnapshotRequest, host: str, running: bool, snap: SnapshotInfo) -> str | None:
    """What to ask before a dangerous snapshot action (levels.py), or None if it is not one."""
    if req.operation.level is not levels.DANGEROUS:
        return None
    vm = f"VM '{req.name}' on host '{host}'"
    when = f" (taken {snap.created})" if snap.created else ""
    if req.action == "revert":
        lost = "disks, memory and configuration" if snap.memory else "disks and configuration"
        off = " It is running and ends shut off (the snapshot holds no memory)." if running and not snap.memory else ""
        return (
            f"Revert {vm} to snapshot '{snap.name}'{when}? Its {lost} go back to that moment: everything it did "
            f"since is lost, and this cannot be undone.{off}"
        )
    return f"Delete snapshot '{snap.name}'{when} of {vm}? The state it holds is lost for good."
