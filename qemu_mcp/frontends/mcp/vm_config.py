"""MCP resources for a VM's definition, read-only: its libvirt domain XML or its plain-QEMU vm.conf.

Two templates, because a template has one MIME type: qemu-mcp://{host}/vm/{name}/domain.xml
(application/xml, libvirt hosts) and qemu-mcp://{host}/vm/{name}/vm.conf (text/plain, plain-QEMU
hosts). `name` is resolved exactly as get_vm_info does it (libvirt: on the host, by exact name
comparison, to the domain's UUID, which every virsh command then uses). Reading the other kind's
URI says which one the host has."""

from __future__ import annotations

from mcp.server.mcpserver import Context, MCPServer
from mcp.server.mcpserver.exceptions import ResourceError

from qemu_mcp.errors import QemuMcpError
from qemu_mcp.frontends.mcp.tools.common import fleet_of

DOMAIN_XML = "qemu-mcp://{host}/vm/{name}/domain.xml"
VM_CONF = "qemu-mcp://{host}/vm/{name}/vm.conf"
_DOMAIN_XML_DESCRIPTION = (
    "The domain XML of VM `name` on inventory host `host` (a libvirt host), as `virsh dumpxml` prints "
    "it: the live definition while it runs. Read-only; change a VM with manage_vm."
)
_VM_CONF_DESCRIPTION = (
    "The vm.conf of VM `name` on inventory host `host` (a plain-QEMU host, in the host's vm_dir): "
    "how qemu-mcp starts it. Read-only; change a VM with manage_vm."
)


def register(server: MCPServer) -> None:
    server.resource(
        DOMAIN_XML, name="vm_domain_xml", title="VM domain XML", description=_DOMAIN_XML_DESCRIPTION,
        mime_type="application/xml",
    )(domain_xml)  # fmt: skip
    server.resource(
        VM_CONF, name="vm_conf", title="VM vm.conf", description=_VM_CONF_DESCRIPTION, mime_type="text/plain"
    )(vm_conf)


async def _definition(ctx: Context, host: str, name: str) -> tuple[str | None, str | None]:
    """(domain XML, vm.conf) of the VM: one of the two, by the host's backend."""
    from qemu_mcp.ops import vms as vm_ops
    from qemu_mcp.ops.fleet import HostRef

    try:
        detail = await vm_ops.get_vm_info(await fleet_of(ctx), name, HostRef(host=host))
    except QemuMcpError as e:
        raise ResourceError(str(e)) from None
    return detail.xml, detail.config


async def domain_xml(host: str, name: str, ctx: Context) -> str:
    xml, conf = await _definition(ctx, host, name)
    if xml is None:
        other = VM_CONF.format(host=host, name=name) if conf is not None else "get_vm_info"
        raise ResourceError(f"host '{host}' is a plain-QEMU host: VM '{name}' has no domain XML; read {other}")
    return xml + "\n"


async def vm_conf(host: str, name: str, ctx: Context) -> str:
    xml, conf = await _definition(ctx, host, name)
    if conf is None:
        other = DOMAIN_XML.format(host=host, name=name) if xml is not None else "get_vm_info"
        raise ResourceError(f"host '{host}' is a libvirt host: VM '{name}' has no vm.conf; read {other}")
    return conf
