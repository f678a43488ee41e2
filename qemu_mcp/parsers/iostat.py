"""Parse `iostat -d -x -y -o JSON INTERVAL 1` (sysstat >= 11): per-device extended statistics.

The JSON is {"sysstat": {"hosts": [{..., "statistics": [{"disk": [{...}, ...]}, ...]}]}};
the last statistics entry is the newest report. Field names changed across sysstat versions
(12.x: "aqu-sz", 11.x: "avgqu-sz"), so both are read.
"""

from __future__ import annotations

import json
from typing import Any

from qemu_mcp.models_monitor import HostDiskStat

KIB = 1024


def _num(d: dict[str, Any], *keys: str) -> float | None:
    for k in keys:
        v = d.get(k)
        if isinstance(v, int | float):
            return float(v)
    return None


def parse_iostat(text: str) -> list[HostDiskStat]:
    """Devices of the newest report; ValueError if the text is not iostat's JSON."""
    try:
        doc = json.loads(text)
        reports = doc["sysstat"]["hosts"][0]["statistics"]
    except (json.JSONDecodeError, KeyError, IndexError, TypeError) as e:
        raise ValueError(f"not iostat JSON output ({e})") from None
    if not reports:
        return []
    devices = []
    for d in reports[-1].get("disk", []):
        devices.append(
            HostDiskStat(
                device=str(d["disk_device"]),
                reads_per_s=_num(d, "r/s") or 0.0,
                writes_per_s=_num(d, "w/s") or 0.0,
                read_bytes_per_s=(_num(d, "rkB/s") or 0.0) * KIB,
                write_bytes_per_s=(_num(d, "wkB/s") or 0.0) * KIB,
                read_await_ms=_num(d, "r_await"),
                write_await_ms=_num(d, "w_await"),
                queue_size=_num(d, "aqu-sz", "avgqu-sz"),
                util_percent=_num(d, "util"),
            )
        )
    return devices
