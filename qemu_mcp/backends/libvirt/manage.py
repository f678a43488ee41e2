"""The libvirt backend of manage_vm: virsh commands behind `backends.base.VmBackend`.

Acceleration (create): KVM only when libvirt reports KVM for the arch AND a probe guest
(transient, paused, destroyed when its virsh exits) really starts with it; otherwise TCG.
libvirt can report KVM while its qemu user cannot open /dev/kvm (containers, CI). The
probe's answer is kept per host and arch for the life of the Fleet. `accel: tcg|kvm` in
hosts.yaml skips the probe / insists on KVM.
"""

from __future__ import annotations

import asyncio
import math
import re
import secrets

from lxml import etree

from qemu_mcp.backends.accel import AccelVerdicts, decide_accel
from qemu_mcp.backends.base import BackendDefaults, CreateFacts, CreatePlan, Target, VmDisk, VmState
from qemu_mcp.backends.firmware import EMULATOR_PACKAGE, pick_firmware, read_firmware
from qemu_mcp.backends.job import Job, Undo, failure_detail
from qemu_mcp.backends.libvirt import metadata, target, virsh, waits
from qemu_mcp.backends.libvirt import provision as lv_provision
from qemu_mcp.backends.libvirt.backing_users import backing_users, qcow2_disks
from qemu_mcp.backends.libvirt.created_files import CreatedFiles
from qemu_mcp.backends.libvirt.disk_plug import DiskPlug
from qemu_mcp.backends.libvirt.domain_xml_builder import DomainSpec, Firmware, build_domain_xml, build_kvm_probe_xml
from qemu_mcp.backends.libvirt.errors import (
    NOT_FOUND_MARKS,
    batch_check,
    raise_if_unusable,
    virsh_errors,
)
from qemu_mcp.backends.libvirt.states import vm_status
from qemu_mcp.backends.libvirt.storage_pool import PoolDisks
from qemu_mcp.backends.machines import machine_for
from qemu_mcp.config import HostSpec
from qemu_mcp.errors import NotFound
from qemu_mcp.models import VmStatus
from qemu_mcp.parsers.domain_xml import parse_domain_xml
from qemu_mcp.parsers.dominfo import flag, parse_dominfo
from qemu_mcp.parsers.sections import new_marker, split_sections
from qemu_mcp.parsers.virsh_list import parse_name_lines
from qemu_mcp.transport.base import CommandResult

_PARSER = etree.XMLParser(resolve_entities=False, no_network=True, huge_tree=False)
DEFAULT_NETWORK = "default"


def vm_disks(root: etree._Element, created: metadata.Created | None = None) -> tuple[VmDisk, ...]:
    """The domain's disks; with the files its <metadata> says qemu-mcp created, only those are its own
    (`created`); without (made before that list was kept, or not by qemu-mcp), every one is."""
    disks = []
    for node in root.findall("devices/disk"):
        target, source, driver = node.find("target"), node.find("source"), node.find("driver")
        if target is None or not target.get("dev"):
            continue
        path = None
        if source is not None:
            path = source.get("file") or source.get("dev") or source.get("name") or source.get("volume")
        disks.append(
            VmDisk(
                target=target.get("dev", ""),
                path=path,
                format=driver.get("type") if driver is not None else None,
                device=node.get("device", "disk"),
                file_backed=node.get("type", "file") == "file",
                readonly=node.find("readonly") is not None,
                shareable=node.find("shareable") is not None,
                created=created is None or path in created.paths or created.made_disk(path),
            )
        )
    return tuple(disks)


def referenced_files(root: etree._Element) -> set[str]:
    """Every file a domain's disks use, backing files included (a live dump lists the chain)."""
    return {s.get("file", "") for s in root.iterfind("devices/disk//source") if s.get("file")}


class LibvirtBackend(DiskPlug, PoolDisks, CreatedFiles, BackendDefaults):
    kind = "libvirt"

    def __init__(self, verdicts: AccelVerdicts, spec: HostSpec) -> None:
        self.verdicts = verdicts
        self.spec = spec

    # ---- reading

    async def inspect(self, job: Job, name: str) -> VmState | None:
        marker, slot = new_marker(), virsh.UUID_SLOT
        commands = [virsh.dumpxml_inactive(slot), virsh.domstate(slot), virsh.dominfo(slot)]
        result = await job.read(f"reading '{name}'", target.by_name(self.spec.libvirt_uri, name, commands, marker))
        uuid, out = target.split_uuid(result.stdout)
        xml, state_s, info_s = split_sections(out, marker, 3)
        if uuid is None or not xml.strip():
            if any(m in result.stderr for m in NOT_FOUND_MARKS):
                return None
            raise_if_unusable(result, self.spec)
            raise job.step_failed(f"reading '{name}'", result)
        root = etree.fromstring(xml.encode(), _PARSER)
        d = parse_domain_xml(xml)
        created = metadata.created_files(xml)
        disks = vm_disks(root, created)
        used_as_disk = {d.path for d in disks if d.device == "disk"}  # the others: seeds, base images, detached
        state = state_s.strip().splitlines()[0].strip() if state_s.strip() else "unknown"
        persistent = flag(parse_dominfo(info_s), "persistent")
        return VmState(
            name=d.name,
            status=vm_status(state),
            state=state,
            uuid=uuid,
            persistent=persistent is not False,
            arch=d.arch,
            machine=d.machine,
            domain_type=d.domain_type,
            vcpus=d.vcpus,
            memory_mib=d.memory_mib,
            disks=disks,
            created_files=tuple(p for p in created.paths if p not in used_as_disk) if created else (),
            extra={
                "max_vcpus": str(d.max_vcpus or d.vcpus or ""),
                "max_memory_mib": str(d.max_memory_mib or d.memory_mib or ""),
                # pflash: UEFI with NVRAM, which refuses internal snapshots (backends.libvirt.snapshot)
                "loader": next((n.get("type", "") for n in root.iterfind("os/loader")), ""),
                **lv_provision.state_extra(xml),
            },
        )

    async def status(self, job: Job, vm: Target) -> VmStatus:
        purpose = f"polling the state of '{vm.name}'"
        result = await job.read(purpose, self._virsh(virsh.domstate(vm.uuid)), record=False)
        if result.exit_status != 0:
            if any(m in result.stderr for m in NOT_FOUND_MARKS):
                raise NotFound(f"VM '{vm.name}' on host '{self.spec.name}' disappeared")
            raise job.step_failed(purpose, result)
        return vm_status(result.stdout.strip())

    async def disk_users(self, job: Job, vm: Target, paths: list[str]) -> dict[str, list[str]]:
        purpose = "listing the other VMs on the host"
        listed = await job.read(purpose, self._virsh(virsh.list_uuids()))
        batch_check(job, self.spec, purpose)(listed)
        uuids = parse_name_lines(listed.stdout)
        users: dict[str, list[str]] = {p: [] for p in paths}
        if not uuids:
            return users
        marker = new_marker()
        dumped = await job.read(
            "reading the other VMs' disks", self._virsh(*(virsh.dumpxml(u) for u in uuids), marker=marker)
        )
        qcow2: dict[str, list[str]] = {}  # other VM -> its qcow2 disks (a base image may be below one)
        for xml in split_sections(dumped.stdout, marker, len(uuids)):
            if not xml.strip():
                continue  # undefined meanwhile
            root = etree.fromstring(xml.encode(), _PARSER)
            other = root.findtext("name") or "?"
            if root.findtext("uuid") == vm.uuid:
                continue
            qcow2[other] = qcow2_disks(root)
            also = metadata.created_files(xml)  # a base image another qemu-mcp VM was made from
            for path in (referenced_files(root) | set(also.paths if also else ())) & users.keys():
                users[path].append(other)
        # Files qemu-mcp made besides disks (base images): also below a shut-off VM's disk?
        made = vm.created_files if isinstance(vm, VmState) else ()
        bases = set(made) & {p for p, u in users.items() if not u}
        for path, below in (await backing_users(job, qcow2, bases)).items():
            users[path] += below
        return users

    async def forward_ports(self, job: Job) -> set[int]:
        purpose = "reading the other VMs' SSH forwards"
        listed = await job.read(purpose, self._virsh(virsh.list_uuids()))
        uuids = parse_name_lines(listed.stdout) if listed.exit_status == 0 else []
        if not uuids:
            return set()
        marker = new_marker()
        dumped = await job.read(purpose, self._virsh(*(virsh.dumpxml(u) for u in uuids), marker=marker))
        return lv_provision.forward_ports(split_sections(dumped.stdout, marker, len(uuids)))

    # ---- create

    async def prepare_create(self, job: Job, plan: CreatePlan) -> CreateFacts:
        arch, machine = plan.arch, machine_for(plan.arch).machine
        marker = new_marker()
        choice = plan.provision.network
        net_name = choice.name if choice is not None and choice.kind == "network" else DEFAULT_NETWORK
        batch = self._virsh(
            virsh.net_info(net_name or DEFAULT_NETWORK),
            virsh.domcapabilities("qemu", arch, machine),
            virsh.domcapabilities("kvm", arch, machine),
            marker=marker,
        )
        checks = job.read(f"checking the {arch} emulator, KVM and the '{net_name}' network", batch)
        result, *fw = await asyncio.gather(checks, *read_firmware(job, arch))
        raise_if_unusable(result, self.spec)
        net_s, tcg_s, kvm_s = split_sections(result.stdout, marker, 3)
        if not tcg_s.strip():
            raise NotFound(
                f"host '{self.spec.name}' cannot run {arch} guests: libvirt finds no usable "
                f"qemu-system-{arch} ({' '.join(virsh_errors(result)) or 'no capabilities'}); "
                f"install the package {EMULATOR_PACKAGE[arch]} on the host"
            )
        active = bool(re.search(r"^Active:\s*yes\s*$", net_s, re.M))
        nic = lv_provision.resolve_network(job, self.spec.name, choice, net_name or DEFAULT_NETWORK, active)
        firmware = pick_firmware(job, self.spec.name, arch, fw)
        accel = await self._accel(job, arch, kvm_offered=bool(kvm_s.strip()))
        network = nic.name if nic.kind == "network" else None
        return CreateFacts(accel=accel, network=network, firmware=firmware, nic=nic)

    async def _accel(self, job: Job, arch: str, *, kvm_offered: bool) -> str:
        async def probe() -> str:
            if not kvm_offered:
                return f"libvirt offers no KVM for {arch} on this host"
            return await self._probe_kvm(job, arch)

        accel = await decide_accel(self.verdicts, self.spec, job, arch, self.kind, probe)
        return "kvm" if accel == "kvm" else "qemu"

    async def _probe_kvm(self, job: Job, arch: str) -> str:
        """'kvm' when a paused transient KVM guest starts; else why not."""
        name = f"qmcp-kvm-probe-{secrets.token_hex(4)}"
        result = await job.read(
            "probing KVM with a paused transient guest (destroyed when virsh exits)",
            self._virsh(virsh.create_from_stdin_paused_autodestroy()),
            stdin=build_kvm_probe_xml(name, arch),
            timeout=60,
        )
        if result.exit_status == 0 and not virsh_errors(result):
            return "kvm"
        return f"a KVM probe guest did not start ({failure_detail(result)})"

    def _xml(self, plan: CreatePlan, facts: CreateFacts, state: str) -> str:
        return build_domain_xml(
            DomainSpec(
                name=plan.name,
                uuid=plan.uuid,
                state=state,
                arch=plan.arch,
                accel="kvm" if facts.accel == "kvm" else "qemu",
                memory_mib=plan.memory_mib,
                vcpus=plan.vcpus,
                disk_path=plan.disk_path,
                disk_format=plan.disk_format,
                iso=plan.iso,
                network=facts.network,
                firmware=Firmware(*facts.firmware) if facts.firmware else None,
                created=metadata.Created(((metadata.DISK, plan.disk_path), *plan.made_files)),
                **lv_provision.domain_fields(plan, facts),
            )
        )

    async def claim(self, job: Job, plan: CreatePlan, facts: CreateFacts) -> None:
        """Define the domain first, marked as being created (backends.libvirt.metadata), under the
        UUID chosen for it: whatever happens next, the host says what this create left."""
        await self._change(
            job,
            f"defining '{plan.name}' (marked as being created)",
            virsh.define_from_stdin(),
            stdin=self._xml(plan, facts, metadata.CREATING),
            undo=Undo(
                f"removing the definition of '{plan.name}'",
                self._virsh(virsh.undefine(plan.uuid)),
                probe=self._virsh(virsh.dominfo(plan.uuid)),
                leftover=f"the domain '{plan.name}' (uuid {plan.uuid})",
            ),
        )

    async def define(self, job: Job, plan: CreatePlan, facts: CreateFacts) -> None:
        """The final definition (same UUID: libvirt updates the one `claim` made), marked created."""
        facts.xml = self._xml(plan, facts, metadata.CREATED)
        await self._change(job, f"defining '{plan.name}'", virsh.define_from_stdin(), stdin=facts.xml)

    # ---- power

    async def start(self, job: Job, vm: Target) -> None:
        await self._change(job, f"starting '{vm.name}'", virsh.start(vm.uuid))

    async def shutdown(self, job: Job, vm: Target) -> None:
        await self._change(job, f"asking '{vm.name}' to shut down (ACPI)", virsh.shutdown(vm.uuid))

    async def power_off(self, job: Job, vm: Target) -> None:
        await self._change(job, f"powering off '{vm.name}'", virsh.destroy(vm.uuid))

    async def reset(self, job: Job, vm: Target) -> None:
        await self._change(job, f"resetting '{vm.name}'", virsh.reset(vm.uuid))

    async def reboot(self, job: Job, vm: Target, timeout: float) -> bool:
        # The listener starts before the request (backends.libvirt.waits).
        seconds = math.ceil(timeout)
        purpose = f"asking '{vm.name}' to reboot (ACPI) and waiting up to {seconds} s for it"
        argv = waits.reboot_and_wait(self.spec.libvirt_uri, vm.uuid, seconds)

        def check(result: CommandResult) -> None:
            if virsh_errors(result):  # the event wait itself exits 1 on timeout, without an error line
                raise job.step_failed(purpose, result)

        if job.dry_run:
            await job.change(purpose, argv)
            return True
        async with job.ticking(seconds, f"waiting for '{vm.name}' to reboot"):
            result = await job.change(purpose, argv, timeout=seconds + 30, check=check)
        assert result is not None
        return "event 'reboot'" in result.stdout

    async def wait_stopped(self, job: Job, vm: Target, timeout: float) -> bool:
        """One command on the host waits on the domain's life-cycle events (no poll per SSH exec)."""
        seconds = math.ceil(timeout)
        purpose = f"waiting up to {seconds} s for '{vm.name}' to shut down"
        async with job.ticking(seconds, f"waiting for '{vm.name}' to shut down"):
            result = await job.read(purpose, waits.wait_stopped(self.spec.libvirt_uri, vm.uuid, seconds),
                                    timeout=seconds + 30)  # fmt: skip
        if result.exit_status != 0:
            raise job.step_failed(purpose, result)
        return result.stdout.strip() in ("stopped", "gone")

    # ---- definition

    async def undefine(self, job: Job, vm: VmState) -> None:
        if not vm.persistent:
            job.note(f"'{vm.name}' is transient: it has no definition left once powered off")
            return
        await self._change(job, f"removing the definition of '{vm.name}'", virsh.undefine(vm.uuid))

    async def set_memory(self, job: Job, vm: VmState, mib: int) -> None:
        purpose = f"setting the memory of '{vm.name}' to {mib} MiB (persistent configuration)"
        old_max = int(vm.extra.get("max_memory_mib") or vm.memory_mib or 0)
        undo = None
        if vm.memory_mib and old_max:
            undo = Undo(
                f"restoring the memory of '{vm.name}' to {vm.memory_mib} MiB",
                self._virsh(
                    virsh.set_max_memory_config(vm.uuid, old_max * 1024),
                    virsh.set_memory_config(vm.uuid, vm.memory_mib * 1024),
                ),
            )
        await self._change(
            job,
            purpose,
            virsh.set_max_memory_config(vm.uuid, mib * 1024),
            virsh.set_memory_config(vm.uuid, mib * 1024),
            undo=undo,
        )

    async def set_vcpus(self, job: Job, vm: VmState, count: int) -> None:
        purpose = f"setting '{vm.name}' to {count} vCPU(s) (persistent configuration)"
        old_max = int(vm.extra.get("max_vcpus") or vm.vcpus or 0)
        undo = None
        if vm.vcpus and old_max:
            undo = Undo(
                f"restoring '{vm.name}' to {vm.vcpus} vCPU(s)",
                self._virsh(virsh.set_max_vcpus_config(vm.uuid, old_max), virsh.set_vcpus_config(vm.uuid, vm.vcpus)),
            )
        # The maximum first: raising the count above it is refused, lowering it lowers the count.
        await self._change(
            job, purpose, virsh.set_max_vcpus_config(vm.uuid, count), virsh.set_vcpus_config(vm.uuid, count), undo=undo
        )

    async def resize_disk_live(self, job: Job, vm: VmState, disk: VmDisk, size_bytes: int) -> None:
        await self._change(
            job, f"growing {disk.target} of the running '{vm.name}' to {size_bytes} bytes",
            virsh.blockresize(vm.uuid, disk.target, size_bytes),
        )  # fmt: skip
        await self.files_changed(job, [disk.path] if disk.path else [])
