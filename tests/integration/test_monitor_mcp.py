"""monitor_vm_status, host_stats and vmstats:// through real MCP sessions: in process and over stdio.

Progress: one notification per sample. Cancellation: a count=0 call cancelled by the client
after ~3 s returns at once, the server stops sampling (the cached newest sample stops
changing) and no reading of the VM is left running on the host.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import anyio
import pytest
from mcp import Client, StdioServerParameters

from qemu_mcp.config import HostSpec, Inventory
from qemu_mcp.frontends.mcp.server import build_server

pytestmark = pytest.mark.integration


class Progress:
    def __init__(self) -> None:
        self.seen: list[tuple[float, float | None, str | None]] = []

    async def __call__(self, progress: float, total: float | None, message: str | None) -> None:
        self.seen.append((progress, total, message))


def domstats_running(name: str) -> list[str]:
    out = subprocess.run(["pgrep", "-af", "domstats --raw --state"], capture_output=True, text=True)
    return [ln for ln in out.stdout.splitlines() if name in ln and "pgrep" not in ln]


async def latest(client: Client, name: str) -> dict[str, Any]:
    result = await client.read_resource(f"vmstats://rig/{name}", cache_mode="bypass")
    return json.loads(result.contents[0].text)  # type: ignore[union-attr]


async def streams_then_cancels(client: Client, name: str) -> None:
    """count=2 gives two progress notifications; a count=0 call cancelled after ~3 s stops for good."""
    progress = Progress()
    result = await client.call_tool(
        "monitor_vm_status",
        {"name": name, "host": "rig", "interval": 1, "count": 2, "metrics": ["cpu", "memory"]},
        progress_callback=progress,
    )
    assert not result.is_error, result.content
    data = result.structured_content["data"]  # type: ignore[index]
    assert [(p, t) for p, t, _ in progress.seen] == [(1, 2), (2, 2)]
    assert all(m and m.startswith(f"#{i + 1} ") and " cpu " in m for i, (_, _, m) in enumerate(progress.seen))
    assert data["samples"] == 2 and len(data["metrics_data"]["cpu"]) == 2 and data["metrics_data"]["disk"] == []
    cached = await latest(client, name)
    assert cached["fresh"] is False and cached["sample"]["index"] == 2
    assert cached["sample"]["timestamp"] == data["timestamp"][-1]

    # Real time: a cancelled request to a real server must stop its real sampling; the bound leaves
    # 1.5 s for the reading in flight when the cancel arrives.
    endless = Progress()
    started = time.monotonic()
    with anyio.move_on_after(3.3) as scope:
        await client.call_tool(
            "monitor_vm_status",
            {"name": name, "host": "rig", "interval": 1, "count": 0},
            progress_callback=endless,
        )
    assert scope.cancelled_caught and time.monotonic() - started < 4.8
    last = int(max(p for p, _, _ in endless.seen))
    assert last >= 2 and all(t is None for _, t, _ in endless.seen)
    # At most one reading was in flight when the cancel arrived; after that nothing new.
    first = await latest(client, name)
    assert first["sample"]["index"] in (last, last + 1)
    await anyio.sleep(2.2)
    again = await latest(client, name)
    assert again["sample"]["index"] == first["sample"]["index"], "the server kept sampling"
    assert again["age_s"] >= 2.0
    assert domstats_running(name) == []


async def test_in_process(rig_spec: HostSpec, guests) -> None:  # type: ignore[no-untyped-def]
    async with Client(build_server(Inventory([rig_spec]))) as client:
        tools = {t.name: t for t in (await client.list_tools()).tools}
        for name in ("monitor_vm_status", "host_stats"):
            a = tools[name].annotations
            assert a is not None and (a.read_only_hint, a.destructive_hint, a.idempotent_hint) == (
                True,
                False,
                False,
            )
            assert a.open_world_hint is True and tools[name].output_schema is not None
        templates = (await client.list_resource_templates()).resource_templates
        assert [t.uri_template for t in templates if t.name == "vmstats"] == ["vmstats://{host}/{name}"]

        await streams_then_cancels(client, guests.running)

        off = await client.call_tool("monitor_vm_status", {"name": guests.stopped, "host": "rig"})
        assert off.is_error and "only running VMs can be monitored" in off.content[0].text  # type: ignore[union-attr]
        bad = await client.call_tool("monitor_vm_status", {"name": guests.running, "host": "rig", "interval": 0})
        assert bad.is_error

        for source, expect in (("auto", "iostat"), ("diskstats", "diskstats")):
            hs = await client.call_tool("host_stats", {"host": "rig", "source": source})
            assert not hs.is_error, hs.content
            d = hs.structured_content["data"]  # type: ignore[index]
            assert d["source"] == expect and d["devices"], d
            assert all(x["util_percent"] is None or 0 <= x["util_percent"] <= 100 for x in d["devices"])


async def test_stdio(rig_config: str, sshd_host, guests, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    home = tmp_path / "home"
    (home / ".ssh").mkdir(parents=True)
    shutil.copy(sshd_host.known_hosts, home / ".ssh" / "known_hosts")
    params = StdioServerParameters(
        command=sys.executable,
        args=["-m", "qemu_mcp", "--config", rig_config, "serve"],
        env={**os.environ, "HOME": str(home)},
    )
    async with Client(params) as client:
        # Nothing cached yet in this server: the resource takes one fresh sample.
        fresh = await latest(client, guests.running)
        assert fresh["fresh"] is True and fresh["sample"]["index"] == 1 and fresh["sample"]["cpu"] is not None
        await streams_then_cancels(client, guests.running)
