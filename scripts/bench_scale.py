"""Cold start and memory at scale, measured in one run (issue 13, items 4 and 5).

    python scripts/bench_scale.py [--runs N] [--hosts 100,1000] [--sshds 4]

Measures, in this order:
- the MCP server's start to its first tools/list reply (`python -m qemu_mcp serve`, stdio) against a
  minimal MCPServer with one tool, both started as stdio subprocesses, runs interleaved, medians;
- `python -m qemu_mcp vm list --host demo --json` cold (a new process each run), median;
- one SSH round trip running `true` on the bench sshd: on a kept connection, and with a fresh
  connection (asyncssh, in this process: no import cost) for the "+ one round trip" comparison;
- the stdio server's memory (VmHWM: peak RSS; VmRSS after the call) after one fleet-wide list_vms
  over 100 and over 1,000 inventory hosts, each in a fresh server process, with the failures counted.

The inventory hosts are names for a few throw-away sshds on 127.0.0.1 (the test rig's), with libvirt's
test driver as each host's URI. Those sshds allow many concurrent handshakes (MaxStartups): a real
fleet spreads its hosts over many sshds; here four carry a thousand. Their sessions read a copy of
root's ~/.bashrc without pyenv lines: this machine's runs `pyenv init` on every SSH command
(0.15-0.3 s each), which a real host does not.

Every function is importable (scripts/bench.py calls them); `main` prints one table.
"""

from __future__ import annotations

import argparse
import asyncio
import compileall
import json
import os
import shlex
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import yaml  # noqa: E402

from tests.rig import sshd as rig_sshd  # noqa: E402

PROTOCOL = "2025-11-25"
TEST_URI = "test:///default"
# Enough unauthenticated connections for one sshd to take its share of 1,000 hosts at once, and
# sessions for concurrent commands on one connection; the product opens at most max_parallel_hosts.
BENCH_SSHD_CONFIG = "MaxStartups 2048:100:4096\nMaxSessions 64\n"
# `import pydantic` alone loads almost nothing (its names load on first use): the second floor also
# builds and uses one model, as every qemu-mcp command does, and loads what a listing needs.
ISSUE_FLOOR = "import asyncssh, pydantic, yaml, rich.table"
ISSUE_FLOOR_SECONDS = 0.26  # that floor on the machine the issue's goals were set on
CLI_GOAL = 0.35  # seconds, on that machine, plus one round trip
USED_FLOOR = ("import asyncio, asyncssh, json, lxml.etree, yaml\nfrom pydantic import BaseModel\n"
              "class M(BaseModel):\n    x: int = 0\nM(x=1).model_dump_json()")  # fmt: skip
MINIMAL_SERVER = '''\
from mcp.server.mcpserver import MCPServer

server = MCPServer(name="minimal")


@server.tool()
def ping() -> str:
    """Answer pong."""
    return "pong"


server.run("stdio")
'''


# ---- timing helpers


def median_of(runs: int, measure: Callable[[], float]) -> float:
    return statistics.median(measure() for _ in range(runs))


def interleaved(runs: int, measures: dict[str, Callable[[], float]]) -> dict[str, float]:
    """Median of each measure over `runs` rounds, one run of each per round: a machine that gets
    busier or quieter during the bench shifts all of them alike, not the ones measured last."""
    samples: dict[str, list[float]] = {name: [] for name in measures}
    for _ in range(runs):
        for name, measure in measures.items():
            samples[name].append(measure())
    return {name: statistics.median(xs) for name, xs in samples.items()}


def clean_env() -> dict[str, str]:
    """The environment for the subprocesses: this checkout first on the path, quiet logs, and
    Python free to write bytecode, as an installed qemu-mcp has it (see compile_package)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("QEMU_MCP_") and k != "PYTHONDONTWRITEBYTECODE"}
    env["PYTHONPATH"] = str(ROOT)
    env["QEMU_MCP_AUDIT_LOG"] = str(Path(tempfile.gettempdir()) / "qmcp-bench-audit.jsonl")
    return env


def compile_package() -> None:
    """Byte-compile this checkout's package, as pip does when it installs the wheel: a shell with
    PYTHONDONTWRITEBYTECODE=1 otherwise leaves every module changed since the last .pyc to be
    compiled again by each cold process (about 30 ms of a CLI command after an edit here)."""
    compileall.compile_dir(str(ROOT / "qemu_mcp"), quiet=1)


# ---- stdio MCP sessions, spoken by hand (no client library in the measured path)


class StdioSession:
    """A stdio MCP server subprocess and newline-delimited JSON-RPC to it."""

    def __init__(self, argv: list[str], env: dict[str, str] | None = None) -> None:
        self.started = time.perf_counter()
        self.proc = subprocess.Popen(
            argv, cwd=ROOT, env=env or clean_env(), stdin=subprocess.PIPE, stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
        )  # fmt: skip
        self._next_id = 0

    def send(self, method: str, params: dict[str, Any] | None = None, *, notify: bool = False) -> int:
        message: dict[str, Any] = {"jsonrpc": "2.0", "method": method, "params": params or {}}
        if not notify:
            self._next_id += 1
            message["id"] = self._next_id
        assert self.proc.stdin is not None
        self.proc.stdin.write(json.dumps(message).encode() + b"\n")
        self.proc.stdin.flush()
        return self._next_id

    def reply(self, request_id: int) -> dict[str, Any]:
        """The response to `request_id` (notifications and server requests in between are skipped)."""
        assert self.proc.stdout is not None
        while True:
            line = self.proc.stdout.readline()
            if not line:
                raise RuntimeError(f"server exited (status {self.proc.poll()}) before answering request {request_id}")
            message = json.loads(line)
            if message.get("id") == request_id and ("result" in message or "error" in message):
                return message

    def call(self, method: str, params: dict[str, Any] | None = None) -> dict[str, Any]:
        return self.reply(self.send(method, params))

    def initialize(self) -> None:
        self.call("initialize", {
            "protocolVersion": PROTOCOL, "capabilities": {}, "clientInfo": {"name": "bench", "version": "0"},
        })  # fmt: skip
        self.send("notifications/initialized", notify=True)

    def status(self) -> dict[str, int]:
        """VmHWM (peak RSS) and VmRSS of the server process, in KiB."""
        out: dict[str, int] = {}
        for line in Path(f"/proc/{self.proc.pid}/status").read_text().splitlines():
            key, _, value = line.partition(":")
            if key in ("VmHWM", "VmRSS"):
                out[key] = int(value.split()[0])
        return out

    def close(self) -> None:
        if self.proc.stdin:
            self.proc.stdin.close()
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        if self.proc.stdout:
            self.proc.stdout.close()


def time_to_tools_list(argv: list[str]) -> float:
    """Seconds from starting a stdio server to its first tools/list reply (initialize first, as a
    client does)."""
    session = StdioSession(argv)
    try:
        session.initialize()
        tools = session.call("tools/list")
        elapsed = time.perf_counter() - session.started
        if not tools.get("result", {}).get("tools"):
            raise RuntimeError(f"tools/list answered without tools: {tools}")
        return elapsed
    finally:
        session.close()


def server_argv(config: str) -> list[str]:
    return [sys.executable, "-m", "qemu_mcp", "serve", "--config", config]


def minimal_server_argv(work: Path) -> list[str]:
    script = work / "minimal_server.py"
    script.write_text(MINIMAL_SERVER)
    return [sys.executable, str(script)]


def cold_start(runs: int, work: Path, config: str) -> dict[str, float]:
    """qemu-mcp's stdio server vs a minimal MCPServer with one tool: start to first tools/list."""
    ours, minimal = server_argv(config), minimal_server_argv(work)
    time_to_tools_list(ours), time_to_tools_list(minimal)  # page cache and .pyc files warm for both
    medians = interleaved(runs, {"qemu-mcp": lambda: time_to_tools_list(ours),
                                 "minimal": lambda: time_to_tools_list(minimal)})  # fmt: skip
    return {**medians, "ratio": medians["qemu-mcp"] / medians["minimal"]}


# ---- the CLI


def time_command(argv: list[str]) -> float:
    start = time.perf_counter()
    out = subprocess.run(argv, cwd=ROOT, env=clean_env(), capture_output=True)
    elapsed = time.perf_counter() - start
    if out.returncode != 0:
        raise RuntimeError(f"{shlex.join(argv)} failed ({out.returncode}): {out.stderr.decode()[-500:]}")
    return elapsed


def cli_cold(runs: int, args: list[str]) -> float:
    """Median wall time of `python -m qemu_mcp ARGS` in a new process each run."""
    argv = [sys.executable, "-m", "qemu_mcp", *args]
    time_command(argv)  # warm the page cache
    return median_of(runs, lambda: time_command(argv))


def python_floor(runs: int, modules: str) -> float:
    """Median wall time of a python that only imports `modules` (a comma-separated list)."""
    argv = [sys.executable, "-c", f"import {modules}"]
    time_command(argv)
    return median_of(runs, lambda: time_command(argv))


# ---- the bench sshds and inventories


@contextmanager
def bench_sshds(work: Path, count: int) -> Iterator[list[rig_sshd.SshHost]]:
    """`count` throw-away sshds on 127.0.0.1 taking many handshakes at once, whose sessions read a
    ~/.bashrc without pyenv lines (see the module docstring)."""
    key = work / "id_ed25519"
    if not key.exists():
        rig_sshd.keygen(key)
    account = rig_sshd.PasswordAccount("root", "unused")  # key logins only
    with ExitStack() as stack:
        hosts = []
        for i in range(count):
            prelude = rig_sshd.plain_bashrc_prelude(work / f"home{i}")
            sshd = rig_sshd.start_sshd(work, f"sshd{i}", key_path=key, account=account, prelude=prelude,
                                       config=BENCH_SSHD_CONFIG)  # fmt: skip
            stack.callback(sshd.stop)
            hosts.append(sshd.host)
        yield hosts


def host_entry(name: str, h: rig_sshd.SshHost) -> dict[str, Any]:
    return {"name": name, "address": h.address, "port": h.port, "user": h.key_user, "key": h.key_path,
            "known_hosts": h.known_hosts, "backend": "libvirt", "libvirt_uri": TEST_URI}  # fmt: skip


def write_inventory(path: Path, n: int, sshds: list[rig_sshd.SshHost]) -> str:
    """hosts.yaml with `n` hosts named h0000.., spread over `sshds` (libvirt test driver on each)."""
    hosts = [host_entry(f"h{i:04d}", sshds[i % len(sshds)]) for i in range(n)]
    path.write_text(yaml.safe_dump({"hosts": hosts}))
    return str(path)


# ---- SSH round trips (asyncssh in this process: what a warm qemu-mcp pays, no import cost)


def ssh_options(h: rig_sshd.SshHost) -> dict[str, Any]:
    return {"port": h.port, "username": h.key_user, "client_keys": [h.key_path], "known_hosts": h.known_hosts}


async def _round_trips(h: rig_sshd.SshHost, runs: int) -> dict[str, float]:
    import asyncssh

    fresh: list[float] = []
    for _ in range(runs):
        start = time.perf_counter()
        async with asyncssh.connect(h.address, **ssh_options(h)) as conn:
            await conn.run("true", check=True)
        fresh.append(time.perf_counter() - start)
    kept: list[float] = []
    async with asyncssh.connect(h.address, **ssh_options(h)) as conn:
        for _ in range(runs):
            start = time.perf_counter()
            await conn.run("true", check=True)
            kept.append(time.perf_counter() - start)
    return {"kept": statistics.median(kept), "fresh": statistics.median(fresh)}


def ssh_round_trip(h: rig_sshd.SshHost, runs: int) -> dict[str, float]:
    """Median seconds of one `true` over SSH: on a kept connection, and with a new connection each time."""
    return asyncio.run(_round_trips(h, runs))


# ---- memory at scale: the stdio server after one fleet-wide list_vms


@dataclass(frozen=True)
class FleetRun:
    hosts: int
    vms: int
    failures: int
    seconds: float
    rss_before_mib: float  # after tools/list, before the call
    peak_mib: float  # VmHWM after the call
    rss_after_mib: float  # VmRSS after the call


def fleet_rss(config: str, hosts: int) -> FleetRun:
    """A fresh stdio server lists every inventory host in one call; its memory, read from /proc."""
    session = StdioSession(server_argv(config))
    try:
        session.initialize()
        session.call("tools/list")
        before = session.status()
        start = time.perf_counter()
        reply = session.call("tools/call", {"name": "list_vms", "arguments": {}})
        seconds = time.perf_counter() - start
        after = session.status()
    finally:
        session.close()
    result = reply.get("result") or {}
    data = (result.get("structuredContent") or {}).get("data") or {}
    if not data:
        raise RuntimeError(f"list_vms failed: {json.dumps(reply)[:500]}")
    return FleetRun(hosts, data["vm_count"], len(data["errors"]), seconds, before["VmRSS"] / 1024,
                    after["VmHWM"] / 1024, after["VmRSS"] / 1024)  # fmt: skip


# ---- one run of everything


@dataclass
class Results:
    runs: int
    cold: dict[str, float]
    cli_demo: float
    cli_remote: float
    issue_floor: float
    used_floor: float
    round_trip: dict[str, float]
    fleets: list[FleetRun]


def run_all(work: Path, runs: int, fleet_sizes: list[int], sshd_count: int) -> Results:
    empty = work / "empty.yaml"
    empty.write_text("hosts: []\n")
    with bench_sshds(work, sshd_count) as sshds:
        one = write_inventory(work / "one.yaml", 1, sshds)
        cold = cold_start(runs, work, str(empty))
        cli = interleaved(runs, {
            "demo": lambda: time_command([sys.executable, "-m", "qemu_mcp", "vm", "list", "--host", "demo", "--json"]),
            "remote": lambda: time_command([sys.executable, "-m", "qemu_mcp", "--config", one, "vm", "list",
                                            "--host", "h0000", "--json"]),
            "issue floor": lambda: time_command([sys.executable, "-c", ISSUE_FLOOR]),
            "used floor": lambda: time_command([sys.executable, "-c", USED_FLOOR]),
        })  # fmt: skip
        trip = ssh_round_trip(sshds[0], runs)
        fleets = [fleet_rss(write_inventory(work / f"fleet{n}.yaml", n, sshds), n) for n in fleet_sizes]
    return Results(runs, cold, cli["demo"], cli["remote"], cli["issue floor"], cli["used floor"], trip, fleets)


def report(r: Results, sshd_count: int) -> str:
    ms = 1000
    trip = r.round_trip
    # A busy machine slows every process alike: the goal scaled by this run's floor over the issue's.
    scale = r.issue_floor / ISSUE_FLOOR_SECONDS
    lines = [
        f"cold start and memory at scale ({r.runs} runs each, medians; {os.cpu_count()} CPUs; bench sshds on "
        "127.0.0.1 whose sessions skip root's pyenv .bashrc)",
        f"  MCP server start -> first tools/list   {r.cold['qemu-mcp'] * ms:7.0f} ms   "
        f"x{r.cold['ratio']:.2f} of a minimal MCPServer with one tool ({r.cold['minimal'] * ms:.0f} ms); goal <= x1.10",
        f"  SSH round trip (`true`), kept conn.     {trip['kept'] * ms:7.1f} ms",
        f"  SSH round trip (`true`), new conn.      {trip['fresh'] * ms:7.1f} ms",
        f"  CLI `vm list --host demo --json` cold  {r.cli_demo * ms:7.0f} ms   goal <= {CLI_GOAL * ms:.0f} ms (local: "
        f"no round trip); scaled by this run's floor: {CLI_GOAL * scale * ms:.0f} ms",
        f"  CLI `vm list --host <ssh> --json` cold {r.cli_remote * ms:7.0f} ms   goal <= {CLI_GOAL * ms:.0f} ms + a "
        f"new-connection round trip = {(CLI_GOAL + trip['fresh']) * ms:.0f} ms; scaled: "
        f"{(CLI_GOAL * scale + trip['fresh']) * ms:.0f} ms",
        f"  python importing asyncssh, pydantic, yaml, rich.table   {r.issue_floor * ms:7.0f} ms (the issue's floor: "
        f"{ISSUE_FLOOR_SECONDS * ms:.0f} ms there, so this run is x{scale:.2f} that machine)",
        f"  python importing asyncssh, yaml, lxml + a pydantic model {r.used_floor * ms:7.0f} ms (pydantic in use)",
    ]
    for f in r.fleets:
        lines.append(
            f"  list_vms over {f.hosts:5d} hosts ({sshd_count} sshds): {f.seconds:6.1f} s, {f.vms} VMs, "
            f"{f.failures} failure(s); server RSS {f.rss_before_mib:.0f} MiB after tools/list, peak "
            f"{f.peak_mib:.0f} MiB, {f.rss_after_mib:.0f} MiB after the call; goal <= "
            f"{120 if f.hosts <= 100 else 250} MiB"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    p.add_argument("--runs", type=int, default=11, help="runs per timing (median; default 11)")
    p.add_argument("--hosts", default="100,1000", help="fleet sizes for the memory runs (default 100,1000)")
    p.add_argument("--sshds", type=int, default=4, help="sshds carrying the fleet's hosts (default 4)")
    args = p.parse_args(argv)
    if os.geteuid() != 0:
        raise SystemExit("the bench starts sshds for root logins: run it as root (like the test rig)")
    work = Path(tempfile.mkdtemp(prefix="qmcp-bench-scale-"))
    work.chmod(0o755)  # sshd reads the authorized keys below it
    try:
        results = run_all(work, args.runs, [int(n) for n in args.hosts.split(",") if n], args.sshds)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    print(report(results, args.sshds))


if __name__ == "__main__":
    main()
