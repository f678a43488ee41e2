"""The vm_console tool: a VM's serial console tail, and its screen as MCP image content."""

from __future__ import annotations

import base64
from typing import Annotated

from mcp.server.mcpserver import Context, MCPServer
from mcp.types import CallToolResult, ImageContent, TextContent
from pydantic import Field

from qemu_mcp.frontends.mcp.tools.common import Host, SshKey, SshPort, SshPwd, SshUser, add_tool, answer, fleet_of
from qemu_mcp.models_console import VmConsoleResult

DESCRIPTION = (
    "See why a guest did not come up: the last `lines` lines of the VM's serial console (libvirt: the "
    "serial log file virtlogd writes; plain QEMU: <vm_dir>/<name>/serial.log), and with "
    "screenshot=true its display as a PNG image content block (libvirt `virsh screenshot`, plain QEMU "
    "QMP screendump). Read-only: the temporary screen file on the host is removed. data.notes says "
    "what was not available (no serial log, VM not running) and how to get it."
)


def register(server: MCPServer) -> None:
    add_tool(server, vm_console, title="Show a VM's console and screen", description=DESCRIPTION,
             idempotent=True, open_world=True)  # fmt: skip


async def vm_console(
    ctx: Context,
    name: Annotated[str, Field(description="VM name")],
    lines: Annotated[int, Field(description="How many of the console's last lines (1-2000)", ge=1, le=2000)] = 50,
    screenshot: Annotated[bool, Field(description="Also return the VM's screen as a PNG image")] = False,
    vm_dir: Annotated[str | None, Field(description="VM directory on plain-QEMU hosts (default: the host's)")] = None,
    host: Host = None,
    ssh_port: SshPort = None,
    ssh_user: SshUser = None,
    ssh_pwd: SshPwd = None,
    ssh_key: SshKey = None,
) -> Annotated[CallToolResult, VmConsoleResult]:
    from qemu_mcp.ops import console as console_ops
    from qemu_mcp.ops.fleet import HostRef

    ref = HostRef(host, ssh_port, ssh_user, ssh_pwd, ssh_key)
    data, png = await answer(
        console_ops.vm_console(await fleet_of(ctx), name, ref, lines=lines, screenshot=screenshot, vm_dir=vm_dir)
    )
    result = VmConsoleResult(success=True, message=console_ops.summary(data), data=data)
    text = "\n".join([result.message, *data.notes, "", *data.lines])
    content: list[TextContent | ImageContent] = [TextContent(type="text", text=text)]
    if png is not None:
        content.append(ImageContent(type="image", data=base64.b64encode(png).decode(), mime_type="image/png"))
    return CallToolResult(content=content, structured_content=result.model_dump(mode="json"))
