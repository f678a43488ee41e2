"""Clone on a plain-QEMU host: the source's vm.conf, rewritten for the clone (name, UUID, new MACs,
disk paths as qcow2 disks the clone owns, its own copy of the UEFI variables; issue 11: its own
seed ISO `<vm_dir>/<name>/seed.iso` when cloud_init is given, never the source's seed or Ignition
file, and a user-mode NIC's SSH forward (`nic.N.ssh_forward`) on a new port), written
like create writes it: the clone's directory claimed first with a 'creating' marker (undone by
removing it), vm.conf at the end."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime

from qemu_mcp import validation
from qemu_mcp.backends.clone_plan import ClonePlan, is_seed
from qemu_mcp.backends.job import Job, Undo
from qemu_mcp.backends.provision import new_mac
from qemu_mcp.backends.qemu import scripts as qemu_host
from qemu_mcp.backends.qemu.vmconf import EFI_VARS, ConfDisk, ConfError, ConfNic, Home, VmConf, parse, render
from qemu_mcp.errors import InvalidInput


def clone_conf(source: VmConf, plan: ClonePlan, home: Home) -> VmConf:
    disks = tuple(
        ConfDisk(d.target, plan.new_path(d.path) or d.path, "qcow2" if plan.new_path(d.path) else d.format,
                 owned=plan.new_path(d.path) is not None)
        for d in source.disks
    )  # fmt: skip
    return source.with_(
        name=plan.name,
        uuid=plan.uuid,
        disks=disks,
        iso=None if is_seed(source.iso) else source.iso,
        nics=tuple(_nic(n, plan) for n in source.nics),
        seed=plan.new_seed,  # the clone's own, or none: never the source's file
        ignition=None,  # the source's Ignition file: the clone's disk was provisioned already
        firmware_vars=home.file(EFI_VARS) if source.firmware_vars else None,
        created=datetime.now(UTC).isoformat(timespec="seconds"),
    )


def _nic(nic: ConfNic, plan: ClonePlan) -> ConfNic:
    """A new MAC; a user-mode NIC's SSH forward on the clone's own port."""
    if nic.ssh_forward and not plan.forward_port:
        raise ValueError("a clone of a VM with an SSH forward needs a new port")
    return replace(nic, mac=new_mac(), ssh_forward=plan.forward_port if nic.ssh_forward else None)


def forwarded(conf: VmConf) -> bool:
    return any(n.ssh_forward for n in conf.nics)


class QemuCloner:
    def __init__(self, vm_dir: str, host: str) -> None:
        self.vm_dir = vm_dir
        self.host = host
        self.source: VmConf | None = None
        self.text = ""
        self.forward: int | None = None  # the clone's SSH-forward port, when the source has a forward

    async def claim(self, job: Job, plan: ClonePlan) -> str:
        src_home, home = Home(self.vm_dir, plan.source.name), Home(self.vm_dir, plan.name)
        purpose = f"reading {src_home.conf}"
        result = await job.read(purpose, ["cat", "--", validation.abs_path(src_home.conf)])
        if result.exit_status != 0:
            raise job.step_failed(purpose, result)
        try:
            self.source = parse(result.stdout)
        except ConfError as e:
            raise InvalidInput(f"{src_home.conf} on host '{self.host}' is unusable: {e}") from None
        self.text = render(clone_conf(self.source, plan, home))
        self.forward = plan.forward_port if forwarded(self.source) else None
        await job.change(
            f"making the VM directory {home.dir} (with a 'creating' marker)",
            qemu_host.claim(home, self.text),
            undo=Undo(f"removing the VM directory {home.dir}", qemu_host.unclaim(home)),
        )
        return self.text

    async def define(self, job: Job, plan: ClonePlan) -> str:
        assert self.source is not None
        home = Home(self.vm_dir, plan.name)
        if self.source.firmware_vars:
            await job.change(f"copying the UEFI variable store of '{plan.source.name}'",
                             qemu_host.copy_file(self.source.firmware_vars, home.file(EFI_VARS)))  # fmt: skip
        await job.change(f"writing {home.conf}", qemu_host.write_conf(home, self.text))
        return self.text
