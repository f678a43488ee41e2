"""manage_vm add_disk / remove_disk on libvirt: attach-device and detach-disk by UUID, live and
persistent, or persistent only when the running guest cannot take the change (mixed into LibvirtBackend)."""

from __future__ import annotations

import asyncio
import time

from qemu_mcp.backends.base import LIVE, PERSISTENT, VmDisk, VmState
from qemu_mcp.backends.job import Job, Undo
from qemu_mcp.backends.libvirt import disks, virsh
from qemu_mcp.backends.libvirt.errors import batch_check
from qemu_mcp.config import HostSpec
from qemu_mcp.disk_spec import NewDisk
from qemu_mcp.errors import CommandFailed


class DiskPlug:
    spec: HostSpec

    def _virsh(self, *commands: list[str], marker: str | None = None) -> list[str]:
        return virsh.virsh(self.spec.libvirt_uri, list(commands), marker)

    async def _change(
        self, job: Job, purpose: str, *commands: list[str], stdin: str | None = None, undo: Undo | None = None
    ) -> None:
        """A virsh change whose failure names the step, and says so when libvirtd did not answer."""
        check = batch_check(job, self.spec, purpose)
        await job.change(purpose, self._virsh(*commands), stdin=stdin, undo=undo, check=check)

    async def attach_disk(self, job: Job, vm: VmState, disk: NewDisk, *, live: bool) -> str:
        where = "the running guest and its definition" if live else "the definition"
        undo = Undo(f"detaching {disk.target} again", self._virsh(disks.detach_disk(vm.uuid, disk.target, live=live)))
        try:
            purpose = f"attaching {disk.path} as {disk.target} ({disk.bus}) to {where} of '{vm.name}'"
            xml = disks.disk_xml(disk)
            await self._change(job, purpose, disks.attach_device(vm.uuid, live=live), stdin=xml, undo=undo)
        except CommandFailed as e:
            if not live or disks.NO_SLOT not in (e.stderr or ""):
                raise
            job.note(f"the running '{vm.name}' has no free PCI slot for a hot-plugged disk: {disk.target} is added "
                     "to its definition and appears at its next start")  # fmt: skip
            return await self.attach_disk(job, vm, disk, live=False)
        return LIVE if live else PERSISTENT

    async def detach_disk(self, job: Job, vm: VmState, disk: VmDisk, *, live: bool, timeout: float) -> bool:
        where = "the running guest and its definition" if live else "the definition"
        await self._change(job, f"detaching {disk.target} from {where} of '{vm.name}'",
                           disks.detach_disk(vm.uuid, disk.target, live=live))  # fmt: skip
        if not live or job.dry_run:
            return True
        deadline = time.monotonic() + timeout
        while True:  # virsh waited 5 s already; a guest without an OS never releases a PCI disk
            result = await job.read(f"checking the running '{vm.name}' released {disk.target}",
                                    self._virsh(virsh.dumpxml(vm.uuid)))  # fmt: skip
            batch_check(job, self.spec, "reading the live definition")(result)
            if not disks.has_target(result.stdout, disk.target):
                return True
            if time.monotonic() >= deadline:
                return False
            await asyncio.sleep(1.0)
