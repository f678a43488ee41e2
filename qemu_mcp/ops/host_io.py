"""host_stats: per-device disk utilisation and throughput of a host, one command per sample."""

from __future__ import annotations

from datetime import UTC, datetime

from qemu_mcp.errors import CommandFailed
from qemu_mcp.host.iostat import MARK, Source, host_io
from qemu_mcp.models_monitor import HostDiskStat, HostStatsData
from qemu_mcp.ops.fleet_core import FleetCore, HostRef
from qemu_mcp.parsers.diskstats import DiskstatsRead, parse_diskstats
from qemu_mcp.parsers.iostat import parse_iostat
from qemu_mcp.parsers.sections import split_sections

SECTOR = 512
HOST_IO_SLACK = 30.0  # seconds host_stats' command may run beyond its sampling interval


def diskstats_rates(
    a: DiskstatsRead, b: DiskstatsRead, whole_disks: set[str] | None, fallback_s: float
) -> list[HostDiskStat]:
    """iostat's -x figures from two reads; partitions and never-used devices left out, like iostat."""
    dt = (b.uptime_s - a.uptime_s) if a.uptime_s is not None and b.uptime_s is not None else 0.0
    dt = dt if dt > 0 else fallback_s
    out = []
    for name, new in b.devices.items():
        old = a.devices.get(name)
        if old is None or new.never_used or (whole_disks is not None and name not in whole_disks):
            continue
        d_reads, d_writes = max(0, new.reads - old.reads), max(0, new.writes - old.writes)
        out.append(
            HostDiskStat(
                device=name,
                reads_per_s=round(d_reads / dt, 2),
                writes_per_s=round(d_writes / dt, 2),
                read_bytes_per_s=round(max(0, new.sectors_read - old.sectors_read) * SECTOR / dt, 1),
                write_bytes_per_s=round(max(0, new.sectors_written - old.sectors_written) * SECTOR / dt, 1),
                read_await_ms=round((new.ms_reading - old.ms_reading) / d_reads, 2) if d_reads else 0.0,
                write_await_ms=round((new.ms_writing - old.ms_writing) / d_writes, 2) if d_writes else 0.0,
                queue_size=round(max(0, new.weighted_ms - old.weighted_ms) / (dt * 1000), 2),
                util_percent=round(min(100.0, max(0, new.ms_doing_io - old.ms_doing_io) / (dt * 10)), 2),
            )
        )
    return out


def parse_host_io(stdout: str, interval: int) -> tuple[str, list[HostDiskStat]]:
    """(source, devices) from the hostio script's output: iostat JSON, or the diskstats sections."""
    if stdout.lstrip().startswith("{"):
        return "iostat", parse_iostat(stdout)
    _, names, first, second = split_sections(stdout, MARK, 4)
    whole = {n.strip() for n in names.split() if n.strip()} or None
    return "diskstats", diskstats_rates(parse_diskstats(first), parse_diskstats(second), whole, interval)


async def host_stats(
    fleet: FleetCore, ref: HostRef | None = None, *, interval: int = 1, source: Source = "auto"
) -> HostStatsData:
    argv = host_io(interval, source)  # validates before anything runs
    spec = fleet.resolve(ref)
    # The command samples for `interval` s; on top, 30 s or the host's command_timeout if shorter.
    slack = min(HOST_IO_SLACK, spec.command_timeout)
    result = await fleet.runner(spec).run(argv, timeout=interval + slack, read_only=True)
    if result.exit_status == 127 and source == "iostat":
        raise CommandFailed(
            f"iostat is not installed on host '{spec.name}': install sysstat, or use source auto/diskstats",
            host=spec.name,
            exit_status=127,
            stderr=result.stderr,
        )
    result.check("reading host disk statistics")
    try:
        used, devices = parse_host_io(result.stdout, interval)
    except ValueError as e:
        raise CommandFailed(
            f"host '{spec.name}' printed disk statistics qemu-mcp cannot read ({e})", host=spec.name
        ) from None
    return HostStatsData(
        host=spec.name,
        source="iostat" if used == "iostat" else "diskstats",
        interval_s=float(interval),
        timestamp=datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z"),
        devices=devices,
    )
