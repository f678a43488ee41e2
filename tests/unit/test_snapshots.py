"""manage_snapshot without a host: the request, the argv each backend builds (names only ever as an
option's value, the VM by UUID, images by --image-opts), the snapshot XML parser, and the flow with
fake backends: confirmation follows the levels table, policy, audit, refusals, undo."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from mcp import Client

from qemu_mcp import levels
from qemu_mcp.backends.base import VmDisk, VmState
from qemu_mcp.backends.job import Job, Undo
from qemu_mcp.backends.libvirt import snapshot as lv
from qemu_mcp.backends.qemu import snapshot as qs
from qemu_mcp.backends.snapshots import NewSnapshot, SnapshotListing, snapshot_disks
from qemu_mcp.config import Inventory
from qemu_mcp.errors import CommandFailed, Conflict, InvalidInput, NotFound, PolicyDenied
from qemu_mcp.frontends.mcp.server import build_server
from qemu_mcp.host import qemu_img
from qemu_mcp.models import SnapshotInfo
from qemu_mcp.ops.fleet import Fleet, HostRef
from qemu_mcp.ops.manage import (
    Consent,
    NeedsConfirmation,
    manage_snapshot,
    parse_snapshot_request,
    snapshot_confirmation_question,
)
from qemu_mcp.ops.manage import snapshot as flow
from qemu_mcp.parsers.snapshot_xml import parse_snapshot_info, parse_snapshot_xml
from qemu_mcp.policy import PolicySpec
from tests.fakes import FakeRunner
from tests.unit.test_manage_flows import FakeBackend, vm

UUID = "622a5fbc-1568-4fda-8450-c4d089979be6"

# ---- the request


def test_create_gets_a_default_name_and_checks_its_options() -> None:
    req = parse_snapshot_request("web1", "create", description="before the upgrade")
    assert req.snapshot is not None and req.snapshot.startswith("snap-") and req.description == "before the upgrade"
    assert parse_snapshot_request("web1", "list").snapshot is None


@pytest.mark.parametrize(
    ("action", "kwargs", "words"),
    [
        ("explode", {}, "is not one of create, list, revert, delete"),
        ("list", {"snapshot": "s1"}, "snapshot does not apply to action=list"),
        ("revert", {"description": "x"}, "description does not apply to action=revert"),
        ("delete", {"include_memory": True}, "include_memory does not apply"),
        ("revert", {}, "revert needs snapshot"),
        ("create", {"snapshot": "12"}, "is all digits: qemu-img and QEMU read such a name as a snapshot ID"),
        ("delete", {"snapshot": "7"}, "is all digits"),
        ("create", {"snapshot": "a b"}, "is not allowed: use 1-64 letters"),
        ("create", {"snapshot": "-x"}, "starts with '-'"),
        ("revert", {"snapshot": "a/b"}, "contains '/'"),
        ("revert", {"snapshot": "s\n1"}, "control character"),
        ("create", {"description": "two\nlines"}, "keep it on one line"),
        ("create", {"description": "x" * 1001}, "the limit is 1000"),
        ("list", {"vm_dir": "relative"}, "must be an absolute path"),
    ],
)
def test_bad_requests_are_refused_before_any_host(action: str, kwargs: dict[str, object], words: str) -> None:
    with pytest.raises(InvalidInput, match=words.replace("(", r"\(")):
        parse_snapshot_request("web1", action, **kwargs)  # type: ignore[arg-type]


# ---- argv: libvirt


def test_libvirt_commands_address_the_uuid_and_pass_names_as_option_values() -> None:
    internal = lv.create_as(UUID, NewSnapshot("s1", "before 'it'"))
    assert internal == ["snapshot-create-as", "--domain", UUID, "--name", "s1", "--atomic",
                        "--description", "before 'it'"]  # fmt: skip
    external = lv.create_as(UUID, NewSnapshot("s1"), ["vda"], ["sda"])
    assert external[-5:] == ["--disk-only", "--diskspec", "vda,snapshot=external", "--diskspec", "sda,snapshot=no"]
    assert lv.revert(UUID, "-odd name") == ["snapshot-revert", "--domain", UUID, "--snapshotname", "-odd name"]
    assert lv.delete(UUID, "s1") == ["snapshot-delete", "--domain", UUID, "--snapshotname", "s1"]
    assert lv.list_names(UUID) == ["snapshot-list", "--domain", UUID, "--name", "--topological"]
    with pytest.raises(InvalidInput):
        lv.revert("web1", "s1")  # a name never reaches --domain
    with pytest.raises(ValueError):
        lv.info(UUID, "s\n1")
    with pytest.raises(ValueError):
        lv.create_as(UUID, NewSnapshot("s1"), ["vda,file=/etc/x"])


SNAPSHOT_XML = """<domainsnapshot>
  <name>e1</name>
  <description>ext &amp; co</description>
  <state>shutoff</state>
  <parent><name>s0</name></parent>
  <creationTime>1796044386</creationTime>
  <memory snapshot='no'/>
  <disks>
    <disk name='vda' snapshot='external' type='file'>
      <driver type='qcow2'/>
      <source file='/img/a.e1'/>
    </disk>
    <disk name='sda' snapshot='no'/>
  </disks>
  <domain type='qemu'>
    <name>a</name>
    <memory unit='KiB'>131072</memory>
    <devices>
      <disk type='file' device='disk'>
        <driver name='qemu' type='qcow2'/>
        <source file='/img/a.qcow2'/>
        <backingStore/>
        <target dev='vda' bus='virtio'/>
      </disk>
      <disk type='file' device='cdrom'>
        <driver name='qemu' type='raw'/>
        <source file='/img/t.iso'/>
        <target dev='sda' bus='sata'/>
        <readonly/>
      </disk>
    </devices>
  </domain>
</domainsnapshot>"""


def test_snapshot_xml_and_info() -> None:
    snap = parse_snapshot_xml(SNAPSHOT_XML)
    assert (snap.name, snap.description, snap.state, snap.parent) == ("e1", "ext & co", "shutoff", "s0")
    assert snap.created == "2026-11-30T13:13:06+00:00" and snap.memory == "no" and snap.external
    assert snap.saved_disks == ["vda"] and snap.disks[0].source == "/img/a.e1"
    assert [(d.target, d.source) for d in snap.domain_disks] == [("vda", "/img/a.qcow2"), ("sda", "/img/t.iso")]
    info = lv.snapshot_info(snap, True)
    assert (info.location, info.memory, info.current, info.disks) == ("external", False, True, ["vda"])
    assert parse_snapshot_info("Name:           e1\nCurrent:        yes\nLocation:       external\n") == (
        True, "external",
    )  # fmt: skip
    with pytest.raises(ValueError, match="not snapshot XML"):
        parse_snapshot_xml("<domain><name>x</name></domain>")


def test_external_revert_points_the_saved_definition_at_the_overlays() -> None:
    saved = parse_snapshot_xml(SNAPSHOT_XML)
    assert saved.domain_xml is not None
    xml = lv.definition_on_overlays(saved.domain_xml, {"vda": "/img/a.e1"})
    assert '<source file="/img/a.e1"/>' in xml and "backingStore" not in xml
    assert '<source file="/img/t.iso"/>' in xml and '<memory unit="KiB">131072</memory>' in xml


# ---- argv: plain QEMU


def test_qemu_img_snapshot_names_the_image_by_image_opts() -> None:
    assert qemu_img.snapshot("create", "/vm/a,b.qcow2", "s1") == [
        "qemu-img", "snapshot", "-q", "-c", "s1", "--image-opts",
        "driver=qcow2,file.driver=file,file.filename=/vm/a,,b.qcow2",
    ]  # fmt: skip
    assert qemu_img.snapshot_list("/vm/a.qcow2")[:5] == ["qemu-img", "snapshot", "-l", "-U", "--image-opts"]
    for bad in ("-x", "12", ""):
        with pytest.raises(ValueError):
            qemu_img.snapshot("apply", "/vm/a.qcow2", bad)
    with pytest.raises(InvalidInput):
        qemu_img.snapshot("delete", "/vm/../a.qcow2", "s1")


def test_qemu_host_scripts_take_every_value_as_an_argument() -> None:
    argv = qs.write_meta_argv("/vms/web1", "s1", {"description": "$(touch /x)", "state": "running"})
    assert argv[:2] == ["sh", "-c"] and "$(touch /x)" not in argv[2]
    assert argv[3:] == ["qmcp-snapshot-meta", "/vms/web1", "s1", "snapshot.description=$(touch /x)",
                        "snapshot.state=running"]  # fmt: skip
    assert qs.restore_conf_argv("/vms/web1", "s1")[3:] == ["qmcp-snapshot-conf", "/vms/web1", "s1"]


def test_only_qcow2_files_hold_snapshots() -> None:
    ok = vm("a", disks=(VmDisk("vda", "/vm/a.qcow2", "qcow2"), VmDisk("sda", "/i.iso", "raw", device="cdrom",
                                                                         readonly=True)))  # fmt: skip
    assert [d.target for d in snapshot_disks(ok, "VM 'a'")] == ["vda"]
    raw = vm("a", disks=(VmDisk("vda", "/vm/a.qcow2", "qcow2"), VmDisk("vdb", "/vm/d.raw", "raw")))
    with pytest.raises(InvalidInput, match=r"disk vdb of VM 'a' \(/vm/d.raw\) is raw: only qcow2 images"):
        snapshot_disks(raw, "VM 'a'")
    block = vm("a", disks=(VmDisk("vda", "/dev/sdb", "raw", file_backed=False),))
    with pytest.raises(InvalidInput, match="is not a file image"):
        snapshot_disks(block, "VM 'a'")


# ---- the flow, with fakes


@dataclass
class FakeSnapshots:
    """A snapshot backend that keeps snapshots in a list; `calls` says what changed."""

    snapshots: list[SnapshotInfo] = field(default_factory=list)
    calls: list[str] = field(default_factory=list)
    fail_after_change: bool = False

    async def listing(self, job: Job, vm: VmState) -> SnapshotListing:
        return SnapshotListing(list(self.snapshots))

    async def create(self, job: Job, vm: VmState, new: NewSnapshot) -> str:
        snapshot_disks(vm, f"VM '{vm.name}'")
        await job.change("taking it", ["true", new.name], undo=Undo(f"deleting {new.name}", ["true", "undo"]))
        if self.fail_after_change:
            raise CommandFailed('step "writing the metadata" failed (injected)')
        self.calls.append(f"create {new.name} memory={new.include_memory}")
        if not job.dry_run:
            self.snapshots.append(snap(new.name, memory=vm.running))
        return "internal"

    async def revert(self, job: Job, vm: VmState, s: SnapshotInfo) -> None:
        await job.change("reverting", ["true"])
        self.calls.append(f"revert {s.name}")

    async def delete(self, job: Job, vm: VmState, s: SnapshotInfo) -> None:
        await job.change("deleting", ["true"])
        self.calls.append(f"delete {s.name}")
        if not job.dry_run:
            self.snapshots = [x for x in self.snapshots if x.name != s.name]


def snap(name: str, memory: bool = False) -> SnapshotInfo:
    return SnapshotInfo(name=name, created="2026-11-30T13:13:02+00:00", memory=memory, location="internal",
                        disks=["vda"])  # fmt: skip


@dataclass
class Rig:
    fleet: Fleet
    machine: FakeBackend
    snaps: FakeSnapshots
    runner: FakeRunner


@pytest.fixture
def rig(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Rig:
    return make_rig(monkeypatch, tmp_path, PolicySpec())


def make_rig(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, policy: PolicySpec) -> Rig:
    fleet = Fleet(Inventory([], policy=policy, audit_log=str(tmp_path / "audit.jsonl")))
    machine, snaps, runner = FakeBackend(), FakeSnapshots([snap("s1")]), FakeRunner()
    machine.vms["web1"] = vm("web1", "running")

    async def backends_for(*_args: object) -> tuple[FakeBackend, FakeSnapshots]:
        return machine, snaps

    monkeypatch.setattr(flow, "backends_for", backends_for)
    monkeypatch.setattr(fleet, "runner", lambda spec: runner)
    return Rig(fleet, machine, snaps, runner)


async def run(rig: Rig, action: str, consent: Consent | None = None, **kw: object):  # type: ignore[no-untyped-def]
    req = parse_snapshot_request("web1", action, **kw)  # type: ignore[arg-type]
    return await manage_snapshot(rig.fleet, HostRef(), req, consent=consent)


SNAPSHOT_OPS = levels.tool_operations(levels.SNAPSHOT)
SCENARIO = {"list": {}, "create": {"snapshot": "s2"}, "revert": {"snapshot": "s1"}, "delete": {"snapshot": "s1"}}


def test_every_snapshot_action_is_classified() -> None:
    assert sorted(op.action or "" for op in SNAPSHOT_OPS) == sorted(SCENARIO)
    assert levels.tool_destructive(levels.SNAPSHOT) and levels.tool_mutates(levels.SNAPSHOT)
    assert "snapshot-revert" in levels.POLICY_ACTIONS and "snapshot-list" not in levels.POLICY_ACTIONS


@pytest.mark.parametrize("op", SNAPSHOT_OPS, ids=lambda op: op.name)
async def test_confirmation_follows_the_level(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, op: levels.Operation
) -> None:
    action = op.action or ""
    rig = make_rig(monkeypatch, tmp_path, PolicySpec())
    req = parse_snapshot_request("web1", action, **SCENARIO[action])  # type: ignore[arg-type]
    question = await snapshot_confirmation_question(rig.fleet, HostRef(), req)
    assert (question is not None) is (op.level is levels.DANGEROUS), question
    if op.level is levels.DANGEROUS:
        assert "s1" in question and "web1" in question  # type: ignore[operator]
        with pytest.raises(NeedsConfirmation, match="needs confirmation: pass confirm=true; nothing was changed"):
            await run(rig, action, **SCENARIO[action])
        assert rig.snaps.calls == []
        with pytest.raises(NeedsConfirmation, match="was not confirmed \\(the user declined\\)"):
            await run(rig, action, Consent(False, "declined"), **SCENARIO[action])
    result = await run(rig, action, Consent(True, "cli"), **SCENARIO[action])
    assert result.success and result.data.action == action
    assert len(rig.snaps.calls) == (0 if action == "list" else 1)


async def test_revert_question_says_what_is_lost(rig: Rig) -> None:
    req = parse_snapshot_request("web1", "revert", snapshot="s1")
    question = await snapshot_confirmation_question(rig.fleet, HostRef(), req)
    assert question is not None
    assert "disks and configuration go back" in question and "ends shut off (the snapshot holds no memory)" in question
    assert await snapshot_confirmation_question(rig.fleet, HostRef(), parse_snapshot_request(
        "web1", "revert", snapshot="nosuch")) is None  # fmt: skip


async def test_create_refusals_and_results(rig: Rig) -> None:
    with pytest.raises(Conflict, match="already has a snapshot named 's1'"):
        await run(rig, "create", snapshot="s1")
    rig.machine.vms["web1"] = vm("web1", "stopped")
    with pytest.raises(Conflict, match="shut off: it has no memory to save"):
        await run(rig, "create", snapshot="s2", include_memory=True)
    result = await run(rig, "create", snapshot="s2", description="d")
    assert result.message == "took snapshot 's2' of VM 'web1' on host 'local': internal"
    assert result.data.snapshot == "s2" and result.data.details.snapshot is not None
    assert [s.name for s in result.data.details.snapshots] == ["s1", "s2"]
    with pytest.raises(NotFound, match=r"has no snapshot 'nosuch' \(its snapshots: 's1', 's2'\)"):
        await run(rig, "delete", Consent(True, "cli"), snapshot="nosuch")
    with pytest.raises(NotFound, match="VM 'ghost' on host 'local' does not exist"):
        await manage_snapshot(rig.fleet, HostRef(), parse_snapshot_request("ghost", "list"))


async def test_a_failed_create_is_undone_and_audited(rig: Rig, tmp_path: Path) -> None:
    rig.snaps.fail_after_change = True
    with pytest.raises(CommandFailed, match=r"injected.*; undone: deleting s2"):
        await run(rig, "create", snapshot="s2")
    assert rig.runner.argvs[-1] == ["true", "undo"]
    records = [json.loads(line) for line in (tmp_path / "audit.jsonl").read_text().splitlines()]
    assert [(r["event"], r["tool"], r["action"]) for r in records] == [
        ("intent", "manage_snapshot", "create"), ("end", "manage_snapshot", "create"),
    ]  # fmt: skip
    assert records[0]["arguments"]["snapshot"] == "s2" and records[1]["outcome"] == "failed"


async def test_dry_run_changes_nothing_and_list_is_not_audited(rig: Rig, tmp_path: Path) -> None:
    result = await run(rig, "delete", snapshot="s1", dry_run=True)
    assert result.message.startswith("dry run: would delete snapshot 's1'") and rig.snaps.calls == ["delete s1"]
    assert [s.name for s in rig.snaps.snapshots] == ["s1"]
    assert not any(c.ran for c in result.data.details.commands if c.changes_host)
    audit = tmp_path / "audit.jsonl"
    before = audit.read_text()
    listed = await run(rig, "list")
    assert listed.message == "VM 'web1' on host 'local' has 1 snapshot(s)" and audit.read_text() == before
    assert rig.runner.held == []  # neither a dry run nor a list takes the host lock
    await run(rig, "delete", Consent(True, "cli"), snapshot="s1")
    assert len(rig.runner.held) == 1  # a change does


@pytest.mark.parametrize(
    ("policy", "action", "words"),
    [
        (PolicySpec(allowed_actions=("start", "snapshot-create")), "revert", "the allowed actions are start, "
         "snapshot-create (refused by policy key `allowed_actions`"),
        (PolicySpec(protected_vms=("web*",)), "delete", "matches the protected pattern 'web*'"),
        (PolicySpec(read_only=True), "create", "this server is read-only for host 'local'"),
    ],
)  # fmt: skip
async def test_policy_refuses_snapshot_changes(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, policy: PolicySpec, action: str, words: str
) -> None:
    rig = make_rig(monkeypatch, tmp_path, policy)
    with pytest.raises(PolicyDenied, match=words.replace("(", r"\(").replace("*", r"\*")):
        await run(rig, action, Consent(True, "cli"), snapshot="s1" if action != "create" else "s9")
    assert rig.snaps.calls == []
    assert (await run(rig, "list")).success  # a read is never refused by the policy


async def test_allowed_snapshot_action_goes_ahead(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    rig = make_rig(monkeypatch, tmp_path, PolicySpec(allowed_actions=("snapshot-create",)))
    assert (await run(rig, "create", snapshot="s2")).success
    with pytest.raises(ValueError, match="unknown action"):
        PolicySpec(allowed_actions=("snapshot-list",))


async def test_the_snapshot_then_change_prompt() -> None:
    async with Client(build_server(Inventory([]))) as client:
        prompts = [p for p in (await client.list_prompts()).prompts if p.name == "snapshot_then_change"]
        assert len(prompts) == 1  # the other prompts: tests/unit/test_prompts.py
        assert {a.name: a.required for a in prompts[0].arguments or []} == {"name": True, "change": True, "host": False}
        arguments = {"name": "web1", "change": "4G of memory", "host": "lab1"}
        got = await client.get_prompt("snapshot_then_change", arguments)
    text = got.messages[0].content.text  # type: ignore[union-attr]
    assert "Change the VM 'web1' on host 'lab1' safely: 4G of memory" in text
    assert 'manage_snapshot(name="web1", host="lab1", action="revert"' in text and "confirm=true" in text
