"""Operation levels: every action of every tool, classified safe / moderate / dangerous. The ONE table.

    safe       reads a host, changes nothing
    moderate   changes a VM or creates one, in a way that is reversible or loses no data
    dangerous  can lose data or cannot be undone: always needs confirmation (confirm=true, an
               accepted elicitation, or the CLI's --yes)

The table drives the tools' annotations (tools/common.py), which manage_vm calls ask for
confirmation (ops/manage/call.py), what a read-only policy or token hides and refuses
(every non-safe operation mutates), and the README's table (`markdown_table`, checked by a test).
No mcp import here: the CLI uses it too.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class Level(StrEnum):
    SAFE = "safe"
    MODERATE = "moderate"
    DANGEROUS = "dangerous"


@dataclass(frozen=True)
class Operation:
    tool: str
    action: str | None  # manage_vm's `action` argument; None for single-purpose tools
    variant: str | None  # "force", "restart": the dangerous form of an action
    level: Level
    what: str  # one line for the docs

    @property
    def name(self) -> str:
        """'list_vms', 'manage_vm stop', 'manage_vm stop (force)'."""
        out = self.tool if self.action is None else f"{self.tool} {self.action}"
        return out if self.variant is None else f"{out} ({self.variant})"

    @property
    def mutating(self) -> bool:
        return self.level is not Level.SAFE


SAFE, MODERATE, DANGEROUS = Level.SAFE, Level.MODERATE, Level.DANGEROUS
MANAGE = "manage_vm"
SNAPSHOT = "manage_snapshot"
UPLOAD_IMAGE = "upload_image"

OPERATIONS: tuple[Operation, ...] = (
    Operation("list_vms", None, None, SAFE, "list the VMs of a host or of the inventory"),
    Operation("get_vm_info", None, None, SAFE, "one VM's configuration and domain XML"),
    Operation("host_info", None, None, SAFE, "a host's CPU, memory, versions and tools"),
    Operation("list_hosts", None, None, SAFE, "the inventory with reachability"),
    Operation("list_networks", None, None, SAFE, "a host's libvirt networks, or its bridges (plain QEMU)"),
    Operation("list_storage_pools", None, None, SAFE, "a host's storage pools; one pool's volumes and their VMs"),
    Operation("monitor_vm_status", None, None, SAFE, "sample a running VM's CPU, memory, disk, network"),
    Operation("host_stats", None, None, SAFE, "a host's disk I/O statistics"),
    Operation("vmstats", None, None, SAFE, "resource vmstats://{host}/{name}: the latest sample"),
    Operation("vm_domain_xml", None, None, SAFE, "resource qemu-mcp://{host}/vm/{name}/domain.xml (libvirt)"),
    Operation("vm_conf", None, None, SAFE, "resource qemu-mcp://{host}/vm/{name}/vm.conf (plain QEMU)"),
    Operation("vm_console", None, None, SAFE, "a VM's serial console tail and screen (a temp file, removed)"),
    Operation("list_images", None, None, SAFE, "a host's base images: format, sizes, backing chain, VMs using them"),
    Operation(UPLOAD_IMAGE, None, None, MODERATE, "copy a local image to a host's image_dir; never overwrites"),
    Operation(UPLOAD_IMAGE, None, "overwrite", DANGEROUS, "replace an image of the same name in image_dir"),
    Operation(MANAGE, "create", None, MODERATE, "new disk image + definition; never overwrites a VM or file"),
    Operation(MANAGE, "start", None, MODERATE, "boot a shut-off VM"),
    Operation(MANAGE, "stop", None, MODERATE, "ACPI shutdown request; the guest shuts down cleanly"),
    Operation(MANAGE, "stop", "force", DANGEROUS, "power off at once, like pulling the plug"),
    Operation(MANAGE, "reboot", None, MODERATE, "ACPI reboot request"),
    Operation(MANAGE, "reboot", "force", DANGEROUS, "hard reset, like the reset button"),
    Operation(MANAGE, "clone", None, MODERATE, "new VM with the source's hardware, disks as overlays or copies"),
    Operation(MANAGE, "modify", None, MODERATE, "memory/vCPUs for the next boot, grow a disk (never shrink)"),
    Operation(MANAGE, "modify", "restart", DANGEROUS, "restart a running VM so new memory/vCPUs apply now"),
    Operation(
        MANAGE,
        "modify",
        "delete-disk-file",
        DANGEROUS,
        "remove_disk with keep_file=false: detach a disk and delete its image",
    ),
    Operation(MANAGE, "delete", None, DANGEROUS, "remove the definition and the VM's own disk images"),
    Operation(SNAPSHOT, "list", None, SAFE, "a VM's snapshots: name, time, parent, state, description, memory"),
    Operation(SNAPSHOT, "create", None, MODERATE, "save the VM's disks (and a running VM's memory); changes no data"),
    Operation(SNAPSHOT, "revert", None, DANGEROUS, "put the VM back to a snapshot: what changed since is lost"),
    Operation(SNAPSHOT, "delete", None, DANGEROUS, "remove a snapshot: the state it holds is lost"),
)
BY_NAME = {op.name: op for op in OPERATIONS}
# manage_vm's actions, in table order (allowed_actions names these).
MANAGE_ACTIONS: tuple[str, ...] = tuple(
    dict.fromkeys(op.action for op in OPERATIONS if op.tool == MANAGE and op.action is not None)
)


# allowed_actions (policy) names manage_vm's actions as they are, and manage_snapshot's mutating
# ones as snapshot-create, snapshot-revert, snapshot-delete.
# upload_image is named upload-image.
def policy_action(tool: str, action: str) -> str:
    if tool == UPLOAD_IMAGE:
        return "upload-image"
    return action if tool == MANAGE else f"snapshot-{action}"


POLICY_ACTIONS: tuple[str, ...] = (
    MANAGE_ACTIONS
    + tuple(policy_action(op.tool, op.action) for op in OPERATIONS if op.tool == SNAPSHOT and op.action and op.mutating)
    + ("upload-image",)
)


def operation(tool: str, action: str | None = None, variant: str | None = None) -> Operation:
    key = Operation(tool, action, variant, SAFE, "").name
    try:
        return BY_NAME[key]
    except KeyError:
        raise KeyError(f"operation {key!r} is not classified in qemu_mcp/levels.py") from None


def manage_operation(
    action: str, *, force: bool = False, restart: bool = False, delete_file: bool = False
) -> Operation:
    """The operation a manage_vm call is. `force`: force=true on a RUNNING VM; `restart`: modify
    changes memory/vCPUs of a RUNNING VM (pass True when the VM's state is not known yet, to get
    the most dangerous form the call may take); `delete_file`: modify remove_disk keep_file=false."""
    variant = None
    if delete_file and (MANAGE, action, "delete-disk-file") in _VARIANTS:
        variant = "delete-disk-file"
    elif force and (MANAGE, action, "force") in _VARIANTS:
        variant = "force"
    elif restart and (MANAGE, action, "restart") in _VARIANTS:
        variant = "restart"
    return operation(MANAGE, action, variant)


_VARIANTS = {(op.tool, op.action, op.variant) for op in OPERATIONS if op.variant}


def tool_operations(tool: str) -> list[Operation]:
    return [op for op in OPERATIONS if op.tool == tool]


def tool_mutates(tool: str) -> bool:
    """Any of the tool's operations changes a host (read_only policies and tokens hide the tool)."""
    return any(op.mutating for op in tool_operations(tool))


def tool_destructive(tool: str) -> bool:
    return any(op.level is DANGEROUS for op in tool_operations(tool))


MUTATING_TOOLS = frozenset(op.tool for op in OPERATIONS if op.mutating)


def markdown_table() -> str:
    """The README's levels table, generated from OPERATIONS."""
    rows = ["| operation | level | what it does | asks for confirmation |", "|---|---|---|---|"]
    for op in OPERATIONS:
        confirm = "yes" if op.level is DANGEROUS else "no"
        name = f"`{op.tool}`" + (f" `{op.action}`" if op.action else "")
        if op.variant:
            name += f" ({VARIANT_WORDS[op.variant]})"
        rows.append(f"| {name} | {op.level.value} | {op.what} | {confirm} |")
    return "\n".join(rows)


VARIANT_WORDS = {
    "force": "`force=true`, VM running",
    "restart": "VM running, memory/vCPUs change",
    "delete-disk-file": "`remove_disk`, `keep_file=false`",
    "overwrite": "`overwrite=true`, the file exists",
}
