"""Read-only tools for a host's networks and storage: list_networks, list_storage_pools."""

from __future__ import annotations

from typing import Annotated

from mcp.server.mcpserver import Context, MCPServer
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
    unreachable,
)
from qemu_mcp.models import ListNetworksResult, ListStoragePoolsResult

LIST_NETWORKS = (
    "List the networks of one host, or of every inventory host when `host` is omitted and no ssh_* "
    "argument is given. Libvirt hosts: each libvirt network with name, uuid, active, autostart, "
    "persistent, bridge, forward_mode ('isolated' without forwarding), addresses (IP/prefix and DHCP "
    "ranges) and lease_count. Plain-QEMU hosts: the host's bridges (kind 'bridge') with their "
    "addresses and attached ports; a VM's NIC can go on one as network=bridge:<name>. Hosts that "
    "could not be reached are listed in data.errors; the others are still returned."
)
LIST_STORAGE_POOLS = (
    "List the storage pools of one host, or of every inventory host when `host` is omitted and no ssh_* "
    "argument is given: name, uuid, state, autostart, type, target_path, capacity/allocation/available "
    "bytes and volume_count. With `pool` (a name exactly as listed), that pool's volumes too: name, "
    "path, format, capacity, allocation, backing file, and used_by (which VM uses it: as its disk, "
    "or as a backing image). Plain-QEMU hosts have two pools, vm_dir and image_dir (directories, "
    "sized by df; their images read with qemu-img). Unreachable hosts are listed in data.errors."
)


def register(server: MCPServer) -> None:
    add_tool(
        server, list_networks, title="List networks", description=LIST_NETWORKS, idempotent=True, open_world=True
    )
    add_tool(
        server,
        list_storage_pools,
        title="List storage pools and volumes",
        description=LIST_STORAGE_POOLS,
        idempotent=True,
        open_world=True,
    )


async def list_networks(
    ctx: Context,
    host: Host = None,
    ssh_port: SshPort = None,
    ssh_user: SshUser = None,
    ssh_pwd: SshPwd = None,
    ssh_key: SshKey = None,
) -> ListNetworksResult:
    from qemu_mcp.ops import networks as network_ops
    from qemu_mcp.ops.fleet import HostRef

    ref = HostRef(host, ssh_port, ssh_user, ssh_pwd, ssh_key)
    data = await answer(network_ops.list_networks(await fleet_of(ctx), ref))
    msg = unreachable(f"found {data.network_count} network(s) on {data.host}", data.errors)
    return ListNetworksResult(success=not data.errors or bool(data.networks), message=msg, data=data)


async def list_storage_pools(
    ctx: Context,
    pool: Annotated[
        str | None, Field(description="A pool's exact name: list its volumes and the VMs using them")
    ] = None,
    host: Host = None,
    ssh_port: SshPort = None,
    ssh_user: SshUser = None,
    ssh_pwd: SshPwd = None,
    ssh_key: SshKey = None,
) -> ListStoragePoolsResult:
    from qemu_mcp.ops import storage as storage_ops
    from qemu_mcp.ops.fleet import HostRef

    ref = HostRef(host, ssh_port, ssh_user, ssh_pwd, ssh_key)
    data = await answer(storage_ops.list_storage_pools(await fleet_of(ctx), ref, pool))
    msg = f"found {data.pool_count} storage pool(s) on {data.host}"
    if data.volumes is not None:
        msg = f"storage pool '{pool}' on {', '.join(p.host for p in data.pools)}: {len(data.volumes)} volume(s)"
    return ListStoragePoolsResult(
        success=not data.errors or bool(data.pools), message=unreachable(msg, data.errors), data=data
    )
