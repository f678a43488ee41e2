"""manage_snapshot on plain-QEMU hosts: internal snapshots inside the VM's qcow2 images.

- Shut off: `qemu-img snapshot -c/-a/-d` on every qcow2 disk (named by --image-opts with
  driver=qcow2: qemu-img snapshot takes no -f, and the format is never probed).
- Running: QMP `snapshot-save` / `snapshot-load` / `snapshot-delete` (QEMU 6.0+), which run as
  jobs: started, then waited on with `query-jobs` (progress notifications), then dismissed. A
  save holds the guest's memory too (in the first disk), so reverting resumes it where it was.
- Listing: one round trip, a fixed sh script running `qemu-img snapshot -l -U` on every qcow2
  disk (parsers.qemu_img_snapshots) and printing the snapshots' metadata files.
- qcow2 has no place for a description, so each snapshot qemu-mcp takes gets a metadata file,
  <vm_dir>/<name>/snapshots/<tag>.conf: the vm.conf of that moment plus `snapshot.*` keys
  (description, created, state, memory). Reverting puts that vm.conf back, as libvirt puts the
  saved definition back; delete removes it; manage_vm delete removes the directory.
- Snapshot names that are all digits are refused before this (validation): qemu-img and QEMU
  read such a name as a snapshot ID first. Several snapshots of one name on a disk (qemu-img
  allows it) are listed with a note, and never reverted or deleted: which one is meant is unclear.
"""

from __future__ import annotations

import asyncio
import json
import secrets
import time
from typing import Any

from qemu_mcp.backends.base import VmDisk, VmState
from qemu_mcp.backends.job import Job, Undo
from qemu_mcp.backends.qemu.manage import QMP_TIMEOUT, QemuBackend
from qemu_mcp.backends.qemu.qmp import QMPClient
from qemu_mcp.backends.snapshots import NewSnapshot, SnapshotListing, memory_refused, snapshot_disks
from qemu_mcp.config import HostSpec
from qemu_mcp.errors import CommandFailed, CommandTimeout, Conflict
from qemu_mcp.host import qemu_img
from qemu_mcp.models import SnapshotInfo
from qemu_mcp.parsers.qemu_host import parse_key_values
from qemu_mcp.parsers.qemu_img_snapshots import ImageSnapshot, parse_snapshot_list
from qemu_mcp.parsers.sections import new_marker, script_marker, tagged_sections

SNAPSHOT_DIR = "snapshots"
JOB_POLL = 0.5  # seconds between query-jobs while a snapshot job runs
MIN_JOB_WAIT = 600.0  # a snapshot job may take this long at least (saving a big guest's memory)

# $1 marker, $2 the VM directory, then the --image-opts of each qcow2 disk: `MARK disk RC` and
# qemu-img's output per disk, then `MARK meta TAG` and each metadata file.
LIST_SCRIPT = r"""
export LC_ALL=C TZ=UTC
m=$1 d=$2
shift 2
for o do
  out=$(qemu-img snapshot -l -U --image-opts "$o" 2>&1)
  echo "$m disk $?"
  [ -z "$out" ] || printf '%s\n' "$out"
done
for f in "$d/snapshots"/*.conf; do
  [ -f "$f" ] || continue
  n=${f##*/}
  echo "$m meta ${n%.conf}"
  cat "$f"; echo
done
"""
# $1 the VM directory, $2 the tag, then `snapshot.key=value` lines: vm.conf + those, atomically.
WRITE_META_SCRIPT = r"""
umask 022
d=$1 n=$2
shift 2
mkdir -p "$d/snapshots" || exit 1
t="$d/snapshots/.tmp.$$"
if { cat "$d/vm.conf" && printf '%s\n' "$@"; } > "$t" && mv -f "$t" "$d/snapshots/$n.conf"; then exit 0; fi
rm -f "$t"; exit 1
"""
REMOVE_META_SCRIPT = 'rm -f -- "$1/snapshots/$2.conf"; rmdir -- "$1/snapshots" 2>/dev/null; exit 0'
# Put the snapshot's vm.conf back (without its snapshot.* keys), atomically; exit 3: no metadata.
RESTORE_CONF_SCRIPT = r"""
umask 022
d=$1 n=$2
f="$d/snapshots/$n.conf"
[ -f "$f" ] || exit 3
t="$d/vm.conf.tmp.$$"
if grep -v '^snapshot\.' "$f" > "$t" && mv -f "$t" "$d/vm.conf"; then exit 0; fi
rm -f "$t"; exit 1
"""


def list_argv(home_dir: str, marker: str, images: list[str]) -> list[str]:
    opts = [qemu_img.qcow2_image_opts(p) for p in images]
    return ["sh", "-c", LIST_SCRIPT, "qmcp-snapshot-list", script_marker(marker), home_dir, *opts]


def write_meta_argv(home_dir: str, tag: str, keys: dict[str, str]) -> list[str]:
    lines = [f"snapshot.{k}={v}" for k, v in keys.items()]
    return ["sh", "-c", WRITE_META_SCRIPT, "qmcp-snapshot-meta", home_dir, tag, *lines]


def remove_meta_argv(home_dir: str, tag: str) -> list[str]:
    return ["sh", "-c", REMOVE_META_SCRIPT, "qmcp-snapshot-unmeta", home_dir, tag]


def restore_conf_argv(home_dir: str, tag: str) -> list[str]:
    return ["sh", "-c", RESTORE_CONF_SCRIPT, "qmcp-snapshot-conf", home_dir, tag]


def qcow2_disks(vm: VmState) -> list[VmDisk]:
    """The disks that can hold snapshots (listing shows those; create refuses others: snapshot_disks)."""
    return [d for d in vm.disks if d.device == "disk" and not d.readonly and d.format == "qcow2" and d.path]


class QemuSnapshots:
    def __init__(self, spec: HostSpec, machine: QemuBackend) -> None:
        self.spec = spec
        self.machine = machine
        # what the last listing showed: tag -> disk target -> its snapshots of that tag
        self._on_disks: dict[str, dict[str, list[ImageSnapshot]]] = {}
        self._meta: dict[str, dict[str, str]] = {}

    def _where(self, vm: VmState) -> str:
        return f"VM '{vm.name}' on host '{self.spec.name}'"

    # ---- listing

    async def listing(self, job: Job, vm: VmState) -> SnapshotListing:
        disks = qcow2_disks(vm)
        marker = new_marker()
        home = self.machine.home(vm.name).dir
        purpose = f"listing the snapshots of '{vm.name}' (qemu-img snapshot -l)"
        result = await job.read(purpose, list_argv(home, marker, [d.path or "" for d in disks]))
        if result.exit_status != 0:
            raise job.step_failed(purpose, result)
        sections = tagged_sections(result.stdout, marker)
        outputs = [s for s in sections if s.tag == "disk"]
        if len(outputs) != len(disks):
            raise job.step_failed(purpose, result)
        self._on_disks, self._meta = {}, {}
        for disk, out in zip(disks, outputs, strict=True):
            try:
                if out.number != 0:
                    raise ValueError(" ".join(out.lines))
                snaps = parse_snapshot_list(out.text)
            except ValueError as e:
                raise CommandFailed(f"step \"{purpose}\" failed on host '{self.spec.name}' for {disk.path}: {e}",
                                    host=self.spec.name) from None  # fmt: skip
            for snap in snaps:
                self._on_disks.setdefault(snap.tag, {}).setdefault(disk.target, []).append(snap)
        for meta in (s for s in sections if s.tag == "meta"):
            self._meta[meta.rest] = {k.removeprefix("snapshot."): v for k, v in parse_key_values(meta.text).items()
                                     if k.startswith("snapshot.")}  # fmt: skip
        infos = [self._info(tag, [d.target for d in disks]) for tag in self._on_disks]
        infos.sort(key=lambda s: (s.created or "", s.name))
        return SnapshotListing(infos)

    def _info(self, tag: str, targets: list[str]) -> SnapshotInfo:
        on = self._on_disks[tag]
        meta = self._meta.get(tag, {})
        found = [s for snaps in on.values() for s in snaps]
        memory = any(s.memory for s in found)
        notes = [f"missing on disk {t}" for t in targets if t not in on]
        notes += [f"{len(s)} snapshots of this name on disk {t} (IDs {', '.join(x.id for x in s)})"
                  for t, s in on.items() if len(s) > 1]  # fmt: skip
        if not meta:
            notes.append("taken outside qemu-mcp (no metadata): reverting leaves vm.conf as it is")
        return SnapshotInfo(
            name=tag,
            created=meta.get("created") or min(s.created for s in found),
            state=meta.get("state") or ("running" if memory else None),
            description=meta.get("description") or None,
            memory=memory,
            location="internal",
            disks=[t for t in targets if t in on],
            notes=notes,
        )

    # ---- create

    async def create(self, job: Job, vm: VmState, new: NewSnapshot) -> str:
        disks = snapshot_disks(vm, self._where(vm))
        if vm.running and new.include_memory is False:
            raise memory_refused(self._where(vm))
        home = self.machine.home(vm.name).dir
        keys = {
            "description": new.description or "",
            "created": time.strftime("%Y-%m-%dT%H:%M:%S+00:00", time.gmtime()),
            "state": vm.state if vm.running else "shutoff",  # libvirt's words
            "memory": "yes" if vm.running else "no",
        }
        await job.change(
            f"saving the metadata of snapshot '{new.name}' (vm.conf and description)",
            write_meta_argv(home, new.name, keys),
            undo=Undo(f"removing the metadata of snapshot '{new.name}'", remove_meta_argv(home, new.name)),
        )
        if vm.running:
            targets = [d.target for d in disks]
            arguments = {"tag": new.name, "vmstate": targets[0], "devices": targets}
            purpose = f"saving snapshot '{new.name}' of the running '{vm.name}' (disks and memory, QMP)"
            await self._qmp_job(job, vm, "snapshot-save", arguments, purpose)
            return "internal: disks and memory (QMP snapshot-save)"
        for d in disks:
            assert d.path
            await job.change(
                f"taking snapshot '{new.name}' of disk {d.target} ({d.path})",
                qemu_img.snapshot("create", d.path, new.name),
                undo=Undo(f"deleting snapshot '{new.name}' of {d.path}", qemu_img.snapshot("delete", d.path, new.name)),
            )
        return "internal: disks (the VM is shut off; qemu-img snapshot -c)"

    # ---- revert and delete

    def _holding(self, vm: VmState, snap: SnapshotInfo, *, every_disk: bool) -> list[VmDisk]:
        """The disks holding exactly one snapshot of this name (every qcow2 disk must, for revert)."""
        where = self._where(vm)
        on = self._on_disks.get(snap.name, {})
        disks = snapshot_disks(vm, where) if every_disk else [d for d in qcow2_disks(vm) if d.target in on]
        for d in disks:
            count = len(on.get(d.target, []))
            if count == 0:
                raise Conflict(
                    f"snapshot '{snap.name}' is missing on disk {d.target} of {where} (taken before that disk "
                    "was added, or outside qemu-mcp): reverting would mix moments; nothing was changed"
                )
            if count > 1:
                raise Conflict(
                    f"disk {d.target} of {where} has {count} snapshots named '{snap.name}': which one is meant is "
                    "unclear, so qemu-mcp leaves them alone; nothing was changed"
                )
        return disks

    async def revert(self, job: Job, vm: VmState, snap: SnapshotInfo) -> None:
        disks = self._holding(vm, snap, every_disk=True)
        if vm.running and not snap.memory:
            await self.machine.power_off(job, vm)
            job.note(f"snapshot '{snap.name}' holds no memory (it was taken while the VM was shut off): the VM was "
                     "powered off and is shut off now, as it was then; manage_vm start boots it")  # fmt: skip
        await self._restore_conf(job, vm, snap)
        if not snap.memory:
            for d in disks:
                assert d.path
                await job.change(f"reverting disk {d.target} ({d.path}) to snapshot '{snap.name}'",
                                 qemu_img.snapshot("apply", d.path, snap.name))  # fmt: skip
            return
        if not vm.running:
            await self.machine.start(job, vm)
            job.note(f"snapshot '{snap.name}' holds the running guest's memory: the VM was started and then "
                     "loaded with it")  # fmt: skip
        vmstate = next(t for t, snaps in self._on_disks[snap.name].items() if snaps[0].memory)
        await self._qmp_job(job, vm, "snapshot-load",
                            {"tag": snap.name, "vmstate": vmstate, "devices": [d.target for d in disks]},
                            f"loading snapshot '{snap.name}' into '{vm.name}' (disks and memory, QMP)")  # fmt: skip

    async def _restore_conf(self, job: Job, vm: VmState, snap: SnapshotInfo) -> None:
        home = self.machine.home(vm.name).dir
        purpose = f"restoring the vm.conf saved with snapshot '{snap.name}'"
        if snap.name not in self._meta:
            job.note(f"snapshot '{snap.name}' has no metadata (taken outside qemu-mcp): vm.conf was left as it is")
            return
        await job.change(purpose, restore_conf_argv(home, snap.name))

    async def delete(self, job: Job, vm: VmState, snap: SnapshotInfo) -> None:
        disks = self._holding(vm, snap, every_disk=False)
        home = self.machine.home(vm.name).dir
        if vm.running:
            await self._qmp_job(job, vm, "snapshot-delete", {"tag": snap.name, "devices": [d.target for d in disks]},
                                f"deleting snapshot '{snap.name}' of the running '{vm.name}' (QMP)")  # fmt: skip
        else:
            for d in disks:
                assert d.path
                await job.change(f"deleting snapshot '{snap.name}' of disk {d.target} ({d.path})",
                                 qemu_img.snapshot("delete", d.path, snap.name))  # fmt: skip
        await job.change(f"removing the metadata of snapshot '{snap.name}'", remove_meta_argv(home, snap.name))

    # ---- QMP jobs

    async def _qmp_job(self, job: Job, vm: VmState, command: str, arguments: dict[str, Any], purpose: str) -> None:
        """Start a snapshot job, wait for it with progress, dismiss it; its error is the step's error."""
        sock = self.machine.home(vm.name).qmp
        arguments = {"job-id": f"qmcp-{secrets.token_hex(4)}", **arguments}

        async def run() -> None:
            async with QMPClient.session(job.runner, sock, timeout=QMP_TIMEOUT) as qmp:
                await qmp.execute(command, arguments, timeout=QMP_TIMEOUT)
                await self._wait_job(job, qmp, arguments["job-id"], command)

        await job.act(purpose, ["qmp", sock, command, json.dumps(arguments, sort_keys=True)], run)

    async def _wait_job(self, job: Job, qmp: QMPClient, job_id: str, command: str) -> None:
        budget = max(self.spec.command_timeout, MIN_JOB_WAIT)
        start = time.monotonic()
        while True:
            jobs = await qmp.execute("query-jobs", timeout=QMP_TIMEOUT)
            mine = next((j for j in jobs or [] if j.get("id") == job_id), None)
            if mine is None:
                raise CommandFailed(f"QMP {command} job {job_id} vanished on host '{self.spec.name}'", self.spec.name)
            if mine.get("status") == "concluded":
                await qmp.execute("job-dismiss", {"id": job_id}, timeout=QMP_TIMEOUT)
                if mine.get("error"):
                    hint = LOAD_FAILED if command == "snapshot-load" else ""
                    raise CommandFailed(f"QMP {command} failed on host '{self.spec.name}': {mine['error']}{hint}",
                                        self.spec.name)  # fmt: skip
                return
            elapsed = time.monotonic() - start
            if elapsed > budget:
                raise CommandTimeout(f"QMP {command} on host '{self.spec.name}' still ran after {budget:g} s; it "
                                     f"goes on in QEMU (job {job_id})", self.spec.name)  # fmt: skip
            total = mine.get("total-progress") or None
            await job.report(mine.get("current-progress", 0), total, f"{command} running ({elapsed:.0f} s)")
            await asyncio.sleep(JOB_POLL)


LOAD_FAILED = (
    "; QEMU stops the guest for a load, so it may be left paused (state restore-vm) with part of the "
    "snapshot loaded: revert again, or power it off (manage_vm stop force=true)"
)
