"""The shared manage_vm flows with a fake backend and a fake runner: locks, undo, dry run, consent."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field, replace
from typing import Any

import pytest

from qemu_mcp.backends import base as backends_base
from qemu_mcp.backends.base import BackendDefaults, CreateFacts, CreatePlan, VmDisk, VmState
from qemu_mcp.backends.job import Job, Undo
from qemu_mcp.config import Inventory
from qemu_mcp.errors import CommandFailed, CommandTimeout, Conflict
from qemu_mcp.ops.fleet import Fleet, HostRef
from qemu_mcp.ops.manage import Consent, NeedsConfirmation, actions, manage_vm, parse_request
from qemu_mcp.policy import PolicySpec
from tests.fake_clock import monotonic_follows_loop, virtual_clock
from tests.fakes import Call, FakeRunner


@dataclass
class FlowHost:
    """A FakeRunner handler: every checked path is missing, realpath resolves `links` (none: no
    symlinks), qemu-img info reports `image_size`; anything else succeeds without output."""

    image_size: int = 1024**3
    links: dict[str, str] = field(default_factory=dict)

    def __call__(self, call: Call) -> str | None:
        argv = call.argv
        if argv[:2] == ("sh", "-c") and argv[3] == "qmcp-path-status":
            return "missing\n" * len(argv[4:])
        if argv[0] == "realpath":
            return "".join(self.resolve(p) + "\0" for p in argv[4:])
        if argv[:2] == ("qemu-img", "info"):
            return f'{{"virtual-size": {self.image_size}}}'
        return None

    def resolve(self, path: str) -> str:
        for link, target in self.links.items():
            if path == link or path.startswith(link + "/"):
                path = target + path[len(link) :]
        return path


@dataclass
class FakeBackend(BackendDefaults):
    kind: str = "fake"
    vms: dict[str, VmState] = field(default_factory=dict)
    calls: list[str] = field(default_factory=list)
    fail_define: bool = False
    stops_after: float | None = 0.0  # seconds until a shutdown request takes effect; None: never
    slow: float = 0.0
    active: int = 0
    max_active: int = 0
    host: FlowHost | None = None  # a live resize changes what qemu-img info reports

    async def _enter(self, what: str) -> None:
        self.calls.append(what)
        self.active += 1
        self.max_active = max(self.max_active, self.active)
        await asyncio.sleep(self.slow)
        self.active -= 1

    async def inspect(self, job, name):  # type: ignore[no-untyped-def]
        return self.vms.get(name)

    async def status(self, job, vm):  # type: ignore[no-untyped-def]
        name = vm.name
        return self.vms[name].status

    async def prepare_create(self, job, plan):  # type: ignore[no-untyped-def]
        return CreateFacts(accel="qemu")

    async def define(self, job: Job, plan: CreatePlan, facts: CreateFacts) -> None:
        await self._enter(f"define {plan.name}")
        if self.fail_define:
            raise CommandFailed("step \"defining\" failed on host 'local' (virsh exit 1: injected)")
        await job.change("defining", ["virsh", "define"], undo=Undo("removing the definition", ["virsh", "undefine"]))
        if not job.dry_run:
            disk = VmDisk("vda", plan.disk_path, plan.disk_format)
            self.vms[plan.name] = VmState(plan.name, "stopped", "shut off", vcpus=plan.vcpus,
                                          memory_mib=plan.memory_mib, disks=(disk,))  # fmt: skip

    def _set(self, name: str, **kw) -> None:  # type: ignore[no-untyped-def]
        self.vms[name] = replace(self.vms[name], **kw)

    async def start(self, job, vm):  # type: ignore[no-untyped-def]
        name = vm.name
        await self._enter(f"start {name}")
        if not job.dry_run:
            self._set(name, status="running", state="running")

    async def shutdown(self, job, vm):  # type: ignore[no-untyped-def]
        name = vm.name
        await self._enter(f"shutdown {name}")
        if not job.dry_run and self.stops_after is not None:
            loop = asyncio.get_running_loop()
            loop.call_later(self.stops_after, lambda: self._set(name, status="stopped", state="shut off"))

    async def power_off(self, job, vm):  # type: ignore[no-untyped-def]
        name = vm.name
        await self._enter(f"power_off {name}")
        if not job.dry_run:
            self._set(name, status="stopped", state="shut off")

    async def reboot(self, job, vm, timeout):  # type: ignore[no-untyped-def]
        name = vm.name
        await self._enter(f"reboot {name}")
        return False

    async def reset(self, job, vm):  # type: ignore[no-untyped-def]
        name = vm.name
        await self._enter(f"reset {name}")

    async def undefine(self, job, vm):  # type: ignore[no-untyped-def]
        await self._enter(f"undefine {vm.name}")
        if not job.dry_run:
            del self.vms[vm.name]

    async def set_memory(self, job, vm, mib):  # type: ignore[no-untyped-def]
        await self._enter(f"set_memory {mib}")
        self._set(vm.name, memory_mib=mib)

    async def set_vcpus(self, job, vm, count):  # type: ignore[no-untyped-def]
        await self._enter(f"set_vcpus {count}")
        self._set(vm.name, vcpus=count)

    async def resize_disk_live(self, job, vm, disk, size_bytes):  # type: ignore[no-untyped-def]
        await self._enter(f"blockresize {size_bytes}")
        if self.host is not None:
            self.host.image_size = size_bytes

    async def attach_disk(self, job, vm, disk, *, live):  # type: ignore[no-untyped-def]
        await self._enter(f"attach_disk {disk.target} {disk.path} live={live}")
        if self.fail_define:
            raise CommandFailed("step \"attaching\" failed on host 'local' (virsh exit 1: injected)")
        await job.change("attaching", ["virsh", "attach-device"], undo=Undo("detaching", ["virsh", "detach-disk"]))
        if not job.dry_run:
            self._set(vm.name, disks=(*self.vms[vm.name].disks, VmDisk(disk.target, disk.path, disk.format)))
        return backends_base.LIVE if live else backends_base.PERSISTENT

    async def detach_disk(self, job, vm, disk, *, live, timeout):  # type: ignore[no-untyped-def]
        await self._enter(f"detach_disk {disk.target} live={live}")
        await job.change("detaching", ["virsh", "detach-disk"])
        if not job.dry_run:
            self._set(vm.name, disks=tuple(d for d in self.vms[vm.name].disks if d.target != disk.target))
        return True

    async def disk_users(self, job, name, paths):  # type: ignore[no-untyped-def]
        return {"/vm/shared.qcow2": ["other"]} if "/vm/shared.qcow2" in paths else {}


def use_fakes(monkeypatch: pytest.MonkeyPatch, fleet: Fleet, backend: FakeBackend, runner: FakeRunner) -> None:
    """manage_vm on this fleet drives `backend`, whose commands go to `runner`."""

    async def backend_for(*_args: Any) -> FakeBackend:
        return backend

    monkeypatch.setattr(actions, "backend_for", backend_for)
    monkeypatch.setattr(fleet, "runner", lambda spec: runner)


@pytest.fixture
def rig(monkeypatch: pytest.MonkeyPatch) -> tuple[Fleet, FakeBackend, FakeRunner]:
    fleet = Fleet(Inventory([], policy=PolicySpec(allowed_paths=("/",))))  # these tests are about the flows
    host = FlowHost()
    runner = FakeRunner(host)
    backend = FakeBackend(host=host)
    use_fakes(monkeypatch, fleet, backend, runner)
    return fleet, backend, runner


def vm(name: str, status: str = "stopped", **kw) -> VmState:  # type: ignore[no-untyped-def]
    state = {"stopped": "shut off"}.get(status, status)
    disks = kw.pop("disks", (VmDisk("vda", f"/vm/{name}.qcow2", "qcow2"),))
    return VmState(name, status, state, vcpus=2, memory_mib=512, disks=disks, **kw)  # type: ignore[arg-type]


async def call(fleet: Fleet, name: str, action: str, consent: Consent | None = None, **kw):  # type: ignore[no-untyped-def]
    return await manage_vm(fleet, HostRef(), parse_request(name, action, **kw), consent=consent)


@virtual_clock
async def test_same_vm_is_serialised_other_vms_run_in_parallel(rig) -> None:  # type: ignore[no-untyped-def]
    fleet, backend, _ = rig
    backend.slow = 0.2
    backend.vms = {"a": vm("a"), "b": vm("b")}
    loop = asyncio.get_running_loop()
    start = loop.time()
    results = await asyncio.gather(call(fleet, "a", "start"), call(fleet, "b", "start"), return_exceptions=True)
    assert not any(isinstance(r, Exception) for r in results)
    assert backend.max_active == 2 and loop.time() - start == pytest.approx(0.2)  # side by side: not 0.4

    backend.max_active = 0
    backend.vms = {"a": vm("a", "running")}
    results = await asyncio.gather(
        *(call(fleet, "a", "stop", Consent(True, "confirm"), force=True) for _ in range(2)), return_exceptions=True
    )
    # The second waited for the first, then saw a stopped VM.
    assert backend.max_active == 1
    assert sum(isinstance(r, Conflict) and "already shut off" in str(r) for r in results) == 1
    assert len(fleet.vm_locks) == 0  # locks are dropped once nobody holds them


async def test_failed_create_undoes_newest_first(rig) -> None:  # type: ignore[no-untyped-def]
    fleet, backend, runner = rig
    backend.fail_define = True
    with pytest.raises(CommandFailed) as err:
        await call(fleet, "new1", "create", arch="x86_64", vm_dir="/srv/vms/a")
    text = str(err.value)
    assert 'step "defining" failed' in text
    assert "undone: removing the disk image /srv/vms/a/new1.qcow2, removing the directories it created" in text
    undo = runner.argvs[-2:]
    assert undo[0] == ["rm", "-f", "--", "/srv/vms/a/new1.qcow2"]
    assert undo[1] == ["rmdir", "--ignore-fail-on-non-empty", "--", "/srv/vms/a", "/srv/vms", "/srv"]
    mkdir = next(a for a in runner.argvs if a[0] == "mkdir")
    assert mkdir == ["mkdir", "-p", "-m", "0755", "--", "/srv", "/srv/vms", "/srv/vms/a"]
    assert "new1" not in backend.vms


async def test_dry_run_runs_only_reads(rig) -> None:  # type: ignore[no-untyped-def]
    fleet, backend, runner = rig
    result = await call(fleet, "new2", "create", arch="x86_64", disk="path=/data/n.raw,size=2G", dry_run=True)
    reads = ("qmcp-path-status", "qmcp-listeners")  # listeners: the SSH forward's free port
    assert all((a[0] == "sh" and a[3] in reads) or a[0] == "realpath" for a in runner.argvs)
    planned = [c.argv for c in result.data.details.commands if c.changes_host]
    assert ["qemu-img", "create", "-q", "-f", "raw", "--", "/data/n.raw", str(2 * 1024**3)] in planned
    assert ["virsh", "define"] in planned and not any(c.ran for c in result.data.details.commands if c.changes_host)
    assert result.message.startswith("dry run: would create") and "new2" not in backend.vms


async def test_consent(rig) -> None:  # type: ignore[no-untyped-def]
    fleet, backend, _ = rig
    backend.vms = {"a": vm("a", "running")}
    with pytest.raises(NeedsConfirmation, match="pass confirm=true") as err:
        await call(fleet, "a", "delete", force=True)
    assert "Delete VM 'a' on host 'local' and its disk image(s) /vm/a.qcow2?" in err.value.question
    with pytest.raises(NeedsConfirmation, match=r"not confirmed \(the user declined\); nothing was changed"):
        await call(fleet, "a", "delete", Consent(False, "declined"), force=True)
    with pytest.raises(NeedsConfirmation, match="cannot answer a confirmation request"):
        await call(fleet, "a", "stop", Consent(False, "unavailable"), force=True)
    with pytest.raises(NeedsConfirmation, match="hard-resetting"):
        await call(fleet, "a", "reboot", force=True)
    assert backend.calls == []  # nothing ran
    # Graceful actions and dry runs need no consent.
    await call(fleet, "a", "delete", force=True, dry_run=True)
    assert "a" in backend.vms


async def test_delete_keeps_isos_and_shared_disks(rig) -> None:  # type: ignore[no-untyped-def]
    fleet, backend, runner = rig
    disks = (
        VmDisk("vda", "/vm/a.qcow2", "qcow2"),
        VmDisk("vdb", "/vm/shared.qcow2", "qcow2"),
        VmDisk("vdc", "/dev/sdb", "raw", file_backed=False),
        VmDisk("vdd", "/vm/ro.qcow2", "qcow2", readonly=True),
        VmDisk("sda", "/isos/x.iso", "raw", device="cdrom", readonly=True),
    )
    backend.vms = {"a": vm("a", disks=disks)}
    result = await call(fleet, "a", "delete", confirm=True)
    assert result.data.details.disks_removed == ["/vm/a.qcow2"]
    assert ["rm", "-f", "--", "/vm/a.qcow2"] in runner.argvs
    kept = " ".join(result.data.details.disks_kept)
    for path in ("/vm/shared.qcow2", "/dev/sdb", "/vm/ro.qcow2", "/isos/x.iso"):
        assert path in kept


@virtual_clock
async def test_graceful_stop_times_out_then_force(rig, monkeypatch: pytest.MonkeyPatch) -> None:  # type: ignore[no-untyped-def]
    monotonic_follows_loop(monkeypatch, backends_base)  # the polling wait_stopped measures time.monotonic
    fleet, backend, _ = rig
    backend.vms = {"a": vm("a", "running")}
    backend.stops_after = None
    loop = asyncio.get_running_loop()
    start = loop.time()
    with pytest.raises(CommandTimeout, match=r"did not shut down within 1 s.*force=true"):
        await call(fleet, "a", "stop", timeout=1)
    assert backend.vms["a"].status == "running" and loop.time() - start == pytest.approx(1.0)
    backend.stops_after = 0.3
    result = await call(fleet, "a", "stop", timeout=5)
    assert "shut down" in result.message and backend.vms["a"].status == "stopped"


async def test_modify_running_applies_at_next_boot_unless_confirmed(rig) -> None:  # type: ignore[no-untyped-def]
    fleet, backend, _ = rig
    backend.vms = {"a": vm("a", "running")}
    result = await call(fleet, "a", "modify", memory="1G", disk="size=2G")
    d = result.data.details
    assert d.restart_required and d.applied["memory_mib"] == 1024
    assert backend.calls == [f"blockresize {2 * 1024**3}", "set_memory 1024"]  # live resize, no restart

    backend.calls.clear()
    result = await call(fleet, "a", "modify", Consent(True, "elicitation"), vcpus=4, force=True)
    assert backend.calls == ["set_vcpus 4", "power_off a", "start a"]
    assert not result.data.details.restart_required and "restarted" in result.message


async def test_modify_refuses_shrink_before_changing_anything(rig) -> None:  # type: ignore[no-untyped-def]
    fleet, backend, _ = rig
    backend.host.image_size = 4 * 1024**3  # type: ignore[union-attr]
    backend.vms = {"a": vm("a")}
    with pytest.raises(Exception, match="would shrink it, which is refused"):
        await call(fleet, "a", "modify", memory="1G", disk="size=2G")
    assert backend.calls == [] and backend.vms["a"].memory_mib == 512
