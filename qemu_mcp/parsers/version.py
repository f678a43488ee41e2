"""Parse `virsh version`.

    Compiled against library: libvirt 9.0.0
    Using library: libvirt 9.0.0
    Using API: QEMU 9.0.0
    Running hypervisor: QEMU 7.2.22
    Running against daemon: 9.0.0      (only with `virsh version --daemon`)

The test driver says "Using API: TEST 9.0.0" / "Running hypervisor: TEST 0.0.2". When
virsh cannot get the hypervisor version it prints "Cannot extract running X hypervisor
version" instead, which leaves hypervisor None.
"""

from __future__ import annotations

_LABELS = {
    "Compiled against library": "compiled",
    "Using library": "library",
    "Using API": "api",
    "Running hypervisor": "hypervisor",
    "Running against daemon": "daemon",
}


def parse_virsh_version(text: str) -> dict[str, str | None]:
    """Keys: compiled, library, api, hypervisor, daemon; None when virsh did not print it.

    library is the version number only ("9.0.0"); api and hypervisor keep the driver name
    ("QEMU 9.0.0", "QEMU 7.2.22") because it says which hypervisor answered.
    """
    result: dict[str, str | None] = dict.fromkeys(_LABELS.values())
    for line in text.splitlines():
        label, sep, value = line.partition(":")
        key = _LABELS.get(label.strip())
        if not sep or key is None:
            continue
        value = value.strip()
        if key in ("compiled", "library") and value.startswith("libvirt "):
            value = value[len("libvirt ") :]
        result[key] = value or None
    return result
