"""A create that fails part-way leaves nothing behind, and says which step failed and what was undone."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from mcp import Client

from qemu_mcp.config import HostSpec, Inventory
from qemu_mcp.errors import CommandFailed
from qemu_mcp.frontends.mcp.server import build_server
from qemu_mcp.ops.fleet import Fleet, HostRef
from qemu_mcp.ops.manage import manage_vm, parse_request
from qemu_mcp.transport.base import CommandResult
from tests.integration.conftest import key_host
from tests.integration.manage_helpers import Area, error, exists, manage_area

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def area(libvirtd_running: None) -> Iterator[Area]:
    with manage_area() as a:
        yield a


async def test_unwritable_vm_dir_over_ssh_as_non_root(sshd_host, area: Area) -> None:  # type: ignore[no-untyped-def]
    # The rig's password user is in group libvirt (so virsh works) but may not write below root's dirs.
    spec = key_host(sshd_host, accel="tcg").model_copy(update={"user": sshd_host.password_user})
    Path(area.dir, "locked").mkdir(mode=0o755)
    before = area.snapshot()
    async with Client(build_server(Inventory([spec]))) as client:
        msg = error(
            await client.call_tool(
                "manage_vm",
                {"host": "rig", "name": area.name("ro"), "action": "create", "arch": "x86_64",
                 "memory": "128M", "vm_dir": f"{area.dir}/locked/vms"},
            )
        )  # fmt: skip
    assert f"step \"creating the directory {area.dir}/locked/vms\" failed on host 'rig'" in msg
    assert "Permission denied" in msg
    assert area.snapshot() == before


async def test_start_failure_removes_definition_image_and_dirs(area: Area) -> None:
    # 16 TiB of guest RAM: libvirt defines it, QEMU cannot allocate it at start -> a real late failure.
    fleet = Fleet(Inventory([HostSpec(name="local", accel="tcg")]))
    name = area.name("huge")
    before = area.snapshot()
    req = parse_request(name, "create", arch="x86_64", memory="16T", disk="size=64M", start=True,
                        vm_dir=f"{area.dir}/new/deeper")  # fmt: skip
    try:
        with pytest.raises(CommandFailed) as err:
            await manage_vm(fleet, HostRef(), req)
    finally:
        await fleet.close()
    msg = str(err.value)
    assert f"step \"starting '{name}'\" failed on host 'local'" in msg and "Cannot allocate memory" in msg
    assert (
        f"undone: removing the definition of '{name}', removing the disk image {area.dir}/new/deeper/{name}.qcow2, "
        f"removing the directories it created ({area.dir}/new, {area.dir}/new/deeper)"
    ) in msg
    assert area.snapshot() == before and not exists(name)


class FailOn:
    """Wraps the real runner; a command whose argv contains `needle` fails (or hangs) instead of running."""

    def __init__(self, runner: Any, needle: str, hang: bool = False) -> None:
        self.runner, self.needle, self.hang = runner, needle, hang
        self.host = runner.host
        self.reached = asyncio.Event()

    async def run(self, argv: list[str], **kw: Any) -> CommandResult:
        if any(self.needle in word for word in argv):
            self.reached.set()
            if self.hang:
                await asyncio.sleep(3600)
            return CommandResult(tuple(argv), 1, "", "error: injected failure\n", 0.0, self.host)
        return await self.runner.run(argv, **kw)  # type: ignore[no-any-return]

    def open_process(self, argv: list[str]) -> Any:
        return self.runner.open_process(argv)

    async def close(self) -> None:
        await self.runner.close()


async def test_define_failure_injected(area: Area) -> None:
    fleet = Fleet(Inventory([HostSpec(name="local", vm_dir=f"{area.dir}/inj", accel="tcg")]))
    real = fleet.runner
    fleet.runner = lambda spec: FailOn(real(spec), "define --file")  # type: ignore[method-assign]
    name = area.name("inj")
    before = area.snapshot()
    try:
        with pytest.raises(CommandFailed) as err:
            await manage_vm(fleet, HostRef(), parse_request(name, "create", arch="x86_64", disk="size=64M"))
    finally:
        await fleet.close()
    assert f"step \"defining '{name}'\" failed on host 'local' (virsh exit 1: error: injected failure)" in str(
        err.value
    )
    assert "undone: removing the disk image" in str(err.value)
    assert area.snapshot() == before and not exists(name)


async def test_cancelled_create_is_undone(area: Area) -> None:
    fleet = Fleet(Inventory([HostSpec(name="local", vm_dir=f"{area.dir}/cancel", accel="tcg")]))
    real = fleet.runner
    hang = FailOn(real(fleet.inventory.get("local")), "define --file", hang=True)
    fleet.runner = lambda spec: hang  # type: ignore[method-assign]
    name = area.name("cancel")
    before = area.snapshot()
    task = asyncio.create_task(
        manage_vm(fleet, HostRef(), parse_request(name, "create", arch="x86_64", disk="size=64M"))
    )
    await asyncio.wait_for(hang.reached.wait(), 30)
    assert Path(area.dir, "cancel", f"{name}.qcow2").exists()  # the image was made before define hung
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    for _ in range(50):  # the rollback is shielded from the cancellation: it finishes on its own
        if area.snapshot() == before:
            break
        await asyncio.sleep(0.1)
    await fleet.close()
    assert area.snapshot() == before
