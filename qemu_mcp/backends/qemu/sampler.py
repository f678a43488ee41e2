"""monitor_vm_status on plain-QEMU hosts: the Sampler of a VM that runs as a qemu-system process.

Each reading is ONE remote command (backends.qemu.scripts.SAMPLE_SCRIPT: vm.conf, the pidfile and the
process's cmdline, /proc/<pid>/{stat,status,io}, every thread's stat, the tap counters of the VM's
tap NICs and the disk images' sizes) plus, concurrently, one QMP session over the forwarded socket
(no program on the host): query-status and query-blockstats. Mapped onto the RawCounters the
libvirt sampler fills:
- run_id = pid:starttime (a restart, even with a reused pid, is a new run);
- CPU: the process's utime+stime; vCPU time = the threads named "CPU n/KVM|TCG" (-name
  debug-threads=on); the vCPU count from the running command line;
- memory: the guest's size (from the command line) and the process's RSS (there is no balloon);
- disks: QMP query-blockstats per node (vda, ...), sizes from the image files; when QMP does not
  answer, the process's read_bytes/write_bytes (/proc/<pid>/io) stand in as one device "qemu-io";
- network: tap devices (vm.conf nic.N.ifname), counters from the guest's view like libvirt's
  (the host's tx is the guest's rx). User-mode NICs have no host device: nothing to report.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from qemu_mcp.backends.counters import GONE, DiskCounters, MemoryCounters, NetCounters, RawCounters
from qemu_mcp.backends.qemu import scripts as qemu_host
from qemu_mcp.backends.qemu.qmp import QMPClient
from qemu_mcp.backends.qemu.runtime import parse_runtime
from qemu_mcp.backends.qemu.states import monitor_state
from qemu_mcp.backends.qemu.vmconf import ConfError, Home, VmConf, parse
from qemu_mcp.config import HostSpec
from qemu_mcp.errors import CommandFailed, QemuMcpError
from qemu_mcp.models_monitor import Metric
from qemu_mcp.parsers.qemu_host import RawSample, parse_io, parse_sample, parse_stat, parse_status_kib
from qemu_mcp.parsers.sections import new_marker
from qemu_mcp.transport.base import Runner

NS = 1_000_000_000
UEFI_NODES = ("pflash0", "pflash1")  # the firmware's flash devices are not disks


def _ns(ticks: int | None, clk: int) -> int | None:
    return None if ticks is None else ticks * NS // clk


def counters_from_sample(
    raw: RawSample,
    qmp: dict[str, Any] | None,
    *,
    started: float,
    taken_at: float,
    wall: datetime,
) -> RawCounters:
    """Map one reading (script output + QMP answers) to RawCounters (pure)."""
    if raw.gone or raw.conf is None:
        return RawCounters(started=started, taken_at=taken_at, wall=wall, state=GONE)
    try:
        conf: VmConf | None = parse(raw.conf)
    except ConfError:
        conf = None
    stat = parse_stat(raw.stat) if raw.pid is not None else None
    if raw.pid is None or stat is None:
        return RawCounters(started=started, taken_at=taken_at, wall=wall, state=monitor_state(alive=False))
    clk = raw.clk_tck or 100
    runtime = parse_runtime(raw.cmdline)
    vcpu_ticks = [t.utime + t.stime for t in map(parse_stat, raw.tasks) if t and t.comm.startswith("CPU ")]
    return RawCounters(
        started=started,
        taken_at=taken_at,
        wall=wall,
        state=monitor_state(alive=True, qmp_status=(qmp or {}).get("status")),
        run_id=f"{raw.pid}:{stat.starttime}",
        vcpus=runtime.vcpus or (conf.vcpus if conf else None),
        cpu_time_ns=_ns(stat.utime + stat.stime, clk),
        cpu_user_ns=_ns(stat.utime, clk),
        cpu_system_ns=_ns(stat.stime, clk),
        vcpu_time_ns=_ns(sum(vcpu_ticks), clk) if vcpu_ticks else None,
        memory=memory_counters(raw, runtime.memory_mib or (conf.memory_mib if conf else None)),
        disks=disk_counters(raw, conf, (qmp or {}).get("blockstats")),
        nets=net_counters(raw),
    )


def memory_counters(raw: RawSample, memory_mib: int | None) -> MemoryCounters:
    """The guest's size (there is no balloon) and the process's RSS."""
    return MemoryCounters(
        current=memory_mib * 1024 if memory_mib else None,
        maximum=memory_mib * 1024 if memory_mib else None,
        rss=parse_status_kib(raw.status, "VmRSS"),
    )


def disk_counters(raw: RawSample, conf: VmConf | None, blockstats: object) -> tuple[DiskCounters, ...]:
    """QMP query-blockstats per node; without it, the process's own I/O as one device "qemu-io"."""
    if not isinstance(blockstats, list):
        io = parse_io(raw.io)
        if not io:
            return ()
        return (DiskCounters(name="qemu-io", rd_bytes=io.get("read_bytes"), wr_bytes=io.get("write_bytes")),)
    paths = {d.target: d.path for d in conf.disks} if conf else {}
    formats = {d.path: d.format for d in conf.disks} if conf else {}
    disks: list[DiskCounters] = []
    for entry in blockstats:
        name = entry.get("node-name") or entry.get("device")
        if not name or name in UEFI_NODES:
            continue
        s = entry.get("stats") or {}
        path = paths.get(name) or (conf.iso if conf and name == "sda" else None)
        facts = raw.files.get(path or "")
        disks.append(
            DiskCounters(
                name=name,
                path=path,
                rd_bytes=s.get("rd_bytes"),
                wr_bytes=s.get("wr_bytes"),
                rd_reqs=s.get("rd_operations"),
                wr_reqs=s.get("wr_operations"),
                capacity=facts.capacity(formats.get(path or "")) if facts else None,
                allocation=facts.allocated if facts else None,
                physical=facts.size if facts else None,
            )
        )
    return tuple(disks)


def net_counters(raw: RawSample) -> tuple[NetCounters, ...]:
    """Tap devices, counted from the guest's view: the host's transmit is the guest's receive
    (libvirt reports taps the same way)."""
    nets = []
    for ifname, v in raw.taps.items():
        rx_b, rx_p, rx_e, rx_d, tx_b, tx_p, tx_e, tx_d = (v + [None] * 8)[:8]
        nets.append(NetCounters(ifname, tx_b, tx_p, tx_e, tx_d, rx_b, rx_p, rx_e, rx_d))
    return tuple(nets)


class QemuSampler:
    """One VM in <vm_dir>/<name>/: one command + one QMP session per reading."""

    def __init__(
        self,
        runner: Runner,
        spec: HostSpec,
        name: str,
        metrics: Sequence[Metric],
        timeout: float,
        vm_dir: str | None = None,
    ) -> None:
        self.runner, self.spec, self.name, self.timeout = runner, spec, name, timeout
        self.metrics = tuple(metrics)
        self.home = Home((vm_dir or spec.vm_dir).rstrip("/") or "/", name)
        self.marker = new_marker()
        self.argv = qemu_host.sample(self.home, self.marker)

    async def _qmp(self) -> dict[str, Any] | None:
        try:
            async with QMPClient.session(self.runner, self.home.qmp, timeout=self.timeout) as qmp:
                out: dict[str, Any] = {"status": (await qmp.execute("query-status", timeout=self.timeout))["status"]}
                if "disk" in self.metrics:
                    out["blockstats"] = await qmp.execute("query-blockstats", timeout=self.timeout)
                return out
        except (QemuMcpError, OSError, KeyError, TypeError, ValueError):
            return None  # stopped meanwhile, or the socket is gone: the process facts decide

    async def read(self) -> RawCounters:
        loop = asyncio.get_running_loop()
        started = loop.time()
        result, qmp = await asyncio.gather(
            self.runner.run(self.argv, timeout=self.timeout, read_only=True), self._qmp()
        )
        taken_at, wall = loop.time(), datetime.now(UTC)
        if result.exit_status != 0:
            raise CommandFailed(
                f"reading the counters of VM '{self.name}' on host '{self.spec.name}' failed "
                f"(sh exit {result.exit_status}: {' '.join(result.stderr.split()) or 'no output'})",
                host=self.spec.name,
                exit_status=result.exit_status,
                stderr=result.stderr,
            )
        raw = parse_sample(result.stdout, self.marker)
        return counters_from_sample(raw, qmp, started=started, taken_at=taken_at, wall=wall)
