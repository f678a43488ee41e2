"""Every table the CLI prints fits an 80-column terminal with realistic data (long VM names, long
paths, long errors): no line wider than 80, no column squeezed to one character per line, and
names that must stay copy-pasteable shown whole. On a wide terminal the boxed tables are unchanged."""

from __future__ import annotations

import json
import re
from io import StringIO
from pathlib import Path
from types import SimpleNamespace as NS
from typing import Any

import pytest
import yaml
from rich.console import Console

from qemu_mcp.config import load_inventory
from qemu_mcp.frontends.cli.demo import tools_table
from qemu_mcp.frontends.cli.monitor import History
from qemu_mcp.frontends.cli.render import Col, FitTable, hosts_table, vm_table
from qemu_mcp.frontends.cli.safety import ADHOC, _pair, audit_table, levels_table, policy_table
from qemu_mcp.models_monitor import (
    CpuSample,
    DiskDeviceSample,
    DiskSample,
    MemorySample,
    MonitorSample,
    NetInterfaceSample,
    NetSample,
)

LONG_VM = "web-frontend-production-eu-west-1-canary-007"
LONG_HOST = "hypervisor-17.rack-04.dc-frankfurt.example.com"
LONG_PATH = "/srv/virtual-machines/production/images/web-frontend-production-eu-west-1-canary-007-disk0.qcow2"
TOOLS = Path(__file__).resolve().parents[1] / "contract" / "tools_list.json"


def rendered(renderable: Any, width: int = 80) -> list[str]:
    console = Console(width=width, file=StringIO(), color_system=None, legacy_windows=False)
    console.print(renderable)
    out = console.file.getvalue()  # type: ignore[attr-defined]
    return out.splitlines()


def assert_readable(lines: list[str], whole: tuple[str, ...] = (), width: int = 80) -> None:
    text = "\n".join(lines)
    too_wide = [line for line in lines if len(line) > width]
    assert not too_wide, "\n" + text
    for line in lines:  # a squeezed column shows up as cells of one letter
        for fragment in re.split(r"[│┃]| {2,}", line):
            assert not (len(fragment.strip()) == 1 and fragment.strip().isalpha()), "\n" + text
    for word in whole:
        assert word in text, f"{word!r} is not shown whole:\n{text}"


def disk(target: str) -> NS:
    return NS(target=target, capacity_bytes=20 * 2**30, device="disk")


def vms() -> list[NS]:
    base = dict(status="running", state="running", arch="x86_64", vcpus=4, memory=8192, autostart=True)
    return [
        NS(host=LONG_HOST, name=LONG_VM, disks=[disk("vda"), disk("vdb"), disk("vdc")], **base),
        NS(**{**base, "host": "demo", "name": "db1", "status": "stopped", "state": "shut off", "disks": []}),
        NS(
            **{
                **base,
                "host": "lab2",
                "name": "build-runner-aarch64-02",
                "arch": "aarch64",
                "autostart": None,
                "disks": [disk("vda")],
            }
        ),
    ]


def test_vm_table() -> None:
    assert_readable(rendered(vm_table(vms(), "VMs on every inventory host (3)")), whole=(LONG_VM, "running"))
    wide = rendered(vm_table(vms(), "VMs"), width=200)
    assert wide[1].startswith("┏") and "autostart" in wide[2] and "vda:20.0G, vdb:20.0G, vdc:20.0G" in "\n".join(wide)


def test_hosts_table() -> None:
    error = f"host key of {LONG_HOST}:22 is not in /root/.ssh/known_hosts: run `ssh-keyscan -p 22 {LONG_HOST}`"
    hosts = [
        NS(
            name="lab1",
            address=LONG_HOST,
            port=2222,
            user="root",
            backend="libvirt",
            reachable=False,
            latency_ms=None,
            error=error,
        ),
        NS(
            name="demo",
            address="local",
            port=None,
            user=None,
            backend="libvirt",
            reachable=True,
            latency_ms=1.234,
            error=None,
        ),
    ]
    assert_readable(rendered(hosts_table(hosts)), whole=("lab1", "demo", "reachable"))


def test_audit_table() -> None:
    records = []
    for i, (vm, outcome, error) in enumerate(
        [
            (LONG_VM, "failed", f"creating the disk image {LONG_PATH} failed: qemu-img: Could not create: No space"),
            ("db1", "ok", None),
            ("prod-db", "refused", "manage_vm delete of VM 'prod-db' on host 'lab1' is refused: protected_vms"),
        ]
    ):
        rid = f"id{i}"
        args = {"name": vm, "action": "create", "memory": "4G", "disk": f"path={LONG_PATH},size=20G"}
        records.append(
            {
                "event": "intent",
                "id": rid,
                "time": f"2026-05-01T12:00:0{i}.000Z",
                "who": "cli:administrator",
                "action": "create",
                "host": LONG_HOST,
                "vm": vm,
                "arguments": args,
            }
        )
        records.append(
            {"event": "end", "id": rid, "outcome": outcome, "duration_s": 12.5, "error": error, "message": "created VM"}
        )
    records.append(
        {
            "event": "intent",
            "id": "x",
            "time": "2026-05-01T12:01:00.000Z",
            "who": "alice",
            "action": "delete",
            "host": "lab1",
            "vm": "[redacted]",
            "arguments": {"force": True},
        }
    )
    table = audit_table(_pair(records), "audit log /root/.local/state/qemu-mcp/audit.jsonl: the last 4 action(s)")
    lines = rendered(table)
    assert_readable(lines, whole=("05-01 12:00:00", "failed", "unfinished", "[redacted]"))
    assert "who" in lines[1] or "who" in lines[2]  # who keeps its column at 80


def test_policy_table(tmp_path: Path) -> None:
    roots = ["/srv/virtual-machines/production/images", "/srv/iso-library/debian/releases", "/var/lib/libvirt/images"]
    config = tmp_path / "hosts.yaml"
    config.write_text(
        yaml.safe_dump(
            {
                "policy": {"allow_adhoc_hosts": False, "protected_vms": ["prod-*", "dc?", "payments-*-primary"]},
                "hosts": [
                    {
                        "name": "hypervisor-17-frankfurt",
                        "address": "192.0.2.17",
                        "policy": {"allowed_actions": ["start", "stop", "reboot"], "allowed_paths": roots},
                    },
                ],
            }
        )
    )
    inv = load_inventory(str(config))
    policies = [inv.policy_for(h) for h in inv.hosts.values()] + [inv.global_policy(ADHOC)]
    assert_readable(rendered(policy_table(policies)), whole=("refused", "allowed", "(ad-hoc)"))


def test_levels_table() -> None:
    assert_readable(rendered(levels_table()), whole=("dangerous", "moderate", "get_vm_info"))


def test_tools_table() -> None:
    tools = [
        NS(
            name=t["name"],
            title=t.get("title"),
            output_schema=t.get("outputSchema"),
            annotations=NS(
                read_only_hint=t["annotations"].get("readOnlyHint"),
                destructive_hint=t["annotations"].get("destructiveHint"),
            ),
        )
        for t in json.loads(TOOLS.read_text())
    ]
    assert_readable(rendered(tools_table(tools)), whole=("monitor_vm_status", "manage_vm"))


def sample(k: int) -> MonitorSample:
    disks = [
        DiskDeviceSample(name=n, rd_bytes_per_s=1e6 * k, wr_bytes_per_s=2.5e8, rd_iops=10.0, wr_iops=k * 100.0)
        for n in ("vda", "sdb")
    ]
    nics = [NetInterfaceSample(name="vnet-production-17", rx_bytes_per_s=1e9 / (k + 1), tx_bytes_per_s=3e3)]
    return MonitorSample(
        host="h",
        vm_name="v",
        index=k,
        timestamp="2026-01-01T00:00:00.000Z",
        state="running",
        elapsed_s=k,
        lag_s=0,
        summary="",
        cpu=CpuSample(timestamp="t", cpu_percent=12.5 * (k % 8), process_percent=99.9),
        memory=MemorySample(timestamp="t", rss_mib=2048.5 + k, used_percent=55.5),
        disk=DiskSample(timestamp="t", devices=disks),
        network=NetSample(timestamp="t", interfaces=nics),
    )


def test_monitor_live_view() -> None:
    history = History()
    for k in range(60):
        history.add(sample(k))
    title = f"{LONG_VM} on {LONG_HOST} every 1 s - cpu 12.5%, rss 2.0 GiB"
    lines = rendered(history.table(title))
    assert_readable(lines, whole=("vnet-production-17 rx", "vda IOPS"))
    assert any("▁" in line or "█" in line for line in lines)  # the sparkline kept its newest end
    assert "history" in "\n".join(lines) and "max" in "\n".join(lines)


@pytest.mark.parametrize("width", [40, 60, 80, 100, 120])
def test_fit_table_any_width(width: int) -> None:
    cols = [Col("name"), Col("state"), Col("path", kind="fold", drop=1, min_width=10), Col("note", drop=2)]
    rows = [[LONG_VM[: width // 2], "running", LONG_PATH, "pending change"], ["db1", "shut off", "/x.qcow2", ""]]
    lines = rendered(FitTable(cols, rows, "VMs"), width=width)
    assert_readable(lines, whole=(LONG_VM[: width // 2], "shut off"), width=width)
