"""Recording files qemu-mcp makes for an existing libvirt VM (a disk added later, a seed ISO, a base
image) in its <metadata> list (backends.libvirt.metadata), so delete removes them too; and
forgetting one that was removed or handed back to the user. A create records its files itself, in
the definition (CreatePlan.made_files).

Read, change, write: `virsh metadata --uri NS --config` prints our element, `--set` replaces it
(persistent definition, and the running one when the VM runs). Callers hold the VM's lock. A VM
without a list (made before qemu-mcp kept one, or not by qemu-mcp) gets none: a list would turn its
older disks into disks qemu-mcp did not create, which delete then keeps."""

from __future__ import annotations

from qemu_mcp.backends.base import Target
from qemu_mcp.backends.job import Job
from qemu_mcp.backends.libvirt import metadata, virsh
from qemu_mcp.backends.libvirt.errors import raise_if_unusable
from qemu_mcp.config import HostSpec

NOT_FOUND = "metadata not found"


class CreatedFiles:
    """Mixed into LibvirtBackend."""

    spec: HostSpec

    async def _created(self, job: Job, vm: Target) -> tuple[str, metadata.Created] | None:
        purpose = f"reading what qemu-mcp recorded for '{vm.name}'"
        get = ["metadata", "--domain", vm.uuid, "--uri", metadata.NS, "--config"]
        result = await job.read(purpose, virsh.virsh(self.spec.libvirt_uri, [get]))
        if result.exit_status != 0:
            if NOT_FOUND in result.stderr:
                return None
            raise_if_unusable(result, self.spec)
            raise job.step_failed(purpose, result)
        state, created = metadata.printed(result.stdout)
        return (state or metadata.CREATED, created) if created is not None else None

    async def _write(
        self, job: Job, vm: Target, purpose: str, state: str, created: metadata.Created, live: bool
    ) -> None:
        argv = virsh.virsh(self.spec.libvirt_uri, [metadata.set_command(vm.uuid, state, created, live=live)])
        await job.change(purpose, argv)

    async def record_created(self, job: Job, vm: Target, kind: str, path: str, *, live: bool) -> bool:
        """Add `path` as a file of `kind` (metadata.KINDS) qemu-mcp made for `vm`; False (and a note)
        when the VM keeps no list. `live`: the VM runs (its live definition gets it too)."""
        found = await self._created(job, vm)
        if found is None:
            job.note(f"'{vm.name}' has no list of the files qemu-mcp made (created before it was kept): {path} "
                     "is not recorded, and delete treats it as it treats the VM's other disks")  # fmt: skip
            return False
        state, created = found
        if created.with_file(kind, path) != created:
            purpose = f"recording {path} as made by qemu-mcp for '{vm.name}' (<metadata>)"
            await self._write(job, vm, purpose, state, created.with_file(kind, path), live)
        return True

    async def forget_created(self, job: Job, vm: Target, path: str, *, live: bool) -> None:
        """Drop `path` from the list (removed, or kept for the user: delete must then leave it)."""
        found = await self._created(job, vm)
        if found is None or path not in found[1].paths:
            return
        state, created = found
        rest = created.without(path)
        await self._write(job, vm, f"forgetting {path} in the <metadata> of '{vm.name}'", state, rest, live)
