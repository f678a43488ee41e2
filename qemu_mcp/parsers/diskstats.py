"""Parse one read of `cat /proc/uptime /proc/diskstats`: the uptime line, then one line per device.

/proc/diskstats (Documentation/admin-guide/iostats.rst): major minor name, then counters;
kernels before 4.18 print 11, 4.18+ 15 (discards), 5.5+ 17 (flushes). Sectors are 512 bytes
whatever the device's block size.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class DiskstatsLine:
    reads: int
    sectors_read: int
    ms_reading: int
    writes: int
    sectors_written: int
    ms_writing: int
    in_flight: int
    ms_doing_io: int
    weighted_ms: int

    @property
    def never_used(self) -> bool:
        return self.reads == 0 and self.writes == 0


@dataclass(frozen=True)
class DiskstatsRead:
    uptime_s: float | None  # /proc/uptime's first field: the two reads' time base
    devices: dict[str, DiskstatsLine]


def parse_diskstats(text: str) -> DiskstatsRead:
    uptime: float | None = None
    devices: dict[str, DiskstatsLine] = {}
    for line in text.splitlines():
        f = line.split()
        if not f:
            continue
        if len(f) == 2 and uptime is None and not devices:
            uptime = float(f[0])
            continue
        if len(f) < 14 or not all(x.isdigit() for x in f[3:14]):
            raise ValueError(f"unexpected line in /proc/diskstats: {line!r}")
        n = [int(x) for x in f[3:14]]
        devices[f[2]] = DiskstatsLine(
            reads=n[0],
            sectors_read=n[2],
            ms_reading=n[3],
            writes=n[4],
            sectors_written=n[6],
            ms_writing=n[7],
            in_flight=n[8],
            ms_doing_io=n[9],
            weighted_ms=n[10],
        )
    return DiskstatsRead(uptime, devices)
