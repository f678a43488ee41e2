"""The MCP server: thin tool wrappers over `qemu_mcp.ops`, served over stdio."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable
from contextlib import asynccontextmanager
from typing import Annotated, Literal, TypeVar

from mcp.server.mcpserver import Context, MCPServer
from mcp.server.mcpserver.exceptions import ToolError
from mcp.types import ToolAnnotations
from pydantic import Field

from qemu_mcp import __version__
from qemu_mcp.config import Inventory, load_inventory
from qemu_mcp.errors import QemuMcpError
from qemu_mcp.models import HostInfoResult, ListHostsResult, ListVmsResult, VmInfoResult
from qemu_mcp.ops import hosts as host_ops
from qemu_mcp.ops import vms as vm_ops
from qemu_mcp.ops.fleet import Fleet, HostRef

T = TypeVar("T")

INSTRUCTIONS = """\
Manage QEMU/KVM virtual machines on the hosts in this server's inventory (local or over SSH).
Start with list_hosts to see the hosts, then list_vms. `host` names an inventory host; an
address not in the inventory needs ssh_user plus ssh_key or ssh_pwd. The host `demo` is
libvirt's test driver: safe to experiment with."""

Host = Annotated[
    str | None,
    Field(description="Inventory host name or SSH address; omit for this machine ('local')"),
]
SshPort = Annotated[int | None, Field(description="SSH port for an ad-hoc host (default 22)", ge=1, le=65535)]
SshUser = Annotated[str | None, Field(description="SSH user for an ad-hoc host")]
SshPwd = Annotated[str | None, Field(description="SSH password for an ad-hoc host (prefer ssh_key)")]
SshKey = Annotated[str | None, Field(description="Path of an SSH private key on the server's machine")]


def read_only() -> ToolAnnotations:
    """Reads a host's state and changes nothing; hosts are outside our world (openWorld)."""
    return ToolAnnotations(
        read_only_hint=True, destructive_hint=False, idempotent_hint=True, open_world_hint=True
    )


async def _answer(awaitable: Awaitable[T]) -> T:
    """Our errors become tool errors (isError) with the sentence a model can act on."""
    try:
        return await awaitable
    except QemuMcpError as e:
        raise ToolError(str(e)) from None


def _fleet(ctx: Context) -> Fleet:
    fleet = ctx.request_context.lifespan_context
    assert isinstance(fleet, Fleet)
    return fleet


def build_server(inventory: Inventory | None = None, config: str | None = None) -> MCPServer:
    """The server. The inventory is loaded now (so config errors surface at start-up)."""
    inv = inventory or load_inventory(config)

    @asynccontextmanager
    async def lifespan(_: MCPServer) -> AsyncIterator[Fleet]:
        fleet = Fleet(inv)
        try:
            yield fleet
        finally:
            await fleet.close()

    server: MCPServer = MCPServer(
        name="qemu-mcp", version=__version__, instructions=INSTRUCTIONS, lifespan=lifespan
    )

    @server.tool(
        title="List virtual machines",
        description=(
            "List the VMs of one host, or of every inventory host when `host` is omitted and no ssh_* "
            "argument is given. Filters: status (running/stopped/paused/all), arch (x86_64, aarch64; "
            "arm64 accepted), filter_name (case-insensitive substring). Each VM has name, uuid, host, "
            "status, arch, vcpus, memory (MiB), disks, nics, graphics, autostart, persistent. Hosts "
            "that could not be reached are listed in data.errors; the others are still returned."
        ),
        annotations=read_only(),
    )
    async def list_vms(
        ctx: Context,
        status: Annotated[
            Literal["running", "stopped", "paused", "all"], Field(description="VM state to keep")
        ] = "all",
        arch: Annotated[str | None, Field(description="x86_64 or aarch64 (arm64)")] = None,
        filter_name: Annotated[str | None, Field(description="Keep VMs whose name contains this")] = None,
        vm_dir: Annotated[str | None, Field(description="VM directory on plain-QEMU hosts")] = None,
        host: Host = None,
        ssh_port: SshPort = None,
        ssh_user: SshUser = None,
        ssh_pwd: SshPwd = None,
        ssh_key: SshKey = None,
    ) -> ListVmsResult:
        ref = HostRef(host, ssh_port, ssh_user, ssh_pwd, ssh_key)
        data = await _answer(
            vm_ops.list_vms(
                _fleet(ctx), ref, status=status, arch=arch, filter_name=filter_name, vm_dir=vm_dir
            )
        )
        which = "" if status == "all" else f"{status} "
        msg = f"found {data.vm_count} {which}VM(s) on {data.host}"
        if data.errors:
            msg += "; unreachable: " + ", ".join(e.host for e in data.errors)
        return ListVmsResult(success=not data.errors or bool(data.vms), message=msg, data=data)

    @server.tool(
        title="Describe a virtual machine",
        description=(
            "Everything list_vms reports for one VM, plus its domain XML. `name` is the VM's name "
            "exactly as list_vms shows it."
        ),
        annotations=read_only(),
    )
    async def get_vm_info(
        ctx: Context,
        name: Annotated[str, Field(description="VM name")],
        host: Host = None,
        ssh_port: SshPort = None,
        ssh_user: SshUser = None,
        ssh_pwd: SshPwd = None,
        ssh_key: SshKey = None,
    ) -> VmInfoResult:
        ref = HostRef(host, ssh_port, ssh_user, ssh_pwd, ssh_key)
        vm = await _answer(vm_ops.get_vm_info(_fleet(ctx), name, ref))
        return VmInfoResult(
            success=True, message=f"VM '{vm.name}' on host '{vm.host}' is {vm.state}", data=vm
        )

    @server.tool(
        title="Describe a host",
        description=(
            "Hostname, CPU model and count, memory, libvirt and QEMU versions, which tools are present "
            "(virsh, qemu-img, qemu-system-*, iostat) and which are missing, and the backend in use."
        ),
        annotations=read_only(),
    )
    async def host_info(
        ctx: Context,
        host: Host = None,
        ssh_port: SshPort = None,
        ssh_user: SshUser = None,
        ssh_pwd: SshPwd = None,
        ssh_key: SshKey = None,
    ) -> HostInfoResult:
        ref = HostRef(host, ssh_port, ssh_user, ssh_pwd, ssh_key)
        info = await _answer(host_ops.host_info(_fleet(ctx), ref))
        return HostInfoResult(success=True, message=f"host '{info.host}' ({info.hostname})", data=info)

    @server.tool(
        title="List hosts",
        description="The inventory's hosts with reachability, backend and round-trip latency.",
        annotations=read_only(),
    )
    async def list_hosts(ctx: Context) -> ListHostsResult:
        data = await _answer(host_ops.list_hosts(_fleet(ctx)))
        up = sum(h.reachable for h in data.hosts)
        return ListHostsResult(
            success=True, message=f"{up} of {len(data.hosts)} host(s) reachable", data=data
        )

    return server


def serve_stdio(config: str | None = None) -> None:
    build_server(config=config).run("stdio")
