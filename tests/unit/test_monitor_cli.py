"""The monitor CLI's pieces that need no host: sparklines, rows, and no mcp import."""

from __future__ import annotations

import subprocess
import sys

from qemu_mcp.frontends.cli.monitor import History, fmt, sparkline
from qemu_mcp.models_monitor import CpuSample, DiskDeviceSample, DiskSample, MonitorSample


def test_sparkline_scale_and_gaps() -> None:
    assert sparkline([]) == "" and sparkline([None]) == ""
    assert sparkline([0.0, 50.0, 100.0]) == "▁▅█"
    assert sparkline([3.0, None, 3.0]) == "█ █"  # zero-based: a steady value is a full bar


def test_history_rows() -> None:
    h = History()
    for i, rate in enumerate([None, 2048.0, 1024.0]):
        h.add(
            MonitorSample(
                host="h",
                vm_name="v",
                index=i + 1,
                timestamp="2026-01-01T00:00:00.000Z",
                state="running",
                elapsed_s=1,
                lag_s=0,
                summary="",
                cpu=CpuSample(timestamp="t", cpu_percent=10.0 * i, process_percent=None),
                disk=DiskSample(timestamp="t", devices=[DiskDeviceSample(name="vda", rd_bytes_per_s=rate)]),
            )
        )
    assert list(h.rows)[:3] == ["cpu (of vCPUs)", "qemu process", "vda read"]
    unit, values = h.rows["vda read"]
    assert unit == "B/s" and list(values) == [None, 2048.0, 1024.0]
    assert fmt(2048.0, "B/s") == "2.0 KiB/s" and fmt(None, "%") == "-" and fmt(12.345, "%") == "12.3%"


def test_cli_side_does_not_import_mcp() -> None:
    code = (
        "import sys, qemu_mcp.frontends.cli.main, qemu_mcp.frontends.cli.monitor;"
        "import qemu_mcp.ops.monitor, qemu_mcp.ops.host_io;"
        "assert 'mcp' not in sys.modules, 'mcp imported'"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
