"""The MCP prompts and the VM definition resource templates, through an in-process MCP session
(the resources' reads against real hosts: tests/integration/test_vm_config_resource.py)."""

from __future__ import annotations

from mcp import Client

from qemu_mcp.config import Inventory
from qemu_mcp.frontends.mcp.server import build_server


async def test_prompts_are_listed_with_their_arguments() -> None:
    async with Client(build_server(Inventory([]))) as client:
        prompts = {p.name: p for p in (await client.list_prompts()).prompts}
    assert set(prompts) == {"snapshot_then_change", "investigate_vm_boot", "fleet_capacity_report"}
    args = {n: {a.name: a.required for a in p.arguments or []} for n, p in prompts.items()}
    assert args["investigate_vm_boot"] == {"name": True, "host": False, "symptom": False}
    assert args["fleet_capacity_report"] == {"host": False}
    assert all(p.title and p.description for p in prompts.values())


async def test_investigate_names_the_tools_in_order() -> None:
    async with Client(build_server(Inventory([]))) as client:
        got = await client.get_prompt(
            "investigate_vm_boot", {"name": "web1", "host": "lab1", "symptom": "black screen"}
        )
    text = got.messages[0].content.text  # type: ignore[union-attr]
    assert "The VM 'web1' on host 'lab1' does not boot" in text and "black screen" in text
    steps = ['get_vm_info(name="web1", host="lab1")', 'host_info(host="lab1")', "kvm_note",
             'vm_console(name="web1", host="lab1")', 'list_storage_pools(host="lab1")']  # fmt: skip
    positions = [text.index(s) for s in steps]
    assert positions == sorted(positions)
    assert "qemu-mcp://lab1/vm/web1/domain.xml" in text and "change nothing until the user agrees" in text


async def test_fleet_report_is_fleet_wide_without_a_host() -> None:
    async with Client(build_server(Inventory([]))) as client:
        fleet = (await client.get_prompt("fleet_capacity_report", {})).messages[0].content.text  # type: ignore[union-attr]
        one = (await client.get_prompt("fleet_capacity_report", {"host": "lab1"})).messages[0].content.text  # type: ignore[union-attr]
    for tool in ("list_hosts()", "host_info(", "host_stats(", "list_vms(", "list_storage_pools("):
        assert tool in fleet and tool in one
    assert "every host in the inventory" in fleet and "list_vms():" in fleet
    assert "the host 'lab1'" in one and 'list_storage_pools(host="lab1")' in one


async def test_definition_resource_templates() -> None:
    async with Client(build_server(Inventory([]))) as client:
        templates = {t.name: t for t in (await client.list_resource_templates()).resource_templates}
    xml, conf = templates["vm_domain_xml"], templates["vm_conf"]
    assert (xml.uri_template, xml.mime_type) == ("qemu-mcp://{host}/vm/{name}/domain.xml", "application/xml")
    assert (conf.uri_template, conf.mime_type) == ("qemu-mcp://{host}/vm/{name}/vm.conf", "text/plain")
    assert xml.title and conf.title and "Read-only" in (xml.description or "")
