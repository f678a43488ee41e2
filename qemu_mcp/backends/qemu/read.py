"""The plain-QEMU read path: VMs live in <vm_dir>/<name>/ (see qemu_mcp.backends.qemu.vmconf), read in ONE command.

A VM runs when its pidfile names a live process whose command line is that VM's qemu: a
qemu-system-* with `-uuid <its uuid>` (when no uuid is known: `-pidfile <its pidfile>`); the
rule is backends.qemu.identity's, which the host scripts share.
A pidfile naming anything else is stale (qemu was killed, or crashed, or the pid was reused):
the VM is reported stopped with a note. Reads never change the host: the stale pidfile is
removed by the next manage_vm action on the VM, under its lock (a read racing a start could
otherwise remove the new qemu's pidfile). A
directory holding only a `creating` marker is a create that was interrupted:
reported (state "incomplete") until delete removes it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from qemu_mcp import validation
from qemu_mcp.backends.machines import MACHINES
from qemu_mcp.backends.qemu import addresses
from qemu_mcp.backends.qemu import scripts as qemu_host
from qemu_mcp.backends.qemu.identity import conf_uuid, is_vm_qemu
from qemu_mcp.backends.qemu.qmp import QMPClient
from qemu_mcp.backends.qemu.runtime import VNC_BASE_PORT, Runtime, parse_runtime
from qemu_mcp.backends.qemu.states import vm_state, vm_status
from qemu_mcp.backends.qemu.vmconf import ConfError, Home, VmConf, parse
from qemu_mcp.config import HostSpec
from qemu_mcp.errors import NotFound, QemuMcpError
from qemu_mcp.models import DiskInfo, GraphicsInfo, NicInfo, VmDetail, VmInfo, VmStatus
from qemu_mcp.parsers.qemu_host import FileFacts, RawVm, parse_read
from qemu_mcp.parsers.sections import new_marker
from qemu_mcp.transport.base import Runner

QMP_TIMEOUT = 5.0


@dataclass
class QemuVm:
    name: str
    home: Home
    conf: VmConf | None = None
    conf_text: str | None = None
    incomplete: bool = False  # only a `creating` marker: the create was interrupted
    pid: int | None = None
    alive: bool = False
    runtime: Runtime | None = None
    argv: list[str] | None = None
    socket: bool = False
    files: dict[str, FileFacts] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    qmp_status: str | None = None  # QMP query-status, when asked (describe, manage_vm)

    @property
    def status(self) -> VmStatus:
        return vm_status(alive=self.alive, qmp_status=self.qmp_status)

    @property
    def state(self) -> str:
        return vm_state(alive=self.alive, incomplete=self.incomplete, qmp_status=self.qmp_status)

    @property
    def vnc_port(self) -> int | None:
        if self.alive and self.runtime and self.runtime.vnc_display is not None:
            return VNC_BASE_PORT + self.runtime.vnc_display
        return None


def vm_dir_of(spec: HostSpec, vm_dir: str | None) -> str:
    chosen = vm_dir if vm_dir is not None else spec.vm_dir
    validation.abs_path(chosen, "vm_dir")
    return chosen.rstrip("/") or "/"


def build_vm(raw: RawVm, vm_dir: str) -> QemuVm:
    """Decide what one VM directory holds and whether its qemu runs (pure)."""
    home = Home(vm_dir, raw.name)
    vm = QemuVm(name=raw.name, home=home, pid=raw.pid, socket=raw.socket, files=raw.files)
    text = raw.conf if raw.conf is not None else raw.creating
    vm.incomplete = raw.conf is None and raw.creating is not None
    if text is not None:
        try:
            vm.conf = parse(text)
            vm.conf_text = text
        except ConfError as e:
            vm.notes.append(f"{home.conf if raw.conf is not None else home.file('creating')} is unusable: {e}")
    if vm.conf is not None and vm.conf.name != raw.name:
        vm.notes.append(f"vm.conf names '{vm.conf.name}', but the directory is '{raw.name}': the directory wins")
    if raw.conf is not None and raw.creating is not None:
        vm.notes.append("a leftover 'creating' marker sits next to vm.conf (vm.conf is used)")
    if vm.incomplete:
        vm.notes.append(
            "its creation was interrupted (qemu-mcp stopped mid-create): delete it (manage_vm action=delete) "
            "to remove what was made, then create it again"
        )
    if raw.pid is not None:
        argv = raw.cmdline or []
        if is_vm_qemu(argv, uuid=conf_uuid(raw.conf, raw.creating), pidfile=home.pidfile):
            vm.alive, vm.runtime, vm.argv = True, parse_runtime(argv), argv
        else:
            what = "no longer exists" if not argv else "is not this VM's qemu"
            vm.notes.append(
                f"stale pidfile: pid {raw.pid} {what} (qemu was killed or crashed); the VM is stopped"
                + ("; the stale pidfile was removed" if raw.cleaned else "; the next manage_vm action on it removes it")
            )
    if vm.alive and vm.conf is not None and vm.runtime is not None:
        pending = []
        if vm.runtime.memory_mib is not None and vm.runtime.memory_mib != vm.conf.memory_mib:
            pending.append(f"memory {vm.conf.memory_mib} MiB")
        if vm.runtime.vcpus is not None and vm.runtime.vcpus != vm.conf.vcpus:
            pending.append(f"{vm.conf.vcpus} vCPU(s)")
        if pending:
            vm.notes.append(f"vm.conf has {', '.join(pending)}: applies at its next start")
    return vm


async def read_vms(
    runner: Runner,
    spec: HostSpec,
    vm_dir: str,
    names: Sequence[str] = (),
    *,
    clean: bool = False,
    need_dir: bool = False,
) -> list[QemuVm]:
    """The VMs below vm_dir (all, or those named), in one command. `need_dir`: a vm_dir that does
    not exist is an error (a listing must not say "0 VMs" for a host whose directory is missing)."""
    marker = new_marker()
    result = await runner.run(qemu_host.read_vms(vm_dir, marker, names, clean=clean), read_only=True)
    if result.exit_status != 0:
        raise qemu_host.failed(result, spec.name, f"reading the VMs in {vm_dir}")
    exists, raws = parse_read(result.stdout, marker)
    if need_dir and not exists:
        raise NotFound(
            f"the VM directory {vm_dir} does not exist on host '{spec.name}'; create it, or set vm_dir in "
            "hosts.yaml (or pass vm_dir) to where this host keeps its plain-QEMU VMs"
        )
    return [vm for raw in raws if _plausible_name((vm := build_vm(raw, vm_dir)).name)]


def vms_printed(stdout: str, marker: str, vm_dir: str) -> list[QemuVm]:
    """The VMs the read script printed, each decided by build_vm (pure)."""
    return [build_vm(raw, vm_dir) for raw in parse_read(stdout, marker)[1]]


def _plausible_name(name: str) -> bool:
    try:
        validation.new_vm_name(name)
    except QemuMcpError:
        return False
    return True


async def qmp_status(runner: Runner, vm: QemuVm) -> None:
    """Ask a running VM's QMP for its exact state (paused, ...); a silent socket leaves 'running'."""
    if not vm.alive:
        return
    try:
        async with QMPClient.session(runner, vm.home.qmp, timeout=QMP_TIMEOUT) as qmp:
            status = await qmp.execute("query-status", timeout=QMP_TIMEOUT)
        vm.qmp_status = str(status.get("status")) if isinstance(status, dict) else None
    except (QemuMcpError, OSError, ValueError) as e:
        vm.notes.append(f"QMP at {vm.home.qmp} did not answer ({e}); state from the process only")


def disks_of(vm: QemuVm) -> list[DiskInfo]:
    conf = vm.conf
    if conf is None:
        return []
    disks: list[DiskInfo] = []
    if conf.iso:
        bus = MACHINES[conf.arch].cdrom_bus if conf.arch in MACHINES else "scsi"
        disks.append(DiskInfo(target="sda", device="cdrom", path=conf.iso, format="raw", bus=bus, readonly=True))
    for d in conf.disks:
        facts = vm.files.get(d.path)
        disks.append(
            DiskInfo(
                target=d.target,
                device="disk",
                path=d.path,
                format=d.format,
                bus="virtio",
                capacity_bytes=facts.capacity(d.format) if facts else None,
                allocation_bytes=facts.allocated if facts else None,
            )
        )
    return disks


def vm_info(host: str, vm: QemuVm) -> VmInfo:
    conf = vm.conf
    rt = vm.runtime if vm.alive else None
    nics = [
        NicInfo(mac=n.mac, type=n.type, source=None, model=n.model, target=n.ifname if n.type == "tap" else None)
        for n in (conf.nics if conf else ())
    ]
    graphics = []
    if conf is not None and conf.display == "vnc":
        graphics.append(GraphicsInfo(type="vnc", port=vm.vnc_port, listen=conf.vnc_listen, autoport=True))
    accel = (rt.accel if rt and rt.accel else None) or (conf.accel if conf else None)
    return VmInfo(
        name=vm.name,
        uuid=conf.uuid if conf else "",
        host=host,
        status=vm.status,
        state=vm.state,
        arch=conf.arch if conf else None,
        machine=conf.machine if conf else None,
        domain_type=None if accel is None else ("kvm" if accel == "kvm" else "qemu"),
        vcpus=(rt.vcpus if rt and rt.vcpus else None) or (conf.vcpus if conf else 0),
        max_vcpus=conf.vcpus if conf else None,
        memory=(rt.memory_mib if rt and rt.memory_mib else None) or (conf.memory_mib if conf else 0),
        max_memory=conf.memory_mib if conf else None,
        disks=disks_of(vm),
        nics=nics,
        graphics=graphics,
        autostart=False,
        persistent=True,
        notes=list(vm.notes),
    )


async def list_vms(runner: Runner, spec: HostSpec, vm_dir: str | None = None) -> list[VmInfo]:
    """Every plain-QEMU VM of the host, in one round trip (a read: stale pidfiles are reported, kept)."""
    vms = await read_vms(runner, spec, vm_dir_of(spec, vm_dir), need_dir=True)
    return [
        addresses.with_access(spec, vm_info(spec.name, vm), vm.conf_text, vm.argv if vm.alive else None) for vm in vms
    ]


async def find_vm(runner: Runner, spec: HostSpec, vm_dir: str, name: str) -> QemuVm | None:
    validation.vm_name(name)
    if not _plausible_name(name):
        return None
    vms = await read_vms(runner, spec, vm_dir, [name])
    return vms[0] if vms else None


async def describe_vm(runner: Runner, spec: HostSpec, name: str, vm_dir: str | None = None) -> VmDetail:
    """One VM with its vm.conf and (running) command line; the state from QMP."""
    directory = vm_dir_of(spec, vm_dir)
    vm = await find_vm(runner, spec, directory, name)
    if vm is None:
        raise NotFound(
            f"VM '{name}' not found on host '{spec.name}' (no {directory}/{name}/vm.conf); "
            "list_vms shows the names that exist"
        )
    await qmp_status(runner, vm)
    info = addresses.with_access(spec, vm_info(spec.name, vm), vm.conf_text, vm.argv if vm.alive else None)
    if vm.alive and addresses.has_agent_channel(vm.argv):
        info.addresses, notes = await addresses.agent_addresses(runner, vm.home)
        info.notes += notes
    return VmDetail(**info.model_dump(), config=vm.conf_text, command_line=vm.argv)
