"""A create that fails part-way leaves nothing behind, and says which step failed and what was undone."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import pytest
from mcp import Client

from qemu_mcp.config import HostSpec, Inventory
from qemu_mcp.errors import CommandFailed
from qemu_mcp.frontends.mcp.server import build_server
from qemu_mcp.ops.fleet import Fleet, HostRef
from qemu_mcp.ops.manage import manage_vm, parse_request
from tests.conftest import key_host
from tests.fakes import Answer, Call, Handler, RecordingRunner
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
        f"undone: removing the disk image {area.dir}/new/deeper/{name}.qcow2, removing the definition of '{name}', "
        f"removing the directories it created ({area.dir}/new, {area.dir}/new/deeper)"
    ) in msg
    assert area.snapshot() == before and not exists(name)


def fail_on(needle: str, reached: asyncio.Event | None = None, hang: bool = False, nth: int = 1) -> Handler:
    """A RecordingRunner handler: the `nth` command whose argv contains `needle` fails (or hangs)
    instead of running; the others run."""
    seen = 0

    async def answer(call: Call) -> Answer | None:
        nonlocal seen
        if not call.has(needle):
            return None
        seen += 1
        if seen != nth:
            return None
        if reached is not None:
            reached.set()
        if hang:
            await asyncio.sleep(3600)
        return Answer(1, "", "error: injected failure\n")

    return answer


async def test_define_failure_injected(area: Area) -> None:
    fleet = Fleet(Inventory([HostSpec(name="local", vm_dir=f"{area.dir}/inj", accel="tcg")]))
    real = fleet.runner
    # The second define: the first one claimed the name (marked 'creating') before the disk was made.
    final_define = fail_on("define --file", nth=2)
    fleet.runner = lambda spec: RecordingRunner(real(spec), final_define)  # type: ignore[method-assign]
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
    reached = asyncio.Event()
    hang = RecordingRunner(real(fleet.inventory.get("local")), fail_on("define --file", reached, hang=True, nth=2))
    fleet.runner = lambda spec: hang  # type: ignore[method-assign]
    name = area.name("cancel")
    before = area.snapshot()
    task = asyncio.create_task(
        manage_vm(fleet, HostRef(), parse_request(name, "create", arch="x86_64", disk="size=64M"))
    )
    await asyncio.wait_for(reached.wait(), 30)
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
