"""Read-only tools: list_vms, get_vm_info, host_info, list_hosts."""

from __future__ import annotations

from typing import Annotated, Literal

from mcp.server.mcpserver import Context, MCPServer
from mcp.types import CallToolResult
from pydantic import Field

from qemu_mcp.frontends.mcp.tools.common import (
    Host,
    SshKey,
    SshPort,
    SshPwd,
    SshUser,
    add_tool,
    answer,
    fleet_of,
    lean,
    unreachable,
)
from qemu_mcp.models import HostInfoResult, ListHostsResult, ListVmsResult, VmInfoResult

LIST_VMS = (
    "List the VMs of one host, or of every inventory host when `host` is omitted and no ssh_* "
    "argument is given. Filters: status (running/stopped/paused/all), arch (x86_64, aarch64; "
    "arm64 accepted), filter_name (case-insensitive substring). Each VM has name, uuid, host, "
    "status, arch, vcpus, memory (MiB), disks, nics, graphics, autostart, persistent, notes. "
    "Libvirt hosts and plain-QEMU hosts (VMs in vm_dir, run as qemu-system processes) alike. "
    "Hosts that could not be reached are listed in data.errors; the others are still returned."
)
GET_VM_INFO = (
    "Everything list_vms reports for one VM, plus its domain XML (libvirt hosts) or its vm.conf "
    "and running command line (plain-QEMU hosts). `name` is the VM's name exactly as list_vms "
    "shows it."
)
HOST_INFO = (
    "Hostname, CPU model and count, memory, libvirt and QEMU versions, which tools are present "
    "(virsh, qemu-img, qemu-system-*, iostat) and which are missing, and the backend in use."
)
LIST_HOSTS = "The inventory's hosts with reachability, backend and round-trip latency."


def register(server: MCPServer) -> None:
    add_tool(server, list_vms, title="List virtual machines", description=LIST_VMS, idempotent=True, open_world=True)
    add_tool(
        server,
        get_vm_info,
        title="Describe a virtual machine",
        description=GET_VM_INFO,
        idempotent=True,
        open_world=True,
    )
    add_tool(server, host_info, title="Describe a host", description=HOST_INFO, idempotent=True, open_world=True)
    add_tool(server, list_hosts, title="List hosts", description=LIST_HOSTS, idempotent=True, open_world=True)


async def list_vms(
    ctx: Context,
    status: Annotated[Literal["running", "stopped", "paused", "all"], Field(description="VM state to keep")] = "all",
    arch: Annotated[str | None, Field(description="x86_64 or aarch64 (arm64)")] = None,
    filter_name: Annotated[str | None, Field(description="Keep VMs whose name contains this")] = None,
    vm_dir: Annotated[
        str | None, Field(description="VM directory on plain-QEMU hosts (default: each host's vm_dir)")
    ] = None,
    host: Host = None,
    ssh_port: SshPort = None,
    ssh_user: SshUser = None,
    ssh_pwd: SshPwd = None,
    ssh_key: SshKey = None,
) -> Annotated[CallToolResult, ListVmsResult]:
    from qemu_mcp.ops import vms as vm_ops
    from qemu_mcp.ops.fleet import HostRef

    ref = HostRef(host, ssh_port, ssh_user, ssh_pwd, ssh_key)
    data = await answer(
        vm_ops.list_vms(await fleet_of(ctx), ref, status=status, arch=arch, filter_name=filter_name, vm_dir=vm_dir)
    )
    which = "" if status == "all" else f"{status} "
    msg = unreachable(f"found {data.vm_count} {which}VM(s) on {data.host}", data.errors)
    return lean(ListVmsResult(success=not data.errors or bool(data.vms), message=msg, data=data))


async def get_vm_info(
    ctx: Context,
    name: Annotated[str, Field(description="VM name")],
    vm_dir: Annotated[str | None, Field(description="VM directory on plain-QEMU hosts (default: the host's)")] = None,
    host: Host = None,
    ssh_port: SshPort = None,
    ssh_user: SshUser = None,
    ssh_pwd: SshPwd = None,
    ssh_key: SshKey = None,
) -> Annotated[CallToolResult, VmInfoResult]:
    from qemu_mcp.ops import vms as vm_ops
    from qemu_mcp.ops.fleet import HostRef

    ref = HostRef(host, ssh_port, ssh_user, ssh_pwd, ssh_key)
    vm = await answer(vm_ops.get_vm_info(await fleet_of(ctx), name, ref, vm_dir))
    return lean(VmInfoResult(success=True, message=f"VM '{vm.name}' on host '{vm.host}' is {vm.state}", data=vm))


async def host_info(
    ctx: Context,
    host: Host = None,
    ssh_port: SshPort = None,
    ssh_user: SshUser = None,
    ssh_pwd: SshPwd = None,
    ssh_key: SshKey = None,
) -> HostInfoResult:
    from qemu_mcp.ops import hosts as host_ops
    from qemu_mcp.ops.fleet import HostRef

    ref = HostRef(host, ssh_port, ssh_user, ssh_pwd, ssh_key)
    info = await answer(host_ops.host_info(await fleet_of(ctx), ref))
    return HostInfoResult(success=True, message=f"host '{info.host}' ({info.hostname})", data=info)


async def list_hosts(ctx: Context) -> ListHostsResult:
    from qemu_mcp.ops import hosts as host_ops

    data = await answer(host_ops.list_hosts(await fleet_of(ctx)))
    up = sum(h.reachable for h in data.hosts)
    return ListHostsResult(success=True, message=f"{up} of {len(data.hosts)} host(s) reachable", data=data)
