"""Abandoned writes (issue 10): a create whose claim-define outlives the host's command_timeout, on
a host whose virsh sleeps before `define` (tests/rig/host_faults.py). When the define lands
within the settle time, the rollback sees it and undoes it; when it lands later, the error says
precisely which domain may still appear, list_vms then marks it as an unfinished create and
delete removes it. A server killed in the middle of a create leaves the same marked domain."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from mcp import Client

from qemu_mcp.backends import job as job_module
from qemu_mcp.config import Inventory
from qemu_mcp.frontends.mcp.server import build_server
from tests.conftest import key_host
from tests.faults.conftest import FaultRecord
from tests.integration.manage_helpers import Area, data, error, exists, manage_area, virsh
from tests.rig import SshHost
from tests.rig.host_faults import DelayedDefine, start_delayed_define_sshd
from tests.rig.sshd import PasswordAccount

pytestmark = pytest.mark.integration
TIMEOUT = 3.0  # the host's command_timeout: the delayed define outlives it
WORKTREE = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def delayed(
    rig_dir: Path, client_key: Path, password_account: PasswordAccount, libvirtd_running: None
) -> Iterator[tuple[SshHost, DelayedDefine]]:
    sshd, control = start_delayed_define_sshd(rig_dir, client_key, password_account)
    try:
        yield sshd.host, control
    finally:
        control.abort()  # a define still held must never land after the test
        sshd.stop()


@pytest.fixture
def area(libvirtd_running: None) -> Iterator[Area]:
    with manage_area() as a:
        yield a


def inventory(host: SshHost, area: Area, audit_log: Path | None = None) -> Inventory:
    # A vm_dir that does not exist yet: the create makes it, and its undo must remove it.
    spec = key_host(host, vm_dir=f"{area.dir}/new", accel="tcg", command_timeout=TIMEOUT)
    return Inventory([spec], audit_log=str(audit_log) if audit_log else None)


async def call(client: Client, tool: str, **args: Any) -> Any:
    return await client.call_tool(tool, {"host": "rig", **args})


CREATE = {"action": "create", "arch": "x86_64", "memory": "128M", "disk": "size=64M"}


def check_area_empty(area: Area, fault: FaultRecord, after: str) -> None:
    names, files = area.snapshot()
    for name in names:
        fault.leaked(f"domain '{name}' after {after}")
    for f in files:
        fault.leaked(f"{f} in the VM directory after {after}")


@pytest.mark.fault("a define abandoned by timeout (lands within settle)")
async def test_a_define_that_lands_within_settle_is_undone(delayed, area: Area, fault: FaultRecord) -> None:  # type: ignore[no-untyped-def]
    host, control = delayed
    name = area.name("late")
    control.sleep(2 * TIMEOUT)  # lands about 3 s after the call gave up: well within the 15 s settle
    try:
        async with Client(build_server(inventory(host, area))) as client:
            start = time.monotonic()
            msg = error(await call(client, "manage_vm", name=name, **CREATE))
            fault.called()
            took = time.monotonic() - start
    finally:
        control.off()
    fault.clear_error(msg, "'rig'", "did not finish within 3", "command_timeout",
                      f"undone: removing the definition of '{name}'")  # fmt: skip
    assert "COULD NOT UNDO" not in msg, msg
    fault.notes.append(f"the create failed after {took:.1f} s")
    check_area_empty(area, fault, "the rollback")


@pytest.mark.fault("a define abandoned by timeout (lands after settle)")
async def test_a_define_that_lands_after_settle_is_named_then_deleted(  # type: ignore[no-untyped-def]
    delayed, area: Area, fault: FaultRecord, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    host, control = delayed
    name = area.name("later")
    monkeypatch.setattr(job_module, "ABANDON_SETTLE", 2.0)  # the rollback stops watching 2 s after
    audit = tmp_path / "audit.jsonl"
    control.sleep(3 * TIMEOUT)  # lands 9 s after the call started: after the call gave up watching
    try:
        async with Client(build_server(inventory(host, area, audit))) as client:
            msg = error(await call(client, "manage_vm", name=name, **CREATE))
            fault.called()
            uuid = _uuid_in(msg)
            fault.clear_error(msg, "'rig'", "did not finish within 3", "command_timeout",
                              f"the domain '{name}' (uuid {uuid}) may still appear", "manage_vm delete")  # fmt: skip
            end = [json.loads(line) for line in audit.read_text().splitlines()][-1]
            assert end["outcome"] == "failed" and f"(uuid {uuid}) may still appear" in end["error"], end
            deadline = time.monotonic() + 4 * TIMEOUT
            while not exists(uuid) and time.monotonic() < deadline:
                await asyncio.sleep(0.2)
            assert exists(uuid), "the delayed define never landed"
            await _unfinished_listed_then_deleted(client, area, name, fault)
    finally:
        control.off()
    check_area_empty(area, fault, "delete")


@pytest.mark.fault("server killed mid-create")
async def test_a_server_killed_mid_create_leaves_a_marked_domain(  # type: ignore[no-untyped-def]
    delayed, area: Area, fault: FaultRecord, tmp_path: Path
) -> None:
    host, control = delayed
    name = area.name("killed")
    config = tmp_path / "hosts.yaml"
    spec = key_host(host, vm_dir=area.dir, accel="tcg")
    config.write_text(yaml.safe_dump({"hosts": [spec.model_dump(exclude_none=True)]}))
    control.hold_created(60)  # the final define waits: the claim and the disk image are done
    argv = [sys.executable, "-m", "qemu_mcp", "--config", str(config), "vm", "create", name, "--host", "rig",
            "--arch", "x86_64", "--memory", "128M", "--disk", "size=64M"]  # fmt: skip
    proc = subprocess.Popen(argv, cwd=WORKTREE, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    disk = Path(area.dir, f"{name}.qcow2")
    try:
        deadline = time.monotonic() + 60
        while not (exists(name) and disk.is_file() and disk.stat().st_size > 0) and proc.poll() is None:
            assert time.monotonic() < deadline, "the create never reached its final define"
            time.sleep(0.1)
        time.sleep(0.5)  # the final define is being held by now
        assert proc.poll() is None, proc.communicate()[0]
        fault.called()
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(10)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(10)
        control.abort()  # the held define fails: the domain stays marked as being created
    async with Client(build_server(Inventory([spec]))) as client:
        await _unfinished_listed_then_deleted(client, area, name, fault)
    control.off()
    check_area_empty(area, fault, "delete")


async def _unfinished_listed_then_deleted(client: Client, area: Area, name: str, fault: FaultRecord) -> None:
    """list_vms and get_vm_info mark the domain as an unfinished create; delete removes all of it."""
    listed = data(await call(client, "list_vms"))
    fault.called()
    mine = [v for v in listed["vms"] if v["name"] == name]
    assert len(mine) == 1, listed
    assert "unfinished create" in json.dumps(mine[0]), mine[0]
    info = data(await call(client, "get_vm_info", name=name))
    fault.called()
    assert "unfinished create" in json.dumps(info), info
    data(await call(client, "manage_vm", name=name, action="delete", confirm=True))
    fault.called()
    if virsh("dominfo", "--domain", name).returncode == 0:
        fault.leaked(f"domain '{name}' after delete")


def _uuid_in(message: str) -> str:
    marker = "(uuid "
    assert marker in message, message
    return message.split(marker, 1)[1].split(")", 1)[0]
