"""The plain-QEMU backend of manage_vm: VMs in <vm_dir>/<name>/ run as qemu-system-<arch> processes.

Behind `backends.base.VmBackend`; the shared flows (ops.manage.actions) do validation,
locking, confirmation, the disk image, undo and read-back. Here:
- create: `claim` makes the VM directory exclusively with a `creating` marker holding the planned
  vm.conf (a create killed midway is then visible, and delete removes it); `define` writes vm.conf
  atomically and drops the marker. KVM only when /dev/kvm is usable for the SSH user, the host's
  machine is the guest's arch, and a probe guest with the host CPU really runs (shared verdict
  logic with libvirt: backends.accel); otherwise TCG.
- start: the argv from backends.qemu.argv.build_argv (`-daemonize -pidfile`, QMP socket, VNC on a display
  no other VM of ours and no listener uses), then QMP query-status must say running.
- QMP is reached with no program on the host (the runner's open_unix: a local socket, or sshd's
  direct-streamlocal). stop = system_powerdown (the shared flow waits); force = quit, then
  SIGKILL if the process is still there; reboot = powerdown + wait + start; force = system_reset.
- modify: vm.conf (atomically; undo restores the previous text); a running VM's disk grows live
  with QMP block_resize. delete: the VM's own files, the images it created, its empty directory.
"""

from __future__ import annotations

import asyncio
import json
import secrets
import time
from datetime import UTC, datetime
from typing import Any

from qemu_mcp import arches
from qemu_mcp.backends.accel import AccelVerdicts, decide_accel
from qemu_mcp.backends.base import BackendDefaults, CreateFacts, CreatePlan, Target, VmDisk, VmState
from qemu_mcp.backends.firmware import EMULATOR_PACKAGE, pick_firmware, read_firmware
from qemu_mcp.backends.job import Job, Undo
from qemu_mcp.backends.machines import machine_for
from qemu_mcp.backends.qemu import scripts as qemu_host
from qemu_mcp.backends.qemu.argv import MAX_VNC_DISPLAY, build_argv, kvm_probe_argv
from qemu_mcp.backends.qemu.disks import QemuDisks
from qemu_mcp.backends.qemu.display import free_displays, vnc_taken
from qemu_mcp.backends.qemu.provision import conf_fields, conf_nic, plain_nic, recorded_forwards
from qemu_mcp.backends.qemu.qmp import QMPClient
from qemu_mcp.backends.qemu.read import QemuVm, qmp_status, vm_dir_of, vms_printed
from qemu_mcp.backends.qemu.runtime import VNC_BASE_PORT
from qemu_mcp.backends.qemu.states import RUNNING, vm_status
from qemu_mcp.backends.qemu.vmconf import DEFAULT_DISK, EFI_VARS, MAX_SOCKET_PATH, ConfDisk, Home, VmConf, parse, render
from qemu_mcp.config import HostSpec
from qemu_mcp.errors import CommandFailed, Conflict, HostUnreachable, InvalidInput, NotFound, QemuMcpError
from qemu_mcp.models import VmStatus
from qemu_mcp.parsers.qemu_host import parse_key_values
from qemu_mcp.parsers.sections import new_marker

QMP_TIMEOUT = 10.0
START_TIMEOUT = 60.0
QUIT_WAIT = 5.0  # seconds a QMP quit may take before SIGKILL
POLL = 0.25
START_ATTEMPTS = 3  # a VNC display taken between our check and qemu's bind: try the next one


class QemuBackend(QemuDisks, BackendDefaults):
    kind = "qemu"

    def __init__(self, verdicts: AccelVerdicts, spec: HostSpec, vm_dir: str | None = None) -> None:
        self.verdicts = verdicts
        self.spec = spec
        self.vm_dir = vm_dir_of(spec, vm_dir)
        self._vms: dict[str, QemuVm] = {}  # what the last read showed, per VM
        self._planned: dict[str, VmConf] = {}  # create: the configuration define writes (dry runs start it)

    def home(self, name: str) -> Home:
        return Home(self.vm_dir, name)

    def _where(self, name: str) -> str:
        return f"VM '{name}' on host '{self.spec.name}'"

    # ---- reading

    async def _read(self, job: Job, names: tuple[str, ...] = (), *, record: bool = True) -> list[QemuVm]:
        """VMs below vm_dir in one command; stale pidfiles are removed unless this is a dry run."""
        marker = new_marker()
        what = f"reading '{names[0]}'" if len(names) == 1 else f"reading the VMs in {self.vm_dir}"
        argv = qemu_host.read_vms(self.vm_dir, marker, names, clean=not job.dry_run)
        result = await job.read(what, argv, record=record)
        if result.exit_status != 0:
            raise job.step_failed(what, result)
        vms = vms_printed(result.stdout, marker, self.vm_dir)
        for vm in vms:
            self._vms[vm.name] = vm
        return vms

    async def _one(self, job: Job, name: str, *, record: bool = True) -> QemuVm | None:
        if "/" in name or name in (".", ".."):
            return None
        found = [v for v in await self._read(job, (name,), record=record) if v.name == name]
        return found[0] if found else None

    def _state(self, vm: QemuVm) -> VmState:
        conf = vm.conf
        disks: list[VmDisk] = []
        if conf is not None:
            if conf.iso:
                disks.append(VmDisk("sda", conf.iso, "raw", device="cdrom", readonly=True))
            disks += [VmDisk(d.target, d.path, d.format, created=d.owned) for d in conf.disks]
        return VmState(
            name=vm.name,
            status=vm.status,
            state=vm.state,
            uuid=conf.uuid if conf else "",
            persistent=True,
            arch=conf.arch if conf else None,
            machine=conf.machine if conf else None,
            domain_type=conf.domain_type if conf else None,
            vcpus=conf.vcpus if conf else None,
            memory_mib=conf.memory_mib if conf else None,
            disks=tuple(disks),
            extra={"home": vm.home.dir, **({"pid": str(vm.pid)} if vm.alive and vm.pid else {})},
        )

    async def inspect(self, job: Job, name: str) -> VmState | None:
        vm = await self._one(job, name)
        if vm is None:
            return None
        for note in vm.notes:
            job.note(note)
        await qmp_status(job.runner, vm)
        return self._state(vm)

    async def status(self, job: Job, vm: Target) -> VmStatus:
        found = await self._one(job, vm.name, record=False)
        if found is None:
            raise NotFound(f"{self._where(vm.name)} disappeared")
        return vm_status(alive=found.alive)  # the process alone: polled often, QMP not asked

    def _usable(self, name: str, job: Job | None = None) -> tuple[QemuVm, VmConf]:
        vm = self._vms.get(name)
        if vm is None and job is not None and job.dry_run and name in self._planned:
            vm = QemuVm(name=name, home=self.home(name), conf=self._planned[name])  # a dry-run create
        if vm is None:
            raise NotFound(f"{self._where(name)} does not exist; list_vms shows the names that exist")
        if vm.incomplete:
            raise Conflict(
                f"{self._where(name)} was never finished (its create was interrupted): delete it "
                "(action=delete) and create it again"
            )
        if vm.conf is None:
            raise InvalidInput(f"{self._where(name)} has an unusable {vm.home.conf}: {'; '.join(vm.notes)}")
        return vm, vm.conf

    async def disk_users(self, job: Job, vm: Target, paths: list[str]) -> dict[str, list[str]]:
        users: dict[str, list[str]] = {p: [] for p in paths}
        for other in await self._read(job):
            if other.name == vm.name or other.conf is None:
                continue
            for d in other.conf.disks:
                if d.path in users:
                    users[d.path].append(other.name)
        return users

    async def forward_ports(self, job: Job) -> set[int]:
        return recorded_forwards([vm.conf for vm in await self._read(job)])

    # ---- create

    def layout(self, vm_dir: str, name: str) -> tuple[str | None, str]:
        home = Home(vm_dir_of(self.spec, vm_dir), name)
        return home.dir, home.file(DEFAULT_DISK)

    async def prepare_create(self, job: Job, plan: CreatePlan) -> CreateFacts:
        arch = plan.arch
        home = self.home(plan.name)
        if len(home.qmp.encode()) > MAX_SOCKET_PATH:
            raise InvalidInput(
                f"vm_dir {self.vm_dir} is too long: the VM's QMP socket {home.qmp} would exceed the "
                f"{MAX_SOCKET_PATH}-byte limit of a unix socket path; choose a shorter vm_dir or name"
            )
        checks = job.read(f"checking qemu-system-{arch}, qemu-img and /dev/kvm", qemu_host.check_host(arch))
        checked, *fw = await asyncio.gather(checks, *read_firmware(job, arch))
        if checked.exit_status != 0:
            raise job.step_failed(f"checking qemu-system-{arch}", checked)
        facts = parse_key_values(checked.stdout)
        if not facts.get("emulator"):
            raise NotFound(
                f"host '{self.spec.name}' cannot run {arch} guests: qemu-system-{arch} is not installed "
                f"(not on the SSH user's PATH); install the package {EMULATOR_PACKAGE[arch]} on the host"
            )
        if not facts.get("qemu_img"):
            raise NotFound(f"host '{self.spec.name}' has no qemu-img; install the package qemu-utils on the host")
        firmware = pick_firmware(job, self.spec.name, arch, fw)

        async def probe() -> str:
            machine = arches.canonical(facts.get("machine", "")) or facts.get("machine", "?")
            if machine != arch:
                return f"the host is {facts.get('machine') or 'of unknown arch'}: KVM runs only {machine} guests"
            if facts.get("kvm") != "usable":
                why = "does not exist" if facts.get("kvm") == "missing" else "is not readable and writable"
                return f"/dev/kvm {why} for the SSH user (add it to group kvm)"
            return await self._probe_kvm(job, arch)

        accel = await decide_accel(self.verdicts, self.spec, job, arch, self.kind, probe)
        return CreateFacts(accel="kvm" if accel == "kvm" else "qemu", firmware=firmware, nic=plain_nic(plan))

    async def _probe_kvm(self, job: Job, arch: str) -> str:
        """'kvm' when a guest with the host CPU runs for a second under KVM; else why not."""
        result = await job.read(
            "probing KVM with a tiny guest (QMP on stdio, quits after a second)",
            qemu_host.kvm_probe(kvm_probe_argv(arch)),
            timeout=60,
        )
        if result.exit_status == 0 and '"running": true' in result.stdout:
            return "kvm"
        lines = [ln for ln in result.stdout.splitlines() if ln.strip() and not ln.startswith("{")]
        detail = " ".join(" ".join(lines).split())[:300] or f"exit {result.exit_status}"
        return f"a KVM probe guest did not run ({detail})"

    def _new_conf(self, plan: CreatePlan, facts: CreateFacts) -> VmConf:
        home = self.home(plan.name)
        mac = "52:54:00:" + ":".join(f"{b:02x}" for b in secrets.token_bytes(3))
        return VmConf(
            name=plan.name,
            uuid=plan.uuid,
            arch=plan.arch,
            machine=machine_for(plan.arch).machine,
            accel="kvm" if facts.accel == "kvm" else "tcg",
            memory_mib=plan.memory_mib,
            vcpus=plan.vcpus,
            disks=(ConfDisk("vda", plan.disk_path, plan.disk_format, owned=True),),
            iso=plan.iso,
            nics=(conf_nic(plan, plan.provision.mac or mac),),
            **conf_fields(plan),
            firmware_code=facts.firmware[0] if facts.firmware else None,
            firmware_vars=home.file(EFI_VARS) if facts.firmware else None,
            created=datetime.now(UTC).isoformat(timespec="seconds"),
        )

    async def claim(self, job: Job, plan: CreatePlan, facts: CreateFacts) -> None:
        home = self.home(plan.name)
        text = render(self._new_conf(plan, facts))
        facts.config = text
        await job.change(
            f"making the VM directory {home.dir} (with a 'creating' marker)",
            qemu_host.claim(home, text),
            undo=Undo(f"removing the VM directory {home.dir}", qemu_host.unclaim(home)),
        )

    async def define(self, job: Job, plan: CreatePlan, facts: CreateFacts) -> None:
        home = self.home(plan.name)
        if facts.config is None:  # claim was not called (a caller outside the shared flow)
            facts.config = render(self._new_conf(plan, facts))
        if facts.firmware:
            await job.change(
                f"copying the UEFI variable store for '{plan.name}'",
                qemu_host.copy_file(facts.firmware[1], home.file(EFI_VARS)),
            )
        await job.change(f"writing {home.conf}", qemu_host.write_conf(home, facts.config))
        self._planned[plan.name] = parse(facts.config)

    # ---- power

    async def _qmp(
        self, job: Job, name: str, command: str, arguments: dict[str, Any] | None = None, *,
        purpose: str, changes_host: bool = True, timeout: float = QMP_TIMEOUT,
    ) -> Any:  # fmt: skip
        sock = self.home(name).qmp

        async def run() -> Any:
            async with QMPClient.session(job.runner, sock, timeout=QMP_TIMEOUT) as qmp:
                return await qmp.execute(command, arguments, timeout=timeout)

        what = ["qmp", sock, command, *([json.dumps(arguments, sort_keys=True)] if arguments else [])]
        try:
            return await job.act(purpose, what, run, changes_host=changes_host)
        except NotFound as e:
            raise CommandFailed(
                f"step \"{purpose}\" failed on host '{self.spec.name}': {e}; the VM may have just stopped",
                host=self.spec.name,
            ) from None

    async def start(self, job: Job, vm: Target) -> None:
        name = vm.name
        ports_read = job.read("listing the TCP ports in use (VNC display)", qemu_host.tcp_listeners())
        vms, ports_result = await asyncio.gather(self._read(job), ports_read)
        qvm, conf = self._usable(name, job)
        if qvm.alive:
            raise Conflict(f"{self._where(name)} is already running (pid {qvm.pid}); nothing to start")
        home = qvm.home
        if len(home.qmp.encode()) > MAX_SOCKET_PATH:
            raise InvalidInput(f"the QMP socket path {home.qmp} is longer than a unix socket allows")
        free = free_displays(vms, ports_result.stdout)
        if conf.display == "vnc" and not free:
            raise Conflict(f"no free VNC display (5900-{VNC_BASE_PORT + MAX_VNC_DISPLAY}) on host '{self.spec.name}'")
        displays: list[int | None] = list(free[:START_ATTEMPTS]) if conf.display == "vnc" else [None]
        purpose = f"starting '{name}' (qemu-system-{conf.arch}, {'KVM' if conf.accel == 'kvm' else 'TCG'})"
        for i, display in enumerate(displays):
            argv = build_argv(conf, home, vnc_display=display)
            result = await job.change(purpose, argv, timeout=START_TIMEOUT, check=lambda r: None)
            if result is None:  # dry run
                return
            if result.exit_status == 0:
                break
            if not (vnc_taken(result) and i + 1 < len(displays)):
                raise job.step_failed(purpose, result)
            job.note(f"VNC display :{display} was taken meanwhile; trying :{displays[i + 1]}")
        job.push_undo(Undo(f"stopping '{name}' again (SIGKILL)", qemu_host.kill(home, conf.uuid)))
        status = await self._qmp(job, name, "query-status", purpose=f"confirming '{name}' runs (QMP)",
                                 changes_host=False)  # fmt: skip
        state = status.get("status") if isinstance(status, dict) else None
        if state != RUNNING:
            raise CommandFailed(f"{self._where(name)} was started but QMP reports '{state}'", host=self.spec.name)

    async def shutdown(self, job: Job, vm: Target) -> None:
        name = vm.name
        await self._qmp(job, name, "system_powerdown", purpose=f"asking '{name}' to shut down (ACPI, QMP)")

    async def power_off(self, job: Job, vm: Target) -> None:
        name = vm.name
        home = self.home(name)
        wait = QUIT_WAIT
        try:
            await self._qmp(job, name, "quit", purpose=f"powering off '{name}' (QMP quit)")
        except HostUnreachable:
            pass  # qemu may close the socket before its answer arrives: the wait below tells
        except QemuMcpError as e:
            job.note(f"QMP quit did not work ({e}): the process is killed instead")
            wait = 0
        if job.dry_run:
            job.note(f"would SIGKILL the qemu process if it still ran {QUIT_WAIT:g} s after QMP quit")
            return
        deadline = time.monotonic() + wait
        while True:
            if await self.status(job, vm) == "stopped":
                return
            if time.monotonic() >= deadline:
                break
            await asyncio.sleep(POLL)
        known = self._vms.get(name)
        uuid = known.conf.uuid if known is not None and known.conf is not None else None
        await job.change(f"killing the qemu process of '{name}' (SIGKILL)", qemu_host.kill(home, uuid))

    async def reset(self, job: Job, vm: Target) -> None:
        name = vm.name
        await self._qmp(job, name, "system_reset", purpose=f"resetting '{name}' (QMP system_reset)")

    async def reboot(self, job: Job, vm: Target, timeout: float) -> bool:
        """Plain QEMU has no ACPI reboot request: power down (ACPI), wait for qemu to exit, start."""
        name = vm.name
        await self.shutdown(job, vm)
        if job.dry_run:
            job.note(f"would wait up to {timeout:g} s for the guest to power off, then start it again")
            await self.start(job, vm)
            return True
        start = time.monotonic()
        while await self.status(job, vm) != "stopped":
            elapsed = time.monotonic() - start
            if elapsed >= timeout:
                return False
            await job.report(elapsed, timeout, f"waiting for '{name}' to power off ({elapsed:.0f}/{timeout:.0f} s)")
            await asyncio.sleep(min(POLL * 2, timeout - elapsed))
        await self.start(job, vm)
        return True

    # ---- configuration

    async def undefine(self, job: Job, vm: VmState) -> None:
        home = self.home(vm.name)
        await job.change(f"removing the configuration and runtime files of '{vm.name}'",
                         qemu_host.remove_own_files(home))  # fmt: skip

    async def remove_leftovers(self, job: Job, vm: VmState) -> None:
        home = self.home(vm.name)
        result = await job.change(f"removing the VM directory {home.dir}", qemu_host.remove_dir_if_empty(home))
        left = result.stdout.split() if result is not None else []
        if left:
            job.note(f"kept the directory {home.dir}: it holds files qemu-mcp did not make ({', '.join(left[:10])})")

    async def _write(self, job: Job, name: str, new: VmConf, purpose: str) -> None:
        vm, conf = self._usable(name)
        old_text = vm.conf_text or render(conf)
        text = render(new)
        await job.change(
            purpose,
            qemu_host.write_conf(vm.home, text),
            undo=Undo(f"restoring {vm.home.conf}", qemu_host.write_conf(vm.home, old_text)),
        )
        vm.conf, vm.conf_text = new, text

    async def set_memory(self, job: Job, vm: VmState, mib: int) -> None:
        _, conf = self._usable(vm.name)
        await self._write(job, vm.name, conf.with_(memory_mib=mib),
                          f"setting the memory of '{vm.name}' to {mib} MiB (vm.conf)")  # fmt: skip

    async def set_vcpus(self, job: Job, vm: VmState, count: int) -> None:
        _, conf = self._usable(vm.name)
        await self._write(job, vm.name, conf.with_(vcpus=count), f"setting '{vm.name}' to {count} vCPU(s) (vm.conf)")

    async def resize_disk_live(self, job: Job, vm: VmState, disk: VmDisk, size_bytes: int) -> None:
        purpose = f"growing {disk.target} of the running '{vm.name}' to {size_bytes} bytes (QMP)"
        await self._qmp(job, vm.name, "block_resize", {"node-name": disk.target, "size": size_bytes}, purpose=purpose)
