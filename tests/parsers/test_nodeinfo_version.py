from __future__ import annotations

from qemu_mcp.parsers.nodeinfo import parse_nodeinfo
from qemu_mcp.parsers.version import parse_virsh_version


def test_nodeinfo_partial_and_unknown_lines() -> None:
    text = "CPU model:  x86_64\nCPU(s):   64\nCPU frequency:  0 MHz\nNew thing(s):  7\nMemory size:  12 GiB\n\n"
    assert parse_nodeinfo(text) == {
        "cpu_model": "x86_64",
        "cpus": 64,
        "cpu_frequency_mhz": 0,
        "new_thing_s": 7,
        "memory_kib": "12 GiB",  # unexpected unit: kept as text
    }


def test_nodeinfo_numeric_cpu_model_stays_text() -> None:
    assert parse_nodeinfo("CPU model:           1234\n") == {"cpu_model": "1234"}
    assert parse_nodeinfo("") == {}


def test_version_cannot_extract_hypervisor() -> None:
    text = (
        "Compiled against library: libvirt 8.0.0\nUsing library: libvirt 8.0.0\n"
        "Using API: QEMU 8.0.0\nCannot extract running QEMU hypervisor version\n"
    )
    assert parse_virsh_version(text) == {
        "compiled": "8.0.0",
        "library": "8.0.0",
        "api": "QEMU 8.0.0",
        "hypervisor": None,
        "daemon": None,
    }


def test_version_empty() -> None:
    assert set(parse_virsh_version("").values()) == {None}
