"""manage_snapshot on libvirt hosts: virsh snapshot-create-as / snapshot-list / snapshot-revert /
snapshot-delete, every one addressing the VM's UUID, the snapshot's name only ever the value of
--name / --snapshotname (virsh takes the next word as that value, even one starting with '-').

- Internal snapshots (inside the qcow2 images; a running VM's memory too) wherever libvirt takes
  them. A VM that boots UEFI from pflash (aarch64 here) refuses them ("internal snapshots of a VM
  with pflash based firmware are not supported"): it gets an external disk-only snapshot (each
  disk continues in an overlay file beside its image) and the answer says so.
- libvirt before 9.7 cannot revert to an external snapshot. For a shut-off VM whose newest
  snapshot it is, qemu-mcp does what newer libvirt does: a fresh overlay on the same backing
  image for each disk, and the definition the snapshot saved, pointing at the overlays.
- Listing is two round trips: the names and `snapshot-list --tree`, then `snapshot-info` and
  `snapshot-dumpxml` of every snapshot in ONE virsh process.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from lxml import etree

from qemu_mcp import validation
from qemu_mcp.backends.base import VmState
from qemu_mcp.backends.job import Check, Job
from qemu_mcp.backends.libvirt import virsh
from qemu_mcp.backends.libvirt.errors import raise_if_unusable
from qemu_mcp.backends.libvirt.manage import batch_check
from qemu_mcp.backends.snapshots import NewSnapshot, SnapshotListing, memory_refused, snapshot_disks
from qemu_mcp.config import HostSpec
from qemu_mcp.errors import CommandFailed, Conflict, InvalidInput
from qemu_mcp.host import qemu_img
from qemu_mcp.models import SnapshotInfo
from qemu_mcp.parsers.sections import new_marker, split_sections
from qemu_mcp.parsers.snapshot_xml import LibvirtSnapshot, parse_snapshot_info, parse_snapshot_xml
from qemu_mcp.parsers.virsh_list import parse_name_lines
from qemu_mcp.transport.base import CommandResult

_PARSER = etree.XMLParser(resolve_entities=False, no_network=True, huge_tree=False)
_TARGET = re.compile(r"[a-z][a-z0-9]*")
EXTERNAL_REVERT_UNSUPPORTED = "revert to external snapshot not supported"
PFLASH_WORDS = (
    "external disk-only (the VM boots UEFI from pflash, for which libvirt refuses internal snapshots): "
    "each disk now continues in an overlay file beside its image; its memory and UEFI variables are not in it"
)


# ---- argv words for virsh (each command names the domain by its UUID)


def _domain(uuid: str) -> list[str]:
    return ["--domain", validation.domain_uuid(uuid)]


_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


def _snapshot(name: str) -> list[str]:
    """A name a user gave is validated (validation.snapshot_name) before it gets here; a name virsh
    listed may be anything libvirt allows (even '-x'), and is still only --snapshotname's value."""
    if not name or _CONTROL.search(name):
        raise ValueError(f"unusable snapshot name {name!r}")
    return ["--snapshotname", name]


def create_as(
    uuid: str, new: NewSnapshot, external_disks: Sequence[str] | None = None, skip: Sequence[str] = ()
) -> list[str]:
    """`snapshot-create-as`: internal (external_disks None), or external disk-only for those targets
    (the others, CD-ROMs and read-only disks, are left out)."""
    argv = ["snapshot-create-as", *_domain(uuid), "--name", validation.new_snapshot_name(new.name), "--atomic"]
    if new.description:
        argv += ["--description", validation.snapshot_description(new.description)]
    if external_disks is not None:
        argv.append("--disk-only")
        for target, how in [*((t, "external") for t in external_disks), *((t, "no") for t in skip)]:
            if not _TARGET.fullmatch(target):
                raise ValueError(f"unexpected disk target {target!r}")
            argv += ["--diskspec", f"{target},snapshot={how}"]
    return argv


def list_names(uuid: str) -> list[str]:
    return ["snapshot-list", *_domain(uuid), "--name", "--topological"]


def list_tree(uuid: str) -> list[str]:
    return ["snapshot-list", *_domain(uuid), "--tree"]


def info(uuid: str, name: str) -> list[str]:
    return ["snapshot-info", *_domain(uuid), *_snapshot(name)]


def dumpxml(uuid: str, name: str) -> list[str]:
    return ["snapshot-dumpxml", *_domain(uuid), *_snapshot(name)]


def revert(uuid: str, name: str) -> list[str]:
    return ["snapshot-revert", *_domain(uuid), *_snapshot(name)]


def delete(uuid: str, name: str) -> list[str]:
    """Only this snapshot: its children (if any) are re-parented to its parent."""
    return ["snapshot-delete", *_domain(uuid), *_snapshot(name)]


def snapshot_info(snap: LibvirtSnapshot, current: bool | None) -> SnapshotInfo:
    return SnapshotInfo(
        name=snap.name, created=snap.created, parent=snap.parent, state=snap.state, description=snap.description,
        memory=snap.memory != "no", location="external" if snap.external else "internal", current=current,
        disks=snap.saved_disks,
    )  # fmt: skip


class LibvirtSnapshots:
    def __init__(self, spec: HostSpec) -> None:
        self.spec = spec
        self._read: dict[str, LibvirtSnapshot] = {}  # what the last listing showed, by name

    def _virsh(self, *commands: list[str], marker: str | None = None) -> list[str]:
        return virsh.virsh(self.spec.libvirt_uri, list(commands), marker)

    async def _read_batch(self, job: Job, purpose: str, commands: list[list[str]], *, strict: bool = True) -> list[str]:
        """One virsh process; strict: any failed command fails the step, else only an unusable libvirtd
        does (a failed command's section is then '')."""
        marker = new_marker()
        result = await job.read(purpose, self._virsh(*commands, marker=marker))
        if strict:
            batch_check(job, self.spec, purpose)(result)
        else:
            raise_if_unusable(result, self.spec)
        return split_sections(result.stdout, marker, len(commands))

    async def listing(self, job: Job, vm: VmState) -> SnapshotListing:
        names_s, tree = await self._read_batch(
            job, f"listing the snapshots of '{vm.name}'", [list_names(vm.uuid), list_tree(vm.uuid)]
        )
        names = [n for n in parse_name_lines(names_s) if not _CONTROL.search(n)]
        if not names:
            return SnapshotListing([], None)
        commands = [c for n in names for c in (info(vm.uuid, n), dumpxml(vm.uuid, n))]
        purpose = f"reading the {len(names)} snapshot(s) of '{vm.name}'"
        # Not strict: a snapshot deleted meanwhile (a list holds no lock) is left out, not an error.
        sections = await self._read_batch(job, purpose, commands, strict=False)
        found = []
        for i in range(len(names)):
            if not sections[2 * i + 1]:
                continue
            try:
                snap = parse_snapshot_xml(sections[2 * i + 1])
            except ValueError as e:
                raise CommandFailed(f"step \"{purpose}\" on host '{self.spec.name}': {e}", self.spec.name) from None
            current, _ = parse_snapshot_info(sections[2 * i])
            self._read[snap.name] = snap
            found.append(snapshot_info(snap, current))
        found.sort(key=lambda s: (s.created or "", s.name))
        return SnapshotListing(found, tree.rstrip() or None)

    # ---- create

    async def create(self, job: Job, vm: VmState, new: NewSnapshot) -> str:
        where = f"VM '{vm.name}' on host '{self.spec.name}'"
        disks = snapshot_disks(vm, where)
        pflash = vm.extra.get("loader") == "pflash"
        if pflash and new.include_memory:
            raise InvalidInput(
                f"include_memory=true: {where} boots UEFI from pflash, so libvirt takes only external "
                "disk-only snapshots of it here; omit include_memory"
            )
        if not pflash and vm.running and new.include_memory is False:
            raise memory_refused(where)
        if pflash:
            others = [d.target for d in vm.disks if d not in disks]
            argv = create_as(vm.uuid, new, [d.target for d in disks], others)
            how = PFLASH_WORDS
        else:
            argv = create_as(vm.uuid, new)
            how = "internal: disks and memory" if vm.running else "internal: disks (the VM is shut off)"
        purpose = f"taking snapshot '{new.name}' of '{vm.name}' ({how.split(':')[0]})"
        await self._long_change(job, purpose, argv, batch_check(job, self.spec, purpose))
        return how

    async def _long_change(self, job: Job, purpose: str, argv: list[str], check: Check) -> CommandResult | None:
        """A virsh change that may take a while (saving or loading a guest's memory, merging an overlay
        back): progress every second while it runs."""
        async with job.ticking(self.spec.command_timeout, purpose):
            return await job.change(purpose, self._virsh(argv), check=check)

    # ---- revert and delete

    async def revert(self, job: Job, vm: VmState, snap: SnapshotInfo) -> None:
        purpose = f"reverting '{vm.name}' to snapshot '{snap.name}'"
        check = batch_check(job, self.spec, purpose)

        def unless_external(result: CommandResult) -> None:  # libvirt's refusal is handled below
            if EXTERNAL_REVERT_UNSUPPORTED not in result.stderr:
                check(result)

        result = await self._long_change(job, purpose, revert(vm.uuid, snap.name), unless_external)
        if result is None or EXTERNAL_REVERT_UNSUPPORTED not in result.stderr:
            return
        # libvirt < 9.7: do it ourselves, where it is safe.
        await self._revert_external(job, vm, snap)

    async def delete(self, job: Job, vm: VmState, snap: SnapshotInfo) -> None:
        purpose = f"deleting snapshot '{snap.name}' of '{vm.name}'"
        await self._long_change(job, purpose, delete(vm.uuid, snap.name), batch_check(job, self.spec, purpose))

    async def _revert_external(self, job: Job, vm: VmState, snap: SnapshotInfo) -> None:
        where = f"VM '{vm.name}' on host '{self.spec.name}'"
        saved = self._read.get(snap.name)
        children = [s for s in self._read.values() if s.parent == snap.name]
        if vm.running:
            raise Conflict(
                f"libvirt on host '{self.spec.name}' cannot revert the running {where} to the external snapshot "
                f"'{snap.name}' (libvirt 9.7 and later can); stop the VM (manage_vm stop) and revert again: "
                "qemu-mcp then resets its disk overlays itself. Nothing was changed"
            )
        if saved is None or saved.domain_xml is None or not snap.current or children:
            raise Conflict(
                f"libvirt on host '{self.spec.name}' cannot revert {where} to the external snapshot '{snap.name}', "
                "and qemu-mcp does so only for the newest one (the current snapshot, with none taken after "
                "it); nothing was changed"
            )
        overlays = self._overlays(saved, vm, where)
        for path, (backing, fmt) in overlays.items():
            await job.change(
                f"resetting the overlay {path} to snapshot '{snap.name}' (a new overlay on {backing})",
                qemu_img.overlay(path, backing, fmt),
            )
        await job.change(
            f"restoring the definition of '{vm.name}' saved in snapshot '{snap.name}' (its disks on the overlays)",
            self._virsh(virsh.define_from_stdin()),
            stdin=definition_on_overlays(
                saved.domain_xml, {d.target: d.source for d in saved.disks if d.snapshot == "external" and d.source}
            ),
            check=batch_check(job, self.spec, "restoring the definition"),
        )
        job.note(
            f"libvirt on host '{self.spec.name}' cannot revert external snapshots: qemu-mcp gave each disk a "
            "fresh overlay on the image the snapshot was taken of, and restored the saved definition"
        )

    def _overlays(self, saved: LibvirtSnapshot, vm: VmState, where: str) -> dict[str, tuple[str, str]]:
        """overlay path -> (backing image, its format), checked against the VM's disks now."""
        now = {d.target: d.path for d in vm.disks}
        base = {d.target: d for d in saved.domain_disks}
        out: dict[str, tuple[str, str]] = {}
        for d in saved.disks:
            if d.snapshot != "external":
                continue
            was = base.get(d.target)
            if d.source is None or was is None or not was.source or now.get(d.target) != d.source:
                raise Conflict(
                    f"disk {d.target} of {where} no longer writes to the overlay {d.source} of this snapshot "
                    f"(it uses {now.get(d.target)}); qemu-mcp will not reset it. Nothing was changed"
                )
            out[d.source] = (was.source, was.format or "qcow2")
        return out


def definition_on_overlays(domain_xml: str, overlays: dict[str, str]) -> str:
    """The saved definition with each external disk (target -> overlay) on its overlay, as qcow2."""
    root = etree.fromstring(domain_xml.encode(), _PARSER)
    for disk in root.iterfind("devices/disk"):
        target = disk.find("target")
        path = overlays.get(target.get("dev", "")) if target is not None else None
        if path is None:
            continue
        for old in disk.findall("backingStore"):
            disk.remove(old)
        source, driver = disk.find("source"), disk.find("driver")
        if source is not None:
            source.set("file", path)
        if driver is not None:
            driver.set("type", "qcow2")
    return etree.tostring(root, encoding="unicode")
