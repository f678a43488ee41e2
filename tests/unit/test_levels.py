"""The levels table is the one source of truth: every tool and action is classified, annotations
and the README follow it, and every dangerous manage_vm operation really asks for confirmation
(driven through the flows with a fake backend), while the others never do."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from qemu_mcp import levels
from qemu_mcp.backends.base import VmDisk, VmState
from qemu_mcp.config import Inventory
from qemu_mcp.frontends.mcp.server import build_server
from qemu_mcp.ops.fleet import Fleet, HostRef
from qemu_mcp.ops.manage import Consent, NeedsConfirmation, confirmation_question, manage_vm, parse_request
from qemu_mcp.ops.manage.call import operation
from qemu_mcp.ops.manage.request import ACTIONS
from qemu_mcp.policy import PolicySpec
from tests.fakes import FakeRunner
from tests.unit.test_manage_flows import FakeBackend, FlowHost, use_fakes, vm

README = Path(__file__).resolve().parents[2] / "README.md"


@dataclass(frozen=True)
class Scenario:
    """A call that IS the operation: the VM's state and the request's arguments."""

    vm_status: str | None  # None: the VM does not exist (create)
    kwargs: dict[str, Any]
    disks: tuple[VmDisk, ...] | None = None  # the VM's disks (default: vda only)

    def vm(self, name: str) -> VmState:
        assert self.vm_status is not None
        return vm(name, self.vm_status, **({"disks": self.disks} if self.disks else {}))


# One scenario per manage_vm row of the table. A new row fails test_every_operation_has_a_scenario
# until it gets one here, and then the confirmation tests below check it against its level.
SCENARIOS = {
    "manage_vm create": Scenario(None, {"arch": "x86_64"}),
    "manage_vm start": Scenario("stopped", {}),
    "manage_vm stop": Scenario("running", {}),
    "manage_vm stop (force)": Scenario("running", {"force": True}),
    "manage_vm reboot": Scenario("running", {"timeout": 1}),
    "manage_vm reboot (force)": Scenario("running", {"force": True}),
    "manage_vm modify": Scenario("stopped", {"memory": "1G"}),
    "manage_vm modify (restart)": Scenario("running", {"memory": "1G"}),
    "manage_vm delete": Scenario("stopped", {}),
    "manage_vm modify (delete-disk-file)": Scenario(
        "stopped",
        {"remove_disk": "vdb", "keep_file": False},
        (VmDisk("vda", "/vm/vm1.qcow2", "qcow2"), VmDisk("vdb", "/vm/vm1-vdb.qcow2", "qcow2")),
    ),
    # clone's flow needs a real backend's cloner: tests/integration/test_images_create.py runs it.
    "manage_vm clone": Scenario(None, {"source": "src"}),
}
MANAGE_OPS = [op for op in levels.OPERATIONS if op.tool == levels.MANAGE]


def test_every_action_is_classified() -> None:
    assert set(levels.MANAGE_ACTIONS) == set(ACTIONS)
    for action in ACTIONS:
        assert levels.manage_operation(action).level is not levels.SAFE  # every manage_vm action mutates
    assert len({op.name for op in levels.OPERATIONS}) == len(levels.OPERATIONS)


async def test_every_tool_is_classified_and_annotated_from_the_table() -> None:
    server = build_server(Inventory([]))
    tools = await server.list_tools()
    resources = {"vmstats", "vm_domain_xml", "vm_conf"}  # resource templates, not tools
    assert {t.name for t in tools} == {op.tool for op in levels.OPERATIONS if op.tool not in resources}
    for t in tools:
        assert t.annotations is not None
        assert t.annotations.read_only_hint is (not levels.tool_mutates(t.name)), t.name
        assert t.annotations.destructive_hint is levels.tool_destructive(t.name), t.name
    templates = {r.name for r in await server.list_resource_templates()}
    assert templates == resources
    assert {"manage_vm", "manage_snapshot", "upload_image"} == levels.MUTATING_TOOLS


def test_readme_table_is_generated_from_the_levels() -> None:
    assert levels.markdown_table() in README.read_text()


def test_every_operation_has_a_scenario() -> None:
    assert set(SCENARIOS) == {op.name for op in MANAGE_OPS}


class Backend(FakeBackend):
    async def reboot(self, job, name, timeout):  # type: ignore[no-untyped-def]
        await self._enter(f"reboot {name}")
        return True  # the guest honours ACPI


def setup(monkeypatch: pytest.MonkeyPatch, name: str, s: Scenario) -> tuple[Fleet, FakeBackend]:
    fleet = Fleet(Inventory([], policy=PolicySpec(allowed_paths=("/",))))
    host = FlowHost()
    backend = Backend(host=host)
    if s.vm_status is not None:
        backend.vms[name] = s.vm(name)
    use_fakes(monkeypatch, fleet, backend, FakeRunner(host))
    return fleet, backend


@pytest.mark.parametrize("op", MANAGE_OPS, ids=lambda op: op.name)
async def test_confirmation_follows_the_level(monkeypatch: pytest.MonkeyPatch, op: levels.Operation) -> None:
    s = SCENARIOS[op.name]
    name = "vm1"
    req = parse_request(name, op.action or "", **s.kwargs)
    assert operation(req, s.vm(name) if s.vm_status else None) == op  # the scenario is this row

    # 1. The question an MCP client is asked (elicitation) before the call: only for dangerous ones.
    fleet, _ = setup(monkeypatch, name, s)
    question = await confirmation_question(fleet, HostRef(), req)
    assert (question is not None) is (op.level is levels.DANGEROUS), question
    if op.action == "clone":
        return

    # 2. Without consent the flow does not do the dangerous part; with consent it does.
    fleet, without = setup(monkeypatch, name, s)
    try:
        result = await manage_vm(fleet, HostRef(), req, consent=Consent())
        refused = False
    except NeedsConfirmation as e:
        assert "nothing was changed" in str(e) and e.question
        refused = True
    fleet, with_consent = setup(monkeypatch, name, s)
    await manage_vm(fleet, HostRef(), req, consent=Consent(True, "cli"))
    if op.level is levels.DANGEROUS:
        # Asked: either refused outright, or (modify) went ahead without the dangerous step.
        assert refused or result.data.details.restart_required
        assert len(without.calls) < len(with_consent.calls), (without.calls, with_consent.calls)
    else:
        assert not refused and without.calls == with_consent.calls
