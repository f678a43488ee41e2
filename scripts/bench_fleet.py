"""The fleet anchors of scripts/bench.py (issue 13, items 5 and 6), measured in one run:

- list_vms over N inventory hosts in one call (a new Fleet: N connections opened, fan-out bounded by
  max_parallel_hosts) against N OpenSSH clients started at once, each opening its connection and
  running the same listing as one virsh process (bench_scale's sshds, libvirt's test driver);
  medians of --reps; the same fleet call warm (connections kept);
- the stdio server's memory after one fleet-wide list_vms over 100 and over 1,000 inventory hosts
  (bench_scale.fleet_rss: a fresh server process each, failures counted).
"""

from __future__ import annotations

import asyncio
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "scripts"))

import bench_scale as bs  # noqa: E402

from qemu_mcp.config import load_inventory  # noqa: E402
from qemu_mcp.ops.fleet import Fleet  # noqa: E402
from qemu_mcp.ops.vms import list_vms  # noqa: E402
from tests.rig import sshd as rig_sshd  # noqa: E402

# What one OpenSSH client runs: the listing as one virsh process (the test driver's one domain).
LISTING = "list --all --uuid; domstats --raw; dumpxml --domain test"


@dataclass(frozen=True)
class FanOut:
    hosts: int
    fleet_cold: float
    fleet_warm: float
    openssh: float
    failures: int


def openssh_argv(h: rig_sshd.SshHost) -> list[str]:
    return ["ssh", "-o", "BatchMode=yes", "-o", f"UserKnownHostsFile={h.known_hosts}", "-o", "LogLevel=ERROR",
            "-i", h.key_path, "-p", str(h.port), f"{h.key_user}@{h.address}",
            f"virsh -c {bs.TEST_URI} '{LISTING}'"]  # fmt: skip


def openssh_clients(hosts: list[rig_sshd.SshHost]) -> tuple[float, int]:
    """Seconds until every client has answered, and how many failed."""
    start = time.perf_counter()
    procs = [subprocess.Popen(openssh_argv(h), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL) for h in hosts]
    failed = sum(p.wait() != 0 for p in procs)
    return time.perf_counter() - start, failed


async def fleet_listing(config: str, reps: int) -> tuple[list[float], list[float], int]:
    """(cold seconds, warm seconds, failures): each cold call on a new Fleet; warm on a kept one."""
    cold: list[float] = []
    failures = 0
    for _ in range(reps):
        fleet = Fleet(load_inventory(config))
        start = time.perf_counter()
        data = await list_vms(fleet)
        cold.append(time.perf_counter() - start)
        failures += len(data.errors)
        await fleet.close()
    fleet = Fleet(load_inventory(config))
    warm: list[float] = []
    try:
        await list_vms(fleet)
        for _ in range(reps):
            start = time.perf_counter()
            data = await list_vms(fleet)
            warm.append(time.perf_counter() - start)
            failures += len(data.errors)
    finally:
        await fleet.close()
    return cold, warm, failures


def fan_out(work: Path, sshds: list[rig_sshd.SshHost], n: int, reps: int) -> FanOut:
    config = bs.write_inventory(work / f"fan{n}.yaml", n, sshds)
    targets = [sshds[i % len(sshds)] for i in range(n)]
    openssh: list[float] = []
    failures = 0
    cold: list[float] = []
    warm: list[float] = []
    for _ in range(reps):  # interleaved: a load that comes and goes weighs on both alike
        c, w, f = asyncio.run(fleet_listing(config, 1))
        cold += c
        warm += w
        seconds, failed = openssh_clients(targets)
        openssh.append(seconds)
        failures += f + failed
    med = statistics.median
    return FanOut(n, med(cold), med(warm), med(openssh), failures)


def section(fan_hosts: int = 20, reps: int = 5, fleet_sizes: tuple[int, ...] = (100, 1000), sshds: int = 4) -> str:
    work = Path(tempfile.mkdtemp(prefix="qmcp-bench-fleet-"))
    work.chmod(0o755)  # sshd reads the authorized keys below it
    try:
        with bs.bench_sshds(work, sshds) as hosts:
            fan = fan_out(work, hosts, fan_hosts, reps)
            runs = [bs.fleet_rss(bs.write_inventory(work / f"fleet{n}.yaml", n, hosts), n) for n in fleet_sizes]
    finally:
        shutil.rmtree(work, ignore_errors=True)
    ms = 1000
    lines = [
        f"fleet ({sshds} bench sshds on 127.0.0.1, libvirt's test driver; medians of {reps})",
        f"  list_vms over {fan.hosts} hosts, new connections   {fan.fleet_cold * ms:7.0f} ms   "
        f"x{fan.fleet_cold / fan.openssh:.2f} of {fan.hosts} OpenSSH clients started at once, each running the "
        f"listing as one virsh process ({fan.openssh * ms:.0f} ms); {fan.failures} failure(s)",
        f"  list_vms over {fan.hosts} hosts, warm              {fan.fleet_warm * ms:7.0f} ms",
    ]
    for f in runs:
        goal = 120 if f.hosts <= 100 else 250
        lines.append(
            f"  list_vms over {f.hosts:5d} hosts in one call: {f.seconds:5.1f} s, {f.failures} failure(s); server RSS "
            f"peak {f.peak_mib:.0f} MiB (goal <= {goal} MiB: {'met' if f.peak_mib <= goal else 'NOT met'}), "
            f"{f.rss_after_mib:.0f} MiB after"
        )
    return "\n".join(lines)


if __name__ == "__main__":
    print(section())
