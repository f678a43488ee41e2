"""Parse `virsh nodeinfo` ("Label:   value" lines).

Keys are snake_case names of the labels; numbers become ints, with the unit dropped
("2445 MHz" -> cpu_frequency_mhz=2445, "5335256 KiB" -> memory_kib=5335256).
"""

from __future__ import annotations

import re

# virsh label -> (our key, expected unit or None). Unknown labels are kept under a
# slugged key, so a newer virsh adding a line does not break the parse.
_FIELDS: dict[str, tuple[str, str | None]] = {
    "CPU model": ("cpu_model", None),
    "CPU(s)": ("cpus", None),
    "CPU frequency": ("cpu_frequency_mhz", "MHz"),
    "CPU socket(s)": ("cpu_sockets", None),
    "Core(s) per socket": ("cores_per_socket", None),
    "Thread(s) per core": ("threads_per_core", None),
    "NUMA cell(s)": ("numa_cells", None),
    "Memory size": ("memory_kib", "KiB"),
}
_NUMBER_UNIT = re.compile(r"^(\d+)(?:\s+(\S+))?$")


def _slug(label: str) -> str:
    return re.sub(r"[^a-z0-9]+", "_", label.lower()).strip("_")


def parse_nodeinfo(text: str) -> dict[str, int | str]:
    """Map of nodeinfo fields; ints where the value is a number (with its expected unit)."""
    result: dict[str, int | str] = {}
    for line in text.splitlines():
        label, sep, value = line.partition(":")
        label, value = label.strip(), value.strip()
        if not sep or not label:
            continue
        key, unit = _FIELDS.get(label, (_slug(label), None))
        match = _NUMBER_UNIT.match(value)
        # "CPU model: x86_64" stays a string; a number with an unexpected unit too.
        if match and key != "cpu_model" and match.group(2) == unit:
            result[key] = int(match.group(1))
        else:
            result[key] = value
    return result
