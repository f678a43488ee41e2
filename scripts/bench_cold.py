"""Cold start, measured side by side in one run (issue 13, item 4); scripts/bench.py calls `section`.

    python scripts/bench_cold.py [--runs N]

- the MCP server's start to its first tools/list reply (`python -m qemu_mcp serve`, stdio, empty
  inventory) against a minimal MCPServer with one tool, both stdio subprocesses, runs interleaved;
- `qemu-mcp vm list --json` cold (a new process each run): on the `demo` host (no round trip) and on
  one inventory host behind a throw-away sshd on 127.0.0.1 (one SSH connection and round trip),
  both through `python -m qemu_mcp` and through a `qemu-mcp` console script;
- the floors: python importing asyncssh, pydantic, yaml, rich.table (the issue's), and one SSH
  round trip on a new connection (asyncssh in this process: no import cost).

Medians of --runs runs each, interleaved, so a machine that gets busier shifts all of them alike;
the CLI rows also give the CPU time their processes used (children's rusage), which a busy machine
changes far less than wall time. The console-script row runs a `qemu-mcp` script written as pip
writes it for this checkout's entry point.
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import statistics
import sys
import tempfile
import time
import tomllib
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import bench_scale as bs


def console_script(work: Path) -> str:
    """A `qemu-mcp` script as pip writes it for this checkout's pyproject.toml entry point (the
    installed one may be an older checkout's)."""
    module, func = tomllib.loads((bs.ROOT / "pyproject.toml").read_text())["project"]["scripts"]["qemu-mcp"].split(":")
    path = work / "qemu-mcp"
    path.write_text(
        f"#!{sys.executable}\n# -*- coding: utf-8 -*-\nimport re\nimport sys\nfrom {module} import {func}\n"
        "if __name__ == '__main__':\n    sys.argv[0] = re.sub(r'(-script\\.pyw|\\.exe)?$', '', sys.argv[0])\n"
        f"    sys.exit({func}())\n"
    )
    path.chmod(0o755)
    return str(path)


def process_cpu(pid: int) -> float:
    """CPU seconds (user + system) process `pid` has used so far, from /proc."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def time_to_tools_list(argv: list[str], cpu: list[float]) -> float:
    """bench_scale.time_to_tools_list, also noting the server's CPU time up to its reply (read at
    once: qemu-mcp starts loading its operations only 50 ms after that reply)."""
    session = bs.StdioSession(argv)
    try:
        session.initialize()
        tools = session.call("tools/list")
        elapsed = time.perf_counter() - session.started
        cpu.append(process_cpu(session.proc.pid))
        if not tools.get("result", {}).get("tools"):
            raise RuntimeError(f"tools/list answered without tools: {tools}")
        return elapsed
    finally:
        session.close()


def cold_start(runs: int, work: Path, config: str) -> dict[str, float]:
    """qemu-mcp's stdio server vs a minimal MCPServer with one tool: start to first tools/list."""
    ours, minimal = bs.server_argv(config), bs.minimal_server_argv(work)
    cpu: dict[str, list[float]] = {"qemu-mcp": [], "minimal": []}
    time_to_tools_list(ours, []), time_to_tools_list(minimal, [])  # page cache and .pyc files warm for both
    medians = bs.interleaved(runs, {"qemu-mcp": lambda: time_to_tools_list(ours, cpu["qemu-mcp"]),
                                    "minimal": lambda: time_to_tools_list(minimal, cpu["minimal"])})  # fmt: skip
    out = {**medians, "ratio": medians["qemu-mcp"] / medians["minimal"]}
    out.update({f"{k} cpu": statistics.median(v) for k, v in cpu.items()})
    return {**out, "cpu ratio": out["qemu-mcp cpu"] / out["minimal cpu"]}


def children_cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


def with_cpu(name: str, cpu: dict[str, list[float]], measure: Callable[[], float]) -> Callable[[], float]:
    """`measure`, also noting the CPU seconds its process used (less sensitive to a busy machine)."""

    def run() -> float:
        before = children_cpu()
        wall = measure()
        cpu.setdefault(name, []).append(children_cpu() - before)
        return wall

    return run


def measure(work: Path, runs: int) -> dict[str, float]:
    bs.compile_package()
    empty = work / "empty.yaml"
    empty.write_text("hosts: []\n")
    out: dict[str, float] = {}
    out.update({f"server {k}": v for k, v in cold_start(runs, work, str(empty)).items()})
    with bs.bench_sshds(work, 1) as sshds:
        one = bs.write_inventory(work / "one.yaml", 1, sshds)
        py = [sys.executable, "-m", "qemu_mcp"]
        remote = ["--config", one, "vm", "list", "--host", "h0000", "--json"]
        measures = {
            "cli demo": lambda: bs.time_command([*py, "vm", "list", "--host", "demo", "--json"]),
            "cli remote": lambda: bs.time_command([*py, *remote]),
            "issue floor": lambda: bs.time_command([sys.executable, "-c", bs.ISSUE_FLOOR]),
        }
        script = console_script(work)
        measures["cli remote (console script)"] = lambda: bs.time_command([script, *remote])
        for m in measures.values():
            m()  # page cache and .pyc files warm
        cpu: dict[str, list[float]] = {}
        out.update(bs.interleaved(runs, {k: with_cpu(k, cpu, m) for k, m in measures.items()}))
        out.update({f"{k} cpu": statistics.median(v) for k, v in cpu.items()})
        out["round trip"] = bs.ssh_round_trip(sshds[0], runs)["fresh"]
    return out


def report(r: dict[str, float], runs: int) -> str:
    ms = 1000
    scale = r["issue floor"] / bs.ISSUE_FLOOR_SECONDS
    goal = bs.CLI_GOAL + r["round trip"]
    load = os.getloadavg()[0]
    lines = [
        f"cold start ({runs} runs each, interleaved, medians; {os.cpu_count()} CPUs, load {load:.2f})",
        f"  MCP server start -> first tools/list        {r['server qemu-mcp'] * ms:6.0f} ms   "
        f"x{r['server ratio']:.2f} of a minimal MCPServer with one tool ({r['server minimal'] * ms:.0f} ms); "
        "goal <= x1.10",
        f"    CPU time to that reply                     {r['server qemu-mcp cpu'] * ms:6.0f} ms   "
        f"x{r['server cpu ratio']:.2f} of the minimal server's ({r['server minimal cpu'] * ms:.0f} ms)",
        f"  SSH round trip (`true`), new connection      {r['round trip'] * ms:6.1f} ms",
        f"  CLI `vm list --host demo --json` cold        {r['cli demo'] * ms:6.0f} ms   goal <= "
        f"{bs.CLI_GOAL * ms:.0f} ms (no round trip); CPU {r['cli demo cpu'] * ms:.0f} ms",
        f"  CLI `vm list --host <ssh> --json` cold       {r['cli remote'] * ms:6.0f} ms   goal <= "
        f"{bs.CLI_GOAL * ms:.0f} ms + round trip = {goal * ms:.0f} ms (x{r['cli remote'] / goal:.2f}); "
        f"CPU {r['cli remote cpu'] * ms:.0f} ms",
    ]
    if "cli remote (console script)" in r:
        lines.append(f"    the same through the `qemu-mcp` script     {r['cli remote (console script)'] * ms:6.0f} ms")
    lines.append(
        f"  python importing asyncssh, pydantic, yaml, rich.table {r['issue floor'] * ms:4.0f} ms (the issue's "
        f"floor: {bs.ISSUE_FLOOR_SECONDS * ms:.0f} ms there, so this run is x{scale:.2f} that machine); "
        f"CPU {r['issue floor cpu'] * ms:.0f} ms"
    )
    return "\n".join(lines)


def section(runs: int = 11) -> str:
    """The cold-start section of scripts/bench.py's output."""
    work = Path(tempfile.mkdtemp(prefix="qmcp-bench-cold-"))
    work.chmod(0o755)  # sshd reads the authorized keys below it
    try:
        return report(measure(work, runs), runs)
    finally:
        shutil.rmtree(work, ignore_errors=True)


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    p.add_argument("--runs", type=int, default=11, help="runs per timing (median; default 11)")
    args = p.parse_args(argv)
    if os.geteuid() != 0:
        raise SystemExit("the bench starts an sshd for root logins: run it as root (like the test rig)")
    print(section(args.runs))


if __name__ == "__main__":
    main()
