"""Monitoring: monitor_vm_status (streams samples as progress), host_stats, vmstats://{host}/{name}."""

from __future__ import annotations

from typing import Annotated, Literal

from mcp.server.mcpserver import Context, MCPServer
from mcp.server.mcpserver.exceptions import ResourceError
from pydantic import Field

from qemu_mcp.errors import QemuMcpError
from qemu_mcp.frontends.mcp.tools.common import (
    Host,
    SshKey,
    SshPort,
    SshPwd,
    SshUser,
    add_tool,
    answer,
    fleet_of,
)
from qemu_mcp.models_monitor import HostStatsResult, MonitorResult, MonitorSample

MetricWord = Literal["cpu", "memory", "disk", "network", "all"]

MONITOR_VM_STATUS = (
    "Sample a RUNNING VM's CPU, memory, disk and network `count` times, `interval` seconds "
    "apart (count=0: until the request is cancelled or the host's monitor_max_duration, "
    "default 1 h, and what was collected is returned). Rates come from counter deltas, so "
    "count=1 takes two readings `interval` apart. cpu_percent is the share of the VM's vCPUs "
    "in use (0-100); host_core_percent the same in host cores (0-100*vcpus). Memory in MiB "
    "(guest-side fields need a balloon driver in the guest). Disks per device: bytes/s, IOPS, "
    "capacity, allocation. NICs per host device: bytes/s, packets/s, errors, drops. Each "
    "sample is also sent as a progress notification. A restart between readings is flagged "
    "(counter_reset), never shown as a negative rate; a VM that stops ends the series with a note."
)
HOST_STATS = (
    "Per-device disk utilisation and throughput of a host over `interval` seconds: reads and "
    "writes per second, bytes per second, await, queue size, %util. Uses iostat (sysstat) when "
    "the host has it, else computes the same from two reads of /proc/diskstats (source says "
    "which; source=diskstats forces the fallback)."
)
VMSTATS = (
    "The newest monitor_vm_status sample of VM `name` on inventory host `host`, as JSON; when "
    "none is cached, one fresh sample is taken (about 1 s)."
)


def register(server: MCPServer) -> None:
    add_tool(
        server,
        monitor_vm_status,
        title="Monitor a running VM",
        description=MONITOR_VM_STATUS,
        idempotent=False,
        open_world=True,
    )
    add_tool(
        server, host_stats, title="Host disk statistics", description=HOST_STATS, idempotent=False, open_world=True
    )
    server.resource(
        "vmstats://{host}/{name}",
        name="vmstats",
        title="Latest VM sample",
        description=VMSTATS,
        mime_type="application/json",
    )(vmstats)


async def monitor_vm_status(
    ctx: Context,
    name: Annotated[str, Field(description="VM name, exactly as list_vms shows it")],
    metrics: Annotated[
        MetricWord | list[MetricWord],
        Field(description="cpu, memory, disk, network or all; a list picks several"),
    ] = "all",
    interval: Annotated[float, Field(description="Seconds between samples", ge=1)] = 5,
    count: Annotated[int, Field(description="Samples to take; 0 = until cancelled", ge=0)] = 1,
    host: Host = None,
    ssh_port: SshPort = None,
    ssh_user: SshUser = None,
    ssh_pwd: SshPwd = None,
    ssh_key: SshKey = None,
) -> MonitorResult:
    from qemu_mcp.ops import monitor as monitor_ops
    from qemu_mcp.ops.fleet import HostRef

    ref = HostRef(host, ssh_port, ssh_user, ssh_pwd, ssh_key)

    async def progress(k: int, total: int | None, sample: MonitorSample) -> None:
        await ctx.report_progress(progress=k, total=total, message=sample.summary)

    data = await answer(
        monitor_ops.monitor_vm(
            await fleet_of(ctx), name, ref, metrics=metrics, interval=interval, count=count, progress=progress
        )
    )
    msg = f"collected {data.samples} sample(s) of VM '{name}' on host '{data.host}'"
    if data.note:
        msg += f"; {data.note}"
    return MonitorResult(success=data.samples > 0, message=msg, data=data)


async def host_stats(
    ctx: Context,
    interval: Annotated[int, Field(description="Whole seconds to measure over", ge=1, le=60)] = 1,
    source: Annotated[Literal["auto", "iostat", "diskstats"], Field(description="auto: iostat if installed")] = "auto",
    host: Host = None,
    ssh_port: SshPort = None,
    ssh_user: SshUser = None,
    ssh_pwd: SshPwd = None,
    ssh_key: SshKey = None,
) -> HostStatsResult:
    from qemu_mcp.ops import host_io as host_io_ops
    from qemu_mcp.ops.fleet import HostRef

    ref = HostRef(host, ssh_port, ssh_user, ssh_pwd, ssh_key)
    data = await answer(host_io_ops.host_stats(await fleet_of(ctx), ref, interval=interval, source=source))
    return HostStatsResult(
        success=True,
        message=f"{len(data.devices)} disk(s) on host '{data.host}' over {interval} s ({data.source})",
        data=data,
    )


async def vmstats(host: str, name: str, ctx: Context) -> str:
    from qemu_mcp.ops import monitor as monitor_ops

    try:
        latest = await monitor_ops.latest_sample(await fleet_of(ctx), host, name)
    except QemuMcpError as e:
        raise ResourceError(str(e)) from None
    return latest.model_dump_json()
