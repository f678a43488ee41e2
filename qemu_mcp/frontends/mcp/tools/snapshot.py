"""The manage_snapshot tool: create, list, revert, delete a VM's snapshots. Thin: parse, confirm, call ops."""

from __future__ import annotations

from typing import Annotated, Literal

from mcp.server.mcpserver import Context, Elicit, ElicitationResult, MCPServer, Resolve
from pydantic import Field

from qemu_mcp.consent import Consent
from qemu_mcp.errors import QemuMcpError
from qemu_mcp.frontends.mcp.tools import common
from qemu_mcp.frontends.mcp.tools.common import Host, SshKey, SshPort, SshPwd, SshUser
from qemu_mcp.frontends.mcp.tools.confirm import ConfirmAnswer, ask, consent_from
from qemu_mcp.models import ManageSnapshotResult

Action = Literal["create", "list", "revert", "delete"]

DESCRIPTION = """\
Snapshots of one VM: take one before a risky change, go back to it if the change goes wrong. `action`:
- create: `snapshot` names it ([A-Za-z0-9][A-Za-z0-9._-]{0,63}, not all digits; default snap-<UTC time>),
  `description` is one line. A running VM's memory is saved too (reverting resumes the guest where
  it was); a shut-off VM's snapshot holds its disks and configuration. Every writable disk must be
  qcow2 (raw images cannot hold snapshots). libvirt VMs that boot UEFI from pflash (aarch64) get an
  external disk-only snapshot (overlay files), and the answer says so.
- list: name, time, parent, VM state then, description, whether memory is included.
- revert: the VM's disks, configuration and (if saved) memory go back to `snapshot`; what changed
  since is lost. A running VM reverted to a snapshot without memory ends shut off.
- delete: removes `snapshot` (the VM itself is unchanged).
revert and delete need confirmation: confirm=true, or the user is asked when the client supports
elicitation. dry_run=true returns the exact commands and changes nothing. Plain-QEMU hosts: `vm_dir`
says where the VMs live (qemu-img snapshot while shut off, QMP snapshot-save/load/delete while running)."""


async def snapshot_consent(
    ctx: Context, name: str, action: str, snapshot: str | None, description: str | None,
    include_memory: bool | None, vm_dir: str | None, confirm: bool, dry_run: bool,
    host: str | None, ssh_port: int | None, ssh_user: str | None, ssh_pwd: str | None, ssh_key: str | None,
) -> Elicit[ConfirmAnswer] | Consent:  # fmt: skip
    """Runs before the tool body: ask only when a revert or delete would act on a snapshot that
    exists. Never raises: the body reports bad input."""
    if confirm or dry_run:
        return Consent(confirm, "confirm" if confirm else "none")
    from qemu_mcp.ops import manage as manage_ops
    from qemu_mcp.ops.fleet import HostRef

    try:
        req = manage_ops.parse_snapshot_request(
            name, action, snapshot=snapshot, description=description, include_memory=include_memory, vm_dir=vm_dir
        )
        ref = HostRef(host, ssh_port, ssh_user, ssh_pwd, ssh_key)
        fleet, who = await common.fleet_of(ctx), common.caller(ctx)
        question = await manage_ops.snapshot_confirmation_question(fleet, ref, req, who=who)
    except QemuMcpError:
        return Consent()
    return ask(ctx, question)


def register(server: MCPServer) -> None:
    common.add_tool(
        server, manage_snapshot, title="Manage a VM's snapshots", description=DESCRIPTION, idempotent=False,
        open_world=False,
    )  # fmt: skip
    server.prompt(
        title="Snapshot, then change a VM",
        description="Take a snapshot of a VM, make a change, check it, and go back if it went wrong",
    )(snapshot_then_change)


def snapshot_then_change(
    name: Annotated[str, Field(description="The VM to change")],
    change: Annotated[str, Field(description="What to change, in words (e.g. 'give it 4G of memory')")],
    host: Annotated[str | None, Field(description="Inventory host (default: this machine)")] = None,
) -> str:
    """The flow users ask for most before they let an assistant touch a VM."""
    on = f" on host '{host}'" if host else ""
    where = f'name="{name}"' + (f', host="{host}"' if host else "")
    return f"""Change the VM '{name}'{on} safely: {change}

1. manage_snapshot({where}, action="list"): note the snapshots it already has.
2. manage_snapshot({where}, action="create", snapshot="before-<a short word for the change>",
   description="before: {change}"). A running VM's memory is saved too. If the answer says the VM
   has a raw disk (no snapshots possible), stop and tell the user before changing anything.
3. Make the change with manage_vm (e.g. action="modify"), or as the user asked.
4. Check the result: get_vm_info, and monitor_vm_status if the VM runs.
5. If the change went wrong, tell the user what you saw and ask whether to go back. Only if they
   agree: manage_snapshot({where}, action="revert", snapshot=<the snapshot from step 2>, confirm=true).
6. When the user is satisfied, offer to delete the snapshot (action="delete"): snapshots keep
   using disk space."""


async def manage_snapshot(
    ctx: Context,
    name: Annotated[str, Field(description="VM name")],
    action: Annotated[Action, Field(description="create, list, revert or delete")],
    consent: Annotated[ElicitationResult[ConfirmAnswer], Resolve(snapshot_consent)],
    snapshot: Annotated[
        str | None, Field(description="The snapshot's name (create: optional, default snap-<UTC time>)")
    ] = None,
    description: Annotated[str | None, Field(description="create: one line kept with the snapshot")] = None,
    include_memory: Annotated[
        bool | None, Field(description="create: save a running VM's memory (default: yes when it runs)")
    ] = None,
    host: Host = None,
    vm_dir: Annotated[str | None, Field(description="Plain-QEMU hosts: where the VMs live")] = None,
    confirm: Annotated[bool, Field(description="Confirm revert or delete")] = False,
    dry_run: Annotated[bool, Field(description="Only return the commands that would run")] = False,
    ssh_port: SshPort = None,
    ssh_user: SshUser = None,
    ssh_pwd: SshPwd = None,
    ssh_key: SshKey = None,
) -> ManageSnapshotResult:
    from qemu_mcp.ops import manage as manage_ops
    from qemu_mcp.ops.fleet import HostRef

    async def run() -> ManageSnapshotResult:  # inside answer(): bad input is a tool error too
        req = manage_ops.parse_snapshot_request(
            name, action, snapshot=snapshot, description=description, include_memory=include_memory,
            vm_dir=vm_dir, confirm=confirm, dry_run=dry_run,
        )  # fmt: skip
        ref, given = HostRef(host, ssh_port, ssh_user, ssh_pwd, ssh_key), consent_from(consent, confirm)
        return await manage_ops.manage_snapshot(
            await common.fleet_of(ctx), ref, req, consent=given, progress=ctx.report_progress, who=common.caller(ctx)
        )

    return await common.answer(run())
