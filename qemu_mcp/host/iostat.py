"""Host disk statistics in one command: one fixed sh script, the interval passed as $1.

With iostat (sysstat) the script execs `iostat -d -x -y -o JSON INTERVAL 1`: one report over
the interval, in JSON. Without it (or with source=diskstats) it prints MARK, the whole-disk
names (/sys/block), MARK, /proc/uptime + /proc/diskstats, sleeps, MARK, and both again; the
rates are computed here. LC_ALL=C: iostat would print decimal commas in some locales.
"""

from __future__ import annotations

from typing import Literal

from qemu_mcp.errors import InvalidInput
from qemu_mcp.parsers.sections import fixed_marker

MARK = fixed_marker("hostio")  # fixed: the captured fixtures hold it
Source = Literal["auto", "iostat", "diskstats"]
SCRIPT = (
    "LC_ALL=C; export LC_ALL; "
    'case $2 in iostat) exec iostat -d -x -y -o JSON "$1" 1 ;; '
    'auto) command -v iostat >/dev/null 2>&1 && exec iostat -d -x -y -o JSON "$1" 1 ;; esac; '
    f"echo {MARK}; ls /sys/block; echo {MARK}; cat /proc/uptime /proc/diskstats; "
    f'sleep "$1"; echo {MARK}; cat /proc/uptime /proc/diskstats'
)
MAX_INTERVAL = 60


def host_io(interval: int, source: Source = "auto") -> list[str]:
    """argv sampling the host's disks over `interval` whole seconds (iostat takes no fractions)."""
    if isinstance(interval, bool) or not isinstance(interval, int) or not 1 <= interval <= MAX_INTERVAL:
        raise InvalidInput(f"interval {interval!r} must be a whole number of seconds, 1-{MAX_INTERVAL}")
    if source not in ("auto", "iostat", "diskstats"):
        raise InvalidInput(f"source {source!r} is not one of auto, iostat, diskstats")
    return ["sh", "-c", SCRIPT, "qemu-mcp-hostio", str(interval), source]
