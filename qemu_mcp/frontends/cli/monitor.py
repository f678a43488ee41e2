"""`qemu-mcp monitor NAME`: a live table with sparklines, or one JSON line per sample (--json).

Ctrl-C ends the series cleanly: the in-flight reading is cancelled (its remote command is
stopped by the transport) and a summary of what was collected is printed. No mcp import here;
the operations are imported when the command runs (other commands start without them).
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from collections import deque
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from qemu_mcp.frontends.cli.fleets import cli_fleet

if TYPE_CHECKING:
    from qemu_mcp.models_monitor import MonitorData, MonitorSample

BARS = "▁▂▃▄▅▆▇█"
HISTORY = 40  # samples per sparkline


def add_parser(sub: Any) -> None:
    p = sub.add_parser("monitor", help="live CPU, memory, disk and network of a running VM")
    p.add_argument("name", help="VM name")
    p.add_argument("--host", help="inventory host (default: local)")
    p.add_argument("--interval", type=float, default=1.0, help="seconds between samples (min 1, default 1)")
    p.add_argument("--count", type=int, default=0, help="samples to take (default 0: until Ctrl-C)")
    p.add_argument("--metrics", default="all", help="comma-separated cpu,memory,disk,network (default all)")
    p.add_argument("--max-duration", type=float, help="seconds (default: the host's monitor_max_duration)")
    p.add_argument("--json", action="store_true", help="print one JSON line per sample")
    p.set_defaults(run=run)


def sparkline(values: list[float | None]) -> str:
    known = [v for v in values if v is not None]
    if not known:
        return ""
    lo, hi = min(0.0, *known), max(known)
    span = hi - lo or 1.0
    return "".join(" " if v is None else BARS[round((v - lo) / span * (len(BARS) - 1))] for v in values)


def series(sample: MonitorSample) -> Iterator[tuple[str, str, float | None]]:
    """(row label, unit, value) of every number worth a sparkline."""
    if sample.cpu is not None:
        yield "cpu (of vCPUs)", "%", sample.cpu.cpu_percent
        yield "qemu process", "%", sample.cpu.process_percent
    if sample.memory is not None:
        m = sample.memory
        yield "mem rss", "MiB", m.rss_mib
        if m.used_percent is not None:
            yield "mem used (guest)", "%", m.used_percent
    if sample.disk is not None:
        for d in sample.disk.devices:
            yield f"{d.name} read", "B/s", d.rd_bytes_per_s
            yield f"{d.name} write", "B/s", d.wr_bytes_per_s
            iops = None if d.rd_iops is None or d.wr_iops is None else d.rd_iops + d.wr_iops
            yield f"{d.name} IOPS", "/s", iops
    if sample.network is not None:
        for n in sample.network.interfaces:
            yield f"{n.name} rx", "B/s", n.rx_bytes_per_s
            yield f"{n.name} tx", "B/s", n.tx_bytes_per_s


def fmt(value: float | None, unit: str) -> str:
    if value is None:
        return "-"
    if unit == "B/s":
        from qemu_mcp.ops.rates import human_bytes

        return human_bytes(value) + "/s"
    if unit == "%":
        return f"{value:.1f}%"
    return f"{value:.1f} {unit}" if unit == "MiB" else f"{value:.1f}{unit}"


class History:
    def __init__(self) -> None:
        self.rows: dict[str, tuple[str, deque[float | None]]] = {}
        self.samples: list[MonitorSample] = []
        self.started = time.monotonic()

    def add(self, sample: MonitorSample) -> None:
        self.samples.append(sample)
        for label, unit, value in series(sample):
            _, values = self.rows.setdefault(label, (unit, deque(maxlen=HISTORY)))
            values.append(value)

    def table(self, title: str) -> Any:
        from qemu_mcp.frontends.cli.render import Col, FitTable

        cols = [Col("metric"), Col("now", justify="right"), Col("history", kind="tail", min_width=8)] + [
            Col(name, drop=drop, justify="right") for name, drop in (("min", 3), ("avg", 1), ("max", 2))
        ]
        rows = []
        for label, (unit, values) in self.rows.items():
            known = [v for v in values if v is not None]
            stats = (min(known), sum(known) / len(known), max(known)) if known else (None, None, None)
            rows.append([label, fmt(values[-1], unit), sparkline(list(values)), *(fmt(v, unit) for v in stats)])
        return FitTable(cols, rows, title, title_justify="left")


def run(args: argparse.Namespace) -> int:
    from qemu_mcp.ops.fleet_core import HostRef
    from qemu_mcp.ops.monitor import monitor_vm

    history = History()
    live: Any = None
    title = f"{args.name} on {args.host or 'local'} every {args.interval:g} s"

    async def on_sample(k: int, total: int | None, sample: MonitorSample) -> None:
        history.add(sample)
        if args.json:
            print(sample.model_dump_json(), flush=True)
        elif live is not None:
            live.update(history.table(f"{title} - {sample.summary}"))

    async def go() -> MonitorData:
        fleet = cli_fleet(args.config)
        try:
            return await monitor_vm(
                fleet,
                args.name,
                HostRef(host=args.host),
                metrics=args.metrics,
                interval=args.interval,
                count=args.count,
                progress=on_sample,
                max_duration=args.max_duration,
            )
        finally:
            await fleet.close()

    data: MonitorData | None = None
    interrupted = False
    console: Any = None
    try:
        if args.json:
            data = asyncio.run(go())
        else:
            from rich.console import Console
            from rich.live import Live

            console = Console()
            with Live(history.table(title + " - first sample in progress"), console=console,
                      refresh_per_second=4) as live:  # fmt: skip
                data = asyncio.run(go())
    except KeyboardInterrupt:
        interrupted = True
    summary = _summary(history, data, interrupted)
    if args.json:
        print(summary, file=sys.stderr, flush=True)
    else:
        if not console.is_terminal:
            console.line()  # Live ends its line itself only on a terminal
        console.print(summary, highlight=False)
    return 0


def _summary(history: History, data: MonitorData | None, interrupted: bool) -> str:
    n = len(history.samples)
    took = time.monotonic() - history.started
    why = "stopped by Ctrl-C" if interrupted else (data.ended if data else "ended")
    line = f"{n} sample(s) in {took:.1f} s, {why}"
    if data is not None and data.note:
        line += f"; {data.note}"
    if data is not None and data.samples:
        line += f"; worst start lag {data.timing.max_lag_s * 1000:.0f} ms"
    return line
