"""The audit log with the fake backend: intent on disk before the first command, outcomes for
success, refusal and failure, secrets redacted, fail closed, and `audit tail`."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import yaml

from qemu_mcp.audit import REDACTED, AuditLog
from qemu_mcp.auth import Principal
from qemu_mcp.config import HostSpec, Inventory
from qemu_mcp.errors import ConfigError, NotFound, PolicyDenied
from qemu_mcp.ops.fleet import Fleet, HostRef
from qemu_mcp.ops.manage import NeedsConfirmation, manage_vm, parse_request
from qemu_mcp.policy import PolicySpec
from tests.fakes import Call, FakeRunner
from tests.unit.test_manage_flows import FakeBackend, FlowHost, use_fakes, vm


def records(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines()]


@dataclass
class Witness(FlowHost):
    """Before each command, reads the audit log as another process would: what is on disk."""

    audit: Path = Path("/nonexistent")
    seen: list[list[dict[str, Any]]] = field(default_factory=list)

    def __call__(self, call: Call) -> str | None:
        self.seen.append(records(self.audit) if self.audit.exists() else [])
        return super().__call__(call)


@pytest.fixture
def rig(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[Fleet, FakeBackend, FakeRunner, Witness, Path]:
    audit = tmp_path / "state" / "audit.jsonl"
    inv = Inventory(
        [HostSpec(name="h", address="192.0.2.1", vm_dir="/vm")],
        policy=PolicySpec(protected_vms=("prod-*",)),
        audit_log=str(audit),
    )
    fleet = Fleet(inv)
    witness = Witness(audit=audit)
    runner = FakeRunner(witness)
    backend = FakeBackend(host=witness)
    use_fakes(monkeypatch, fleet, backend, runner)
    return fleet, backend, runner, witness, audit


async def test_success_refusal_failure(rig) -> None:  # type: ignore[no-untyped-def]
    fleet, backend, _, witness, audit = rig
    backend.vms = {"web1": vm("web1"), "prod-db": vm("prod-db")}
    alice = Principal(subject="alice")

    await manage_vm(fleet, HostRef("h", ssh_pwd="s3cret-pw"), parse_request("new1", "create", arch="x86_64"), who=alice)
    # The intent record was on disk when the first command ran, and no end record yet.
    first = witness.seen[0]
    assert [r["event"] for r in first] == ["intent"] and first[0]["action"] == "create"

    with pytest.raises(PolicyDenied):
        await manage_vm(fleet, HostRef("h"), parse_request("prod-db", "stop"), who=alice)
    with pytest.raises(NotFound):
        await manage_vm(fleet, HostRef("h"), parse_request("ghost", "start"), who=alice)
    with pytest.raises(NeedsConfirmation):
        await manage_vm(fleet, HostRef("h"), parse_request("web1", "delete"), who=alice)

    recs = records(audit)
    assert [r["event"] for r in recs] == ["intent", "end"] * 4
    assert [r["outcome"] for r in recs[1::2]] == ["ok", "refused", "failed", "refused"]
    intent, end = recs[0], recs[1]
    assert intent["id"] == end["id"] and intent["who"] == end["who"] == "alice"
    assert (intent["host"], intent["vm"], intent["tool"]) == ("h", "new1", "manage_vm")
    assert intent["arguments"]["ssh_pwd"] == REDACTED and "s3cret-pw" not in audit.read_text()
    assert end["message"].startswith("created VM 'new1'") and end["duration_s"] >= 0
    assert ["qemu-img", "create", "-q", "-f", "qcow2", "--", "/vm/new1.qcow2", str(20 * 1024**3)] in [
        c["argv"] for c in end["commands"] if c["ran"]
    ]
    assert "`protected_vms`" in recs[3]["error"] and recs[3]["error_kind"] == "PolicyDenied"
    assert recs[5]["error_kind"] == "NotFound" and "does not exist" in recs[5]["error"]
    assert oct(audit.stat().st_mode & 0o777) == "0o600"


async def test_unwritable_audit_log_refuses_the_action(rig, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    fleet, backend, runner, _, _ = rig
    backend.vms = {"web1": vm("web1")}
    blocker = tmp_path / "file"
    blocker.write_text("")
    fleet.audit = AuditLog(blocker / "audit.jsonl")  # its parent is a file
    with pytest.raises(ConfigError, match=r"cannot write the audit log .*; nothing was done"):
        await manage_vm(fleet, HostRef("h"), parse_request("web1", "start"))
    assert not runner.calls and not backend.calls


def test_tail_and_cli(tmp_path: Path) -> None:
    audit = tmp_path / "a.jsonl"
    log = AuditLog(audit)
    done = log.begin(who="alice", tool="manage_vm", action="start", host="h", vm="web1", arguments={})
    done.end("ok", message="started VM 'web1'")
    log.begin(who="bob", tool="manage_vm", action="stop", host="h", vm="db1", arguments={"force": True})
    with audit.open("a") as f:
        f.write('{"torn write')  # a crash mid-line is skipped, not fatal
    assert [r["event"] for r in log.tail(10)] == ["intent", "end", "intent"]

    config = tmp_path / "hosts.yaml"
    config.write_text(yaml.safe_dump({"audit_log": str(audit)}))
    env = {**os.environ, "COLUMNS": "200"}
    cmd = [sys.executable, "-m", "qemu_mcp", "--config", str(config), "audit", "tail"]
    out = subprocess.run([*cmd, "-n", "5"], capture_output=True, text=True, env=env, timeout=60)
    assert out.returncode == 0, out.stderr
    lines = out.stdout.splitlines()
    row_alice = next(line for line in lines if "alice" in line)
    row_bob = next(line for line in lines if "bob" in line)
    assert "ok" in row_alice and "started VM 'web1'" in row_alice
    assert "unfinished" in row_bob and "force=True" in row_bob
    js = subprocess.run([*cmd, "-n", "1", "--json"], capture_output=True, text=True, env=env, timeout=60)
    assert [r["who"] for r in json.loads(js.stdout)] == ["bob"]
