"""`qemu-mcp monitor` as a person runs it: JSON lines, and the live table ended with Ctrl-C."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time

import pytest

from qemu_mcp.models_monitor import MonitorSample

pytestmark = pytest.mark.integration


def monitor(config: str, *args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "qemu_mcp", "--config", config, "monitor", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def test_json_lines(rig_config: str, guests) -> None:  # type: ignore[no-untyped-def]
    p = monitor(rig_config, guests.running, "--host", "rig", "--count", "2", "--json", "--metrics", "cpu,disk")
    out, err = p.communicate(timeout=60)
    assert p.returncode == 0, err
    samples = [MonitorSample.model_validate_json(line) for line in out.splitlines()]
    assert [s.index for s in samples] == [1, 2]
    assert all(s.cpu is not None and s.disk is not None and s.memory is None for s in samples)
    assert "2 sample(s)" in err and "complete" in err


def test_live_view_ends_cleanly_on_ctrl_c(rig_config: str, guests) -> None:  # type: ignore[no-untyped-def]
    p = monitor(rig_config, guests.running, "--host", "rig")  # count 0: until Ctrl-C
    time.sleep(4.5)
    sent = time.monotonic()
    p.send_signal(signal.SIGINT)
    out, err = p.communicate(timeout=30)
    assert time.monotonic() - sent < 3, "Ctrl-C took too long"  # real time: a real process and its signal handler
    assert p.returncode == 0, err
    assert "Traceback" not in err
    # The final table (rows with sparklines) and the summary.
    assert "cpu (of vCPUs)" in out and "vda read" in out and "history" in out
    assert "stopped by Ctrl-C" in out and "sample(s)" in out


def test_json_ctrl_c_keeps_lines(rig_config: str, guests) -> None:  # type: ignore[no-untyped-def]
    p = monitor(rig_config, guests.running, "--host", "rig", "--json")
    assert p.stdout is not None
    # Ctrl-C once two samples are out (not after a fixed time: a loaded machine starts slowly).
    first = [p.stdout.readline(), p.stdout.readline()]
    p.send_signal(signal.SIGINT)
    rest, err = p.communicate(timeout=30)
    assert p.returncode == 0, err
    lines = [json.loads(line) for line in "".join(first).splitlines() + rest.splitlines()]
    assert len(lines) >= 2 and [x["index"] for x in lines] == list(range(1, len(lines) + 1))
    assert "stopped by Ctrl-C" in err


def test_errors_are_one_line(rig_config: str, guests) -> None:  # type: ignore[no-untyped-def]
    p = monitor(rig_config, guests.stopped, "--host", "rig", "--count", "1")
    _, err = p.communicate(timeout=60)
    assert p.returncode == 1 and "only running VMs can be monitored" in err and "Traceback" not in err
