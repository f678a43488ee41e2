"""The manage_vm tool: create, start, stop, reboot, delete, modify (seed 004). Thin: parse, confirm, call ops."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any

from mcp.server.mcpserver import Context, Elicit, ElicitationResult, MCPServer, Resolve

from qemu_mcp.consent import Consent
from qemu_mcp.errors import QemuMcpError
from qemu_mcp.frontends.mcp.tools.common import (
    Host,
    SshKey,
    SshPort,
    SshPwd,
    SshUser,
    add_tool,
    answer,
    caller,
    fleet_of,
)
from qemu_mcp.frontends.mcp.tools.confirm import ConfirmAnswer, ask, consent_from
from qemu_mcp.frontends.mcp.tools.manage_args import (
    ActionArg,
    AddDiskArg,
    ArchArg,
    ConfirmArg,
    DiskArg,
    DryRunArg,
    ForceArg,
    ImageArg,
    IsoArg,
    KeepFileArg,
    LinkedArg,
    MemoryArg,
    NameArg,
    RemoveDiskArg,
    SourceArg,
    StartArg,
    TimeoutArg,
    VcpusArg,
    VmDirArg,
    WaitForIpArg,
)
from qemu_mcp.frontends.mcp.tools.provision_args import CloudInitArg, IgnitionArg, NetworkArg, SshForwardArg
from qemu_mcp.models import ManageVmResult

if TYPE_CHECKING:
    from qemu_mcp.ops.fleet import HostRef


DESCRIPTION = """\
Life-cycle of one VM (seed 004's manage_vm). `action`:
- create: new VM `name` ([A-Za-z0-9][A-Za-z0-9._-]{0,63}). Needs `arch` (x86_64 or aarch64/arm64).
  memory (default 2G; units K/M/G/T, e.g. 4096M, 512MiB), vcpus (default 2), disk
  'path=/data/vm/x.qcow2,size=20G' (both optional: default <vm_dir>/<name>.qcow2 on libvirt hosts,
  <vm_dir>/<name>/disk0.qcow2 on plain-QEMU hosts, 20G; qcow2 or raw by extension), iso (attached as
  CD-ROM, booted first), vm_dir (default: the host's, /var/lib/qemu), start=true to boot it. Refuses
  an existing name or disk file; on any failure removes what it made. A guest you can log into:
  cloud_init {hostname, user, ssh_authorized_keys, ...} (a NoCloud seed ISO beside the disk) and/or
  ignition (JSON, fw_cfg); network 'user', 'bridge:<name>' or a libvirt network (default: libvirt's
  'default' when active, else user-mode); with user-mode, ssh_forward (default true) picks a free
  port on the host's 127.0.0.1 -> guest 22, reported in data.details.applied.ssh_forward_port
  (reach it with `ssh -J <host> -p PORT user@127.0.0.1`). New VMs get a guest-agent channel.
  image: a base image (absolute host path, or a name in the host's image_dir, see
  list_images/upload_image); linked=true (default) makes the disk a qcow2 overlay on it,
  linked=false a full qcow2 copy; disk size grows it (never smaller than the image).
- wait_for_ip (create with start=true, start): wait up to N s until the guest has an address
  (guest agent, DHCP lease, ARP) or, with an SSH forward, the forward answers; details.ssh/addresses.
- clone: new VM `name` from `source` (an existing, shut-off VM): same arch, machine, memory, vCPUs,
  firmware and NIC models; new UUID and MACs; disks as qcow2 overlays on the source's (linked=true,
  default) or full copies (linked=false). The source's seed ISO is not carried over; cloud_init
  gives the clone its own (e.g. a new hostname); a source's SSH forward becomes a new free port for
  the clone (details.applied.ssh_forward_port).
- start / reboot: reboot waits up to `timeout` s for the guest to reboot; force=true resets it.
- stop: ACPI shutdown, waiting up to `timeout` s (default 60); force=true powers off at once.
- delete: removes the definition and the VM's own disk images (never ISOs, shared disks or base
  images). Refused while other VMs' disks are overlays on its disks (they are named). A running VM
  needs force=true.
- modify: memory, vcpus and/or disk 'size=40G' (grow only; 'path=...' picks a disk). Saved in the
  persistent configuration and read back. A running VM is restarted to apply memory/vcpus only
  when confirmed; otherwise they apply at its next boot.
  add_disk 'size=10G[,path=...][,format=qcow2|raw][,bus=virtio|sata|scsi]': a new image (qemu-img;
  never overwrites a file; default in the VM's disk directory, qcow2, virtio) attached as the next
  free device (vdb, vdc... / sda...). remove_disk 'vdb': detach it; its file is kept unless
  keep_file=false (dangerous: confirmation). The boot disk is never removed. A running VM gets the
  change live where it can (data.details.applied.mode: live+persistent, or persistent = next boot).
delete, force stop/reboot and the restart of modify need confirmation: confirm=true, or the user is
asked when the client supports elicitation. dry_run=true returns the exact commands (and domain XML)
that would run, and changes nothing. data.details has before/after configuration and commands run.
Plain-QEMU hosts (no libvirt; backend qemu, or auto without a usable virsh) take the same arguments:
VMs live in <vm_dir>/<name>/ (vm.conf, pid, qmp.sock, serial.log, disks) and run as qemu-system
processes; `vm_dir` names that directory for every action there."""


def _ref(
    host: str | None, ssh_port: int | None, ssh_user: str | None, ssh_pwd: str | None, ssh_key: str | None
) -> HostRef:
    from qemu_mcp.ops.fleet import HostRef

    return HostRef(host, ssh_port, ssh_user, ssh_pwd, ssh_key)


async def manage_consent(
    ctx: Context,
    name: str,
    action: str,
    arch: str | None,
    memory: str | None,
    disk: str | None,
    iso: str | None,
    vcpus: int | None,
    vm_dir: str | None,
    force: bool,
    confirm: bool,
    dry_run: bool,
    start: bool,
    timeout: float | None,
    add_disk: str | None,
    remove_disk: str | None,
    keep_file: bool | None,
    host: str | None,
    ssh_port: int | None,
    ssh_user: str | None,
    ssh_pwd: str | None,
    ssh_key: str | None,
) -> Elicit[ConfirmAnswer] | Consent:
    """Runs before the tool body (and on each retry round): ask only when this call would do
    something dangerous to a VM that exists. Never raises: the body reports bad input, so a
    call that will be refused anyway asks nothing."""
    from qemu_mcp.ops import manage as manage_ops

    if confirm or dry_run:
        return Consent(confirm, "confirm" if confirm else "none")
    try:
        req = manage_ops.parse_request(
            name, action, arch=arch, memory=memory, disk=disk, iso=iso, vcpus=vcpus, vm_dir=vm_dir,
            force=force, start=start, timeout=timeout, add_disk=add_disk, remove_disk=remove_disk,
            keep_file=keep_file,
        )  # fmt: skip
        question = await manage_ops.confirmation_question(
            await fleet_of(ctx), _ref(host, ssh_port, ssh_user, ssh_pwd, ssh_key), req, who=caller(ctx)
        )
    except QemuMcpError:
        return Consent()
    return ask(ctx, question)


def register(server: MCPServer) -> None:
    add_tool(
        server, manage_vm, title="Manage a virtual machine", description=DESCRIPTION, idempotent=False, open_world=False
    )


async def manage_vm(
    ctx: Context,
    name: NameArg,
    action: ActionArg,
    consent: Annotated[ElicitationResult[ConfirmAnswer], Resolve(manage_consent)],
    arch: ArchArg = None,
    memory: MemoryArg = None,
    disk: DiskArg = None,
    iso: IsoArg = None,
    vcpus: VcpusArg = None,
    vm_dir: VmDirArg = None,
    add_disk: AddDiskArg = None,
    remove_disk: RemoveDiskArg = None,
    keep_file: KeepFileArg = None,
    image: ImageArg = None,
    linked: LinkedArg = None,
    source: SourceArg = None,
    host: Host = None,
    ssh_port: SshPort = None,
    ssh_user: SshUser = None,
    ssh_pwd: SshPwd = None,
    ssh_key: SshKey = None,
    force: ForceArg = False,
    confirm: ConfirmArg = False,
    dry_run: DryRunArg = False,
    start: StartArg = False,
    timeout: TimeoutArg = None,
    wait_for_ip: WaitForIpArg = None,
    cloud_init: CloudInitArg = None,
    ignition: IgnitionArg = None,
    network: NetworkArg = None,
    ssh_forward: SshForwardArg = None,
) -> ManageVmResult:
    options = {
        "arch": arch, "memory": memory, "disk": disk, "iso": iso, "vcpus": vcpus, "vm_dir": vm_dir,
        "force": force, "confirm": confirm, "dry_run": dry_run, "start": start, "timeout": timeout,
        "add_disk": add_disk, "remove_disk": remove_disk, "keep_file": keep_file, "wait_for_ip": wait_for_ip,
        "cloud_init": cloud_init, "ignition": ignition, "network": network, "ssh_forward": ssh_forward,
        "image": image, "linked": linked, "source": source,
    }  # fmt: skip
    ref = _ref(host, ssh_port, ssh_user, ssh_pwd, ssh_key)
    return await answer(_run(ctx, name, action, options, consent_from(consent, confirm), ref))


async def _run(
    ctx: Context, name: str, action: str, options: dict[str, Any], consent: Consent, ref: HostRef
) -> ManageVmResult:
    """Inside answer(): bad input is a tool error too."""
    from qemu_mcp.ops import manage as manage_ops

    async def progress(done: float, total: float | None, message: str) -> None:
        await ctx.report_progress(done, total, message)

    req = manage_ops.parse_request(name, action, **options)
    fleet = await fleet_of(ctx)
    return await manage_ops.manage_vm(fleet, ref, req, consent=consent, progress=progress, who=caller(ctx))
