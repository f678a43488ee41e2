"""Several qemu-mcp processes (here: CLI processes, as a CLI beside a server or HTTP replicas
would be) change one VM at the same moment. The host-side lock makes them take turns: every
call succeeds, and each one reads back exactly what it set (interleaved calls would read back
each other's values)."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from tests.conftest import key_host
from tests.faults.conftest import FaultRecord
from tests.integration.manage_helpers import Area, manage_area, virsh

pytestmark = pytest.mark.integration
ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def area(libvirtd_running: None) -> Iterator[Area]:
    with manage_area() as a:
        yield a


def cli(config: Path, *args: str) -> subprocess.Popen[str]:
    argv = [sys.executable, "-m", "qemu_mcp", "--config", str(config), *args, "--host", "rig", "--json"]
    return subprocess.Popen(argv, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


@pytest.mark.fault("several processes change one VM at once")
def test_processes_take_turns_on_one_vm(sshd_host, area: Area, tmp_path: Path, fault: FaultRecord) -> None:  # type: ignore[no-untyped-def]
    config = tmp_path / "hosts.yaml"
    rig = key_host(sshd_host, vm_dir=area.dir, accel="tcg").model_dump(exclude_none=True)
    config.write_text(yaml.safe_dump({"hosts": [rig], "audit_log": str(tmp_path / "audit.jsonl")}))
    name = area.name("shared")
    made = cli(config, "vm", "create", name, "--arch", "x86_64", "--memory", "128M", "--disk", "size=16M")
    assert made.wait(120) == 0, made.communicate()
    uuid = virsh("domuuid", "--domain", name).stdout.strip()

    sizes = [160, 192, 224, 256]
    procs = [cli(config, "vm", "modify", name, "--memory", f"{mib}M") for mib in sizes]
    for mib, proc in zip(sizes, procs, strict=True):
        out, err = proc.communicate(timeout=300)
        fault.called()
        if proc.returncode != 0:
            fault.clear_error(err, "'rig'")  # a refusal must still be a sentence; none is expected
            continue
        after = json.loads(out)["data"]["details"]["after"]
        if after["memory_mib"] != mib:
            fault.lost(f"a modify to {mib} MiB read back {after['memory_mib']} MiB: calls interleaved")
    assert all(p.returncode == 0 for p in procs)
    audit = [json.loads(line) for line in (tmp_path / "audit.jsonl").read_text().splitlines()]
    ends = [r for r in audit if r.get("event") == "end" and r.get("action") == "modify"]
    assert len(ends) == len(sizes) and all(r["vm_uuid"] == uuid and r["outcome"] == "ok" for r in ends)
    delete = cli(config, "vm", "delete", name, "--yes")
    assert delete.wait(120) == 0, delete.communicate()
    if virsh("dominfo", "--domain", uuid).returncode == 0 or any(Path(area.dir).glob(f"{name}*")):
        fault.leaked(f"'{name}' or its disk after delete")
