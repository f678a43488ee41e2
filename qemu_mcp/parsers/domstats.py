"""Parse `virsh domstats --raw` output.

The output is blocks of::

    Domain: 'NAME'
      key=value
      ...

separated by blank lines. virsh prints NAME verbatim between the quotes, with no escaping
(libvirt 9.0: `Domain: 'it's a "vm"; x'`), so the name is everything between the first
`Domain: '` and the last `'` of the line. Names cannot contain a newline (libvirt refuses
them), so one line is one header. Values stay strings here; the helpers type them.
"""

from __future__ import annotations

import re
from typing import Any

_HEADER = "Domain: '"
# Per-device keys: block.0.rd.bytes -> (0, "rd.bytes").
_DEVICE_KEY = re.compile(r"^(\d+)\.(.+)$")

# virDomainState number -> the word `virsh list`/`domstate` prints (C locale).
_STATE_NAMES = {
    0: "no state",
    1: "running",
    2: "idle",  # VIR_DOMAIN_BLOCKED: virsh calls it "idle"
    3: "paused",
    4: "in shutdown",
    5: "shut off",
    6: "crashed",
    7: "pmsuspended",
}
_SHUTOFF = 5


def parse_domstats(text: str) -> dict[str, dict[str, str]]:
    """Map domain name -> {stat key: raw string value}, in output order."""
    result: dict[str, dict[str, str]] = {}
    current: dict[str, str] | None = None
    for raw in text.splitlines():
        line = raw.rstrip("\r")
        if line.startswith(_HEADER) and line.endswith("'") and len(line) > len(_HEADER):
            current = result.setdefault(line[len(_HEADER) : -1], {})
            continue
        stripped = line.strip()
        if not stripped:
            continue
        key, sep, value = stripped.partition("=")
        if current is None or not sep or not line[0].isspace():
            raise ValueError(f"unexpected line in virsh domstats output: {line!r}")
        current[key] = value
    return result


def domstat_int(stats: dict[str, str], key: str) -> int | None:
    """The integer value of `key`, or None when absent or not an integer."""
    value = stats.get(key)
    if value is None:
        return None
    try:
        return int(value)
    except ValueError:
        return None


def _typed(value: str) -> int | str:
    try:
        return int(value)
    except ValueError:
        return value


def _devices(stats: dict[str, str], prefix: str) -> list[dict[str, Any]]:
    # `<prefix>.count` says how many; a device may still lack keys (an empty cdrom has no
    # path/capacity, a user-mode NIC has no net.0.* at all), so every index gets a dict.
    count = domstat_int(stats, f"{prefix}.count") or 0
    devices: list[dict[str, Any]] = [{} for _ in range(count)]
    start = len(prefix) + 1
    for key, value in stats.items():
        if not key.startswith(prefix + "."):
            continue
        match = _DEVICE_KEY.match(key[start:])
        if match is None:
            continue  # e.g. block.count
        index = int(match.group(1))
        if index >= count:
            continue  # not announced by .count; do not invent devices
        field = match.group(2)
        # Names and paths stay strings even if they look numeric.
        devices[index][field] = value if field in ("name", "path") else _typed(value)
    return devices


def block_devices(stats: dict[str, str]) -> list[dict[str, Any]]:
    """Per-disk dicts from block.count / block.N.* (name, path, capacity, rd.bytes, ...)."""
    return _devices(stats, "block")


def net_devices(stats: dict[str, str]) -> list[dict[str, Any]]:
    """Per-NIC dicts from net.count / net.N.* (name, rx.bytes, tx.pkts, ...)."""
    return _devices(stats, "net")


def state_name(state_code: int) -> str:
    """virsh's word for a virDomainState number; unknown numbers read "no state" like virsh."""
    return _STATE_NAMES.get(state_code, "no state")


def cpu_time_ns(stats: dict[str, str]) -> int | None:
    """cpu.time for a domain that has a process, else None.

    On a host without cgroups libvirt 9.0 reports, for a shut-off domain, the CPU time of
    libvirtd itself (it reads /proc/self/stat for pid 0), so that value is dropped.
    """
    if domstat_int(stats, "state.state") == _SHUTOFF:
        return None
    return domstat_int(stats, "cpu.time")
