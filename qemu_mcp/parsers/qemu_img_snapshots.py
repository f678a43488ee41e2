"""Parse `qemu-img snapshot -l`: the internal snapshots of one qcow2 image (qemu-img has no JSON
output for it). qemu-img 7.2 prints, after a "Snapshot list:" line and a header:

    ID        TAG               VM SIZE                DATE     VM CLOCK     ICOUNT
    1         before                0 B 2026-11-30 13:14:39 00:00:00.000          0
    2         live             1.77 MiB 2026-11-30 13:14:50 00:00:02.248

A tag is padded to 17 columns but never cut, and may hold spaces; ICOUNT is empty for a
snapshot of a running guest without record/replay. So a line is read from both ends: the ID
is the first word, and the size, date, clock and icount are matched at the end. An image
without snapshots prints nothing at all. The date is the host's local time: we run qemu-img
with TZ=UTC.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

_LINE = re.compile(
    r"(?P<id>\S+)\s+(?P<tag>.*?)\s+(?P<size>\d+(?:\.\d+)?) (?P<unit>[KMGTPE]?i?B)"
    r"\s+(?P<date>\d{4}-\d\d-\d\d) (?P<time>\d\d:\d\d:\d\d)\s+(?P<clock>\d+:\d\d:\d\d\.\d+)(?:\s+(?P<icount>\d+))?\s*"
)
_UNITS = {"B": 1, "KiB": 1024, "MiB": 1024**2, "GiB": 1024**3, "TiB": 1024**4, "PiB": 1024**5, "EiB": 1024**6}
_HEADER = ("Snapshot list:", "ID ")


@dataclass(frozen=True)
class ImageSnapshot:
    id: str
    tag: str
    vm_state_bytes: int  # as qemu-img rounds it (0: no memory state in it)
    created: str  # ISO 8601 in the time zone qemu-img ran in (UTC, as we run it)
    vm_clock: str  # how long the guest had run, hh:mm:ss.mmm
    icount: int | None

    @property
    def memory(self) -> bool:
        return self.vm_state_bytes > 0


def parse_snapshot_list(text: str) -> list[ImageSnapshot]:
    """Every snapshot line, in qemu-img's order (by ID). ValueError for a line of another shape."""
    found = []
    for line in text.splitlines():
        if not line.strip() or line.startswith(_HEADER):
            continue
        m = _LINE.fullmatch(line)
        if m is None:
            raise ValueError(f"not a `qemu-img snapshot -l` line: {line[:200]!r}")
        found.append(
            ImageSnapshot(
                id=m["id"],
                tag=m["tag"],
                vm_state_bytes=round(float(m["size"]) * _UNITS[m["unit"]]),
                created=f"{m['date']}T{m['time']}+00:00",
                vm_clock=m["clock"],
                icount=int(m["icount"]) if m["icount"] is not None else None,
            )
        )
    return found
