"""Exact targeting (issue 10): a name that virsh could read as a domain id or UUID never selects
another VM, on any tool; a domain really NAMED like another's id is the one acted on; create
refuses such names. After every call the victim is still there, running, with its disk."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from mcp import Client

from qemu_mcp.config import Inventory
from qemu_mcp.frontends.mcp.server import build_server
from tests.conftest import key_host
from tests.faults.conftest import FaultRecord
from tests.integration.manage_helpers import Area, data, domstate, error, manage_area, virsh

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def area(libvirtd_running: None) -> Iterator[Area]:
    with manage_area() as a:
        yield a


def identity(name: str) -> tuple[str, str]:
    return virsh("domuuid", "--domain", name).stdout.strip(), domstate(name)


async def call(client: Client, tool: str, **args: Any) -> Any:
    return await client.call_tool(tool, {"host": "rig", **args})


# Every tool that takes a VM name, with arguments that would do harm to the wrong VM.
HARMFUL = [
    ("get_vm_info", {}),
    ("monitor_vm_status", {"interval": 1, "count": 1}),
    ("manage_vm", {"action": "delete", "force": True, "confirm": True}),
    ("manage_vm", {"action": "stop", "force": True, "confirm": True}),
    ("manage_vm", {"action": "reboot", "force": True, "confirm": True}),
    ("manage_vm", {"action": "modify", "memory": "256M", "confirm": True}),
    ("manage_vm", {"action": "start"}),
]


@pytest.mark.fault("id- and UUID-shaped names")
async def test_ids_and_uuids_never_select_a_vm(sshd_host, area: Area, fault: FaultRecord) -> None:  # type: ignore[no-untyped-def]
    server = build_server(Inventory([key_host(sshd_host, vm_dir=area.dir, accel="tcg")]))
    victim = area.name("victim")
    async with Client(server) as client:
        data(await call(client, "manage_vm", name=victim, action="create", arch="x86_64", memory="128M",
                        disk="size=64M", start=True))  # fmt: skip
        fault.called()
        before = identity(victim)
        disk = Path(area.dir, f"{victim}.qcow2")
        domid = virsh("domid", "--domain", victim).stdout.strip()
        uuid = before[0]
        assert domid.isdigit() and before[1] == "running"
        for name in (domid, uuid, uuid.upper(), uuid.replace("-", "")):
            for tool, args in HARMFUL:
                fault.called()
                msg = error(await call(client, tool, name=name, **args))
                fault.clear_error(msg, ("not found", "does not exist"), "'rig'")
                if identity(victim) != before:
                    fault.lost(f"{tool} {args} with name {name!r} reached '{victim}'")
                if not disk.is_file():
                    fault.lost(f"the disk of '{victim}' after {tool} {args} with name {name!r}")
        data(await call(client, "manage_vm", name=victim, action="delete", force=True, confirm=True))
        fault.called()


@pytest.mark.fault("a domain named like another's id")
async def test_a_domain_named_like_an_id_is_the_one_acted_on(sshd_host, area: Area, fault: FaultRecord) -> None:  # type: ignore[no-untyped-def]
    server = build_server(Inventory([key_host(sshd_host, vm_dir=area.dir, accel="tcg")]))
    victim = area.name("idvictim")
    async with Client(server) as client:
        data(await call(client, "manage_vm", name=victim, action="create", arch="x86_64", memory="128M",
                        disk="size=64M", start=True))  # fmt: skip
        domid = virsh("domid", "--domain", victim).stdout.strip()
        before = identity(victim)
        # A domain NAMED like the victim's id, made behind qemu-mcp's back (create refuses the name).
        xml = Path(area.dir, "collider.xml")
        xml.write_text(f"<domain type='qemu'><name>{domid}</name><memory unit='MiB'>64</memory>"
                       "<os><type arch='x86_64'>hvm</type></os></domain>")  # fmt: skip
        assert virsh("define", "--file", str(xml)).returncode == 0
        try:
            info = data(await call(client, "get_vm_info", name=domid))
            fault.called()
            assert info["name"] == domid and info["uuid"] != before[0]
            deleted = data(await call(client, "manage_vm", name=domid, action="delete", confirm=True))
            fault.called()
            assert deleted["vm_name"] == domid
            if identity(victim) != before:
                fault.lost(f"deleting the domain named {domid!r} reached '{victim}' (id {domid})")
            if virsh("dominfo", "--domain", before[0]).returncode != 0:
                fault.lost(f"'{victim}' is gone")
        finally:
            virsh("undefine", "--domain", domid)  # by name: the collider may still exist if the test failed
            data(await call(client, "manage_vm", name=victim, action="delete", force=True, confirm=True))


@pytest.mark.fault("id- and UUID-shaped names")
async def test_create_refuses_names_virsh_would_read_as_ids(sshd_host, area: Area, fault: FaultRecord) -> None:  # type: ignore[no-untyped-def]
    server = build_server(Inventory([key_host(sshd_host, vm_dir=area.dir, accel="tcg")]))
    async with Client(server) as client:
        for name, why in (("42", "all digits"), ("6695eb01-f6a4-8304-79aa-97f2502e193f", "shaped like a UUID"),
                          ("6695EB01F6A4830479AA97F2502E193F", "shaped like a UUID")):  # fmt: skip
            before = sorted(os.listdir(area.dir))
            fault.called()
            msg = error(await call(client, "manage_vm", name=name, action="create", arch="x86_64"))
            fault.clear_error(msg, why)
            if sorted(os.listdir(area.dir)) != before or virsh("dominfo", "--domain", name).returncode == 0:
                fault.leaked(f"a refused create of {name!r} left something")
