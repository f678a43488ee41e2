"""Every refusal of manage_vm is a clear error and leaves the host exactly as it was (over SSH)."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from mcp import Client

from qemu_mcp.config import Inventory
from qemu_mcp.frontends.mcp.server import build_server
from tests.conftest import key_host
from tests.integration.manage_helpers import Area, data, domstate, error, image_size, manage_area, virsh

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def area(libvirtd_running: None) -> Iterator[Area]:
    with manage_area() as a:
        yield a


def state(area: Area) -> tuple[Any, ...]:
    """Everything a refused call could have touched: our domains (with UUIDs and states) and files."""
    names, files = area.snapshot()
    uuids = {n: virsh("domuuid", "--domain", n).stdout.strip() for n in names}
    digests = {f: hashlib.sha256(p.read_bytes()).hexdigest() for f in files if (p := Path(area.dir, f)).is_file()}
    return names, files, uuids, {n: domstate(n) for n in names}, digests


async def test_refusals_change_nothing(sshd_host, area: Area) -> None:  # type: ignore[no-untyped-def]
    server = build_server(Inventory([key_host(sshd_host, vm_dir=area.dir, accel="tcg")]))
    dup = area.name("dup")
    precious = Path(area.dir, "precious.qcow2")
    precious.write_text("not an image: must never be overwritten")
    Path(area.dir, f"{area.prefix}taken.qcow2").write_text("in the way of a default disk path")
    Path(area.dir, "plainfile").write_text("")

    async with Client(server) as client:

        async def call(**args: Any) -> Any:
            return await client.call_tool("manage_vm", {"host": "rig", **args})

        async def refused(words: str, **args: Any) -> None:
            before = state(area)
            msg = error(await call(**args))
            assert words in msg, msg
            assert state(area) == before, args

        create = {"action": "create", "arch": "x86_64", "memory": "128M", "disk": "size=64M"}
        data(await call(name=dup, **create))
        disk = f"{area.dir}/{dup}.qcow2"

        await refused("already exists: delete it first or choose another name", name=dup, **create)
        await refused(
            "already exists on host 'rig' and is never overwritten",
            name=area.name("new"), **(create | {"disk": f"path={precious},size=64M"}),
        )  # fmt: skip
        await refused("never overwritten", name=area.name("taken"), **create)  # default path taken by a file
        no_iso = f"{area.dir}/nonexistent/x.iso"  # inside the allowed paths (test_safety covers outside)
        await refused(f"ISO {no_iso} does not exist on host 'rig'", name=area.name("n2"), iso=no_iso, **create)
        under_file = f"{area.dir}/plainfile/sub"
        await refused("exists but is not a directory", name=area.name("n3"), vm_dir=under_file, **create)
        await refused("would shrink it, which is refused", name=dup, action="modify", disk="size=32M")
        assert image_size(disk) == 64 * 1024**2
        await refused("does not exist", name=area.name("ghost"), action="start")
        await refused("is already shut off; nothing to stop", name=dup, action="stop")
        await refused("needs confirmation: pass confirm=true", name=dup, action="delete")

        data(await call(name=dup, action="start"))
        await refused("or pass force=true to power it off and delete it", name=dup, action="delete", confirm=True)
        await refused("pass confirm=true", name=dup, action="delete", force=True)

        # Strings refused before any command is built.
        for words, args in [
            ("memory '2GB'", {"memory": "2GB"}),
            ("has no unit", {"memory": "2048"}),
            ("not key=value", {"disk": "20G"}),
            ("must end in .qcow2", {"disk": "path=/tmp/x.vmdk"}),
            ("arch 'sparc' is not supported", {"arch": "sparc"}),
            ("vcpus 0 is out of range", {"vcpus": 0}),
        ]:
            await refused(words, name=area.name("bad"), **(create | args))
        for bad_name, words in [("-x", "starts with '-'"), ("a b", "is not allowed"), ("x;reboot", "is not allowed")]:
            await refused(words, name=bad_name, **create)
        await refused("create needs arch", name=area.name("bad"), action="create")
        await refused("iso does not apply to action=modify", name=dup, action="modify", iso="/x.iso")

        # Dry runs of every action change nothing either, and report what they would run.
        for args in [
            {"action": "create", "arch": "x86_64", "name": area.name("dry")},
            {"action": "stop", "force": True},
            {"action": "reboot"},
            {"action": "modify", "memory": "256M", "disk": "size=128M"},
            {"action": "delete", "force": True},
        ]:
            before = state(area)
            result = data(await call(**({"name": dup, "dry_run": True} | args)))
            assert state(area) == before, args
            planned = [c for c in result["details"]["commands"] if c["changes_host"]]
            assert planned and not any(c["ran"] for c in planned), args

        data(await call(name=dup, action="delete", force=True, confirm=True))
    assert precious.read_text() == "not an image: must never be overwritten"
