"""Issue 6 over the rig's real sshd + libvirtd: read-only mode, allowed_actions, protected VMs,
allowed_paths with a real symlink escape, the audit log (success, refusal, failure) and a server
killed mid-action (SIGKILL) that leaves its intent record behind.

Confirmation (elicitation accept/decline, a client that cannot be asked, confirm=true) is tested
in test_manage_confirm.py and tests/unit/test_levels.py; here only that a policy refusal asks
nothing."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from mcp import Client

from qemu_mcp.config import Inventory
from qemu_mcp.frontends.mcp.server import build_server
from qemu_mcp.policy import PolicySpec
from tests.conftest import key_host
from tests.integration.manage_helpers import Area, data, domstate, error, exists, manage_area
from tests.integration.test_http import client as http_client
from tests.integration.test_http import start
from tests.integration.test_manage_confirm import Answer
from tests.integration.test_manage_refusals import state

pytestmark = pytest.mark.integration
SMALL = {"arch": "x86_64", "memory": "128M", "disk": "size=64M"}


@pytest.fixture(scope="module")
def area(libvirtd_running: None) -> Iterator[Area]:
    with manage_area() as a:
        yield a


def audit_records(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


async def test_read_only_mode(sshd_host, guests, area: Area, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    inv = Inventory([key_host(sshd_host, vm_dir=area.dir)], policy=PolicySpec(read_only=True),
                    audit_log=str(tmp_path / "audit.jsonl"))  # fmt: skip
    before = state(area), domstate(guests.running), domstate(guests.stopped)
    async with Client(build_server(inv)) as c:
        assert "manage_vm" not in {t.name for t in (await c.list_tools()).tools}
        for args in (
            {"name": guests.running, "action": "stop", "force": True, "confirm": True},
            {"name": guests.stopped, "action": "start"},
            {"name": area.name("ro"), "action": "create", **SMALL},
            {"name": guests.stopped, "action": "delete", "confirm": True, "dry_run": True},
        ):
            msg = error(await c.call_tool("manage_vm", {"host": "rig", **args}))
            assert "is refused: this server is read-only for host 'rig' (refused by policy key `read_only`" in msg
        # Reading still works.
        listed = data(await c.call_tool("list_vms", {"host": "rig", "filter_name": guests.prefix}))
        assert listed["vm_count"] == 2
    assert (state(area), domstate(guests.running), domstate(guests.stopped)) == before
    assert {r["outcome"] for r in audit_records(tmp_path / "audit.jsonl") if r["event"] == "end"} == {"refused"}


async def test_allowed_actions_and_protected_vms(sshd_host, guests, area: Area) -> None:  # type: ignore[no-untyped-def]
    host = key_host(sshd_host, vm_dir=area.dir, accel="tcg", policy=PolicySpec(allowed_actions=("create", "start")))
    inv = Inventory([host], policy=PolicySpec(protected_vms=(guests.prefix + "*", "*-keep")))
    before = state(area), domstate(guests.running), domstate(guests.stopped)
    asked = Answer("accept", confirm=True)
    async with Client(build_server(inv), elicitation_callback=asked) as c:

        async def call(**args: Any) -> Any:
            return await c.call_tool("manage_vm", {"host": "rig", **args})

        msg = error(await call(name=area.name("x"), action="stop"))
        assert "manage_vm stop of VM" in msg and "the allowed actions are create, start (refused by policy key " \
            "`allowed_actions`, set in host 'rig' policy)" in msg  # fmt: skip
        msg = error(await call(name=guests.stopped, action="start"))
        assert f"matches the protected pattern '{guests.prefix}*'" in msg and "`protected_vms`, set in policy" in msg
        msg = error(await call(name=area.name("db-keep"), action="create", dry_run=True, **SMALL))
        assert "matches the protected pattern '*-keep'" in msg
        # A dangerous call on a protected VM is refused without asking the user first.
        host_all = key_host(sshd_host, vm_dir=area.dir)
        async with Client(build_server(Inventory([host_all], policy=inv.policy)), elicitation_callback=asked) as c2:
            msg = error(await c2.call_tool("manage_vm", {"host": "rig", "name": guests.running, "action": "delete"}))
        assert "`protected_vms`" in msg and asked.questions == []
        # What the policy allows still works.
        ok = data(await call(name=area.name("ok"), action="create", dry_run=True, **SMALL))
        assert ok["details"]["dry_run"]
    assert (state(area), domstate(guests.running), domstate(guests.stopped)) == before


async def test_allowed_paths_symlink_escape(sshd_host, area: Area, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    outside = tmp_path / "outside"
    outside.mkdir()
    Path(area.dir, "escape").symlink_to(outside)
    Path(area.dir, "inside").mkdir()
    Path(area.dir, "inner-link").symlink_to(Path(area.dir, "inside"))
    inv = Inventory([key_host(sshd_host, vm_dir=area.dir, accel="tcg")])
    before = state(area)
    async with Client(build_server(inv)) as c:

        async def create(**args: Any) -> Any:
            return await c.call_tool("manage_vm", {"host": "rig", "action": "create", "dry_run": True, **SMALL, **args})

        name = area.name("p")
        msg = error(await create(name=name, vm_dir=f"{area.dir}/escape"))
        assert msg.endswith(
            f"disk image {area.dir}/escape/{name}.qcow2 (really {outside}/{name}.qcow2) on host 'rig' is outside "
            f"the allowed paths ({area.dir}, /var/lib/libvirt/images) (refused by policy key `allowed_paths`, its "
            "default)"
        ), msg
        msg = error(await create(name=name, disk="path=/tmp/qmcp-nope.qcow2,size=64M"))
        assert "disk image /tmp/qmcp-nope.qcow2 on host 'rig' is outside the allowed paths" in msg
        msg = error(await create(name=name, iso="/etc/hostname"))
        assert "ISO /etc/hostname on host 'rig' is outside the allowed paths" in msg
        msg = error(await create(name=name, disk=f"path={area.dir}/x/../../../etc/x.qcow2"))
        assert "'..'" in msg  # refused by validation before any policy check
        # A symlink that stays inside is fine; so is the plain default.
        res = data(await create(name=name, vm_dir=f"{area.dir}/inner-link"))
        assert res["details"]["requested"]["disk_path"] == f"{area.dir}/inner-link/{name}.qcow2"
        resolve = [cmd for cmd in res["details"]["commands"] if cmd["argv"][0] == "realpath"]
        assert len(resolve) == 1 and not resolve[0]["changes_host"]  # one round trip, a read
    assert state(area) == before and not list(outside.iterdir())


async def test_audit_success_refusal_failure(sshd_host, area: Area, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    audit = tmp_path / "audit.jsonl"
    name = area.name("aud")
    inv = Inventory([key_host(sshd_host, vm_dir=area.dir, accel="tcg")],
                    policy=PolicySpec(protected_vms=("*-prod",)), audit_log=str(audit))  # fmt: skip
    async with Client(build_server(inv)) as c:

        async def call(**args: Any) -> Any:
            return await c.call_tool("manage_vm", {"host": "rig", **args})

        data(await call(name=name, action="create", **SMALL))
        error(await call(name=area.name("db-prod"), action="create", **SMALL))  # refused
        error(await call(name=name, action="start", iso="/x.iso"))  # invalid: never reaches the audited flow
        error(await call(name=area.name("ghost"), action="start"))  # failed: no such VM
        data(await call(name=name, action="delete", confirm=True))
    assert not exists(name)

    recs = audit_records(audit)
    ends = [r for r in recs if r["event"] == "end"]
    assert [(r["action"], r["outcome"]) for r in ends] == [
        ("create", "ok"), ("create", "refused"), ("start", "failed"), ("delete", "ok"),
    ]  # fmt: skip
    assert len(recs) == 8 and all(r["who"] == "stdio" and r["host"] == "rig" for r in recs)
    for intent, end in zip(recs[0::2], recs[1::2], strict=True):
        assert intent["event"] == "intent" and intent["id"] == end["id"]
    ran = [cmd["argv"] for cmd in ends[0]["commands"] if cmd["ran"]]
    assert any(argv[:2] == ["qemu-img", "create"] and argv[-2] == f"{area.dir}/{name}.qcow2" for argv in ran)
    assert any("define" in " ".join(argv) for argv in ran)
    assert "`protected_vms`" in ends[1]["error"] and "does not exist" in ends[2]["error"]
    assert ends[3]["message"].startswith(f"deleted VM '{name}'")


async def test_server_killed_mid_action_leaves_the_intent(sshd_host, area: Area, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    audit = tmp_path / "audit.jsonl"
    config = tmp_path / "hosts.yaml"
    rig = key_host(sshd_host, vm_dir=area.dir, accel="tcg").model_dump(exclude_none=True)
    config.write_text(yaml.safe_dump({"hosts": [rig], "audit_log": str(audit)}))
    proc, port = start(config, log=tmp_path / "server.log")
    name = area.name("kill")

    async def stop_forever() -> None:
        async with http_client(port, {}) as c:
            await c.call_tool("manage_vm", {"host": "rig", "name": name, "action": "stop", "timeout": 60})

    def in_thread() -> None:  # its own loop: the session dies with the server, the test goes on
        with contextlib.suppress(BaseException):
            asyncio.run(stop_forever())

    try:
        async with http_client(port, {}) as c:
            create = {"host": "rig", "name": name, "action": "create", "start": True, **SMALL}
            data(await c.call_tool("manage_vm", create))
        # The guest has no OS, so it ignores ACPI: a graceful stop waits for up to 60 s.
        caller = threading.Thread(target=in_thread, daemon=True)
        caller.start()
        deadline = time.monotonic() + 20
        while not any(r["action"] == "stop" for r in audit_records(audit)):
            assert time.monotonic() < deadline, "no intent record for the stop"
            await asyncio.sleep(0.05)
        await asyncio.sleep(1.0)  # the shutdown request has gone out; the server is waiting for the guest
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(10)
        caller.join(20)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(10)
    recs = audit_records(audit)
    stop = [r for r in recs if r["action"] == "stop"]
    assert [r["event"] for r in stop] == ["intent"], recs  # on disk, and no end was ever written
    assert stop[0]["vm"] == name and stop[0]["arguments"]["timeout"] == 60
    assert domstate(name) == "running"  # the manage_area teardown removes it
