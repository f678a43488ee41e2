"""Confirmation by elicitation on both protocol eras (handshake-era mid-call request, and 2026-07-28
InputRequired rounds), with a client that accepts, one that declines, and one that cannot be asked.
Runs on the `local` host (commands without SSH)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import mcp.types as types
import pytest
from mcp import Client

from qemu_mcp.config import HostSpec, Inventory
from qemu_mcp.frontends.mcp.server import build_server
from tests.integration.manage_helpers import Area, data, domstate, error, exists, manage_area

pytestmark = pytest.mark.integration
ERAS = ["legacy", "2026-07-28"]


@pytest.fixture(scope="module")
def area(libvirtd_running: None) -> Iterator[Area]:
    with manage_area() as a:
        yield a


@pytest.fixture
def server(area: Area):  # type: ignore[no-untyped-def]
    # accel: tcg skips the KVM probe (test_manage_lifecycle covers it): these tests are about asking.
    return build_server(Inventory([HostSpec(name="local", vm_dir=area.dir, accel="tcg")]))


class Answer:
    """An elicitation callback that records the questions and answers `confirm` (or declines)."""

    def __init__(self, action: str, confirm: bool | None = None) -> None:
        self.action, self.confirm = action, confirm
        self.questions: list[str] = []

    async def __call__(self, context: Any, params: types.ElicitRequestParams) -> types.ElicitResult:
        self.questions.append(params.message)
        if self.action != "accept":
            return types.ElicitResult(action=self.action)  # type: ignore[arg-type]
        return types.ElicitResult(action="accept", content={"confirm": bool(self.confirm)})


async def create(client: Client, name: str, start: bool = False) -> None:
    data(
        await client.call_tool(
            "manage_vm",
            {"name": name, "action": "create", "arch": "x86_64", "memory": "128M", "disk": "size=64M", "start": start},
        )
    )


@pytest.mark.parametrize("era", ERAS)
async def test_delete_asks_the_user(server, area: Area, era: str) -> None:  # type: ignore[no-untyped-def]
    name = area.name(f"ask-{era[:4]}")
    disk = f"{area.dir}/{name}.qcow2"
    async with Client(server, mode=era) as setup:
        await create(setup, name)

    # Declined: nothing happens, the error says so.
    decline = Answer("decline")
    async with Client(server, mode=era, elicitation_callback=decline) as client:
        msg = error(await client.call_tool("manage_vm", {"name": name, "action": "delete"}))
    assert "not confirmed (the user declined); nothing was changed" in msg
    assert decline.questions == [f"Delete VM '{name}' on host 'local' and its disk image(s) {disk}? "
                                 "This cannot be undone. Answer confirm=true to go ahead."]  # fmt: skip
    assert exists(name) and Path(disk).exists()

    # Accepted but with confirm=false: the same as declining.
    no = Answer("accept", confirm=False)
    async with Client(server, mode=era, elicitation_callback=no) as client:
        error(await client.call_tool("manage_vm", {"name": name, "action": "delete"}))
    assert len(no.questions) == 1 and exists(name)

    # A client that cannot be asked: told to pass confirm=true.
    async with Client(server, mode=era) as client:
        msg = error(await client.call_tool("manage_vm", {"name": name, "action": "delete"}))
    assert "needs confirmation: pass confirm=true (this client cannot answer a confirmation request)" in msg
    assert exists(name)

    # Accepted: deleted, asked exactly once (the 2026-07-28 retry round does not ask again).
    yes = Answer("accept", confirm=True)
    async with Client(server, mode=era, elicitation_callback=yes) as client:
        assert (client.protocol_version >= "2026-07-28") == (era != "legacy")
        result = data(await client.call_tool("manage_vm", {"name": name, "action": "delete"}))
    assert len(yes.questions) == 1 and result["details"]["disks_removed"] == [disk]
    assert not exists(name) and not Path(disk).exists()


@pytest.mark.parametrize("era", ERAS)
async def test_force_stop_and_modify_restart_ask(server, area: Area, era: str) -> None:  # type: ignore[no-untyped-def]
    name = area.name(f"stop-{era[:4]}")
    async with Client(server, mode=era) as setup:
        await create(setup, name, start=True)

    # Cancelled force stop: still running.
    cancel = Answer("cancel")
    async with Client(server, mode=era, elicitation_callback=cancel) as client:
        msg = error(await client.call_tool("manage_vm", {"name": name, "action": "stop", "force": True}))
        assert "the user cancelled" in msg and domstate(name) == "running"
        # Nothing dangerous, nothing asked: a graceful stop attempt and a dry run.
        error(await client.call_tool("manage_vm", {"name": name, "action": "stop", "timeout": 1}))
        data(await client.call_tool("manage_vm", {"name": name, "action": "delete", "force": True, "dry_run": True}))
    assert cancel.questions == [
        f"Power off VM '{name}' on host 'local' at once, like pulling the plug? Unsaved data in the guest is "
        "lost. Answer confirm=true to go ahead."
    ]

    # modify on a running VM: declining the restart still saves the change, for the next boot.
    decline = Answer("decline")
    async with Client(server, mode=era, elicitation_callback=decline) as client:
        d = data(await client.call_tool("manage_vm", {"name": name, "action": "modify", "memory": "160M"}))
    assert (
        d["details"]["restart_required"]
        and len(decline.questions) == 1
        and "start it again now" in decline.questions[0]
    )
    assert domstate(name) == "running"

    # Accepting the restart (force: the guest has no OS to honour ACPI) restarts it now.
    yes = Answer("accept", confirm=True)
    async with Client(server, mode=era, elicitation_callback=yes) as client:
        res = await client.call_tool("manage_vm", {"name": name, "action": "modify", "vcpus": 1, "force": True})
        assert not data(res)["details"]["restart_required"]
        assert "restarted it to apply" in res.structured_content["message"]  # type: ignore[index]
        data(await client.call_tool("manage_vm", {"name": name, "action": "delete", "force": True}))
    assert len(yes.questions) == 2 and not exists(name)
