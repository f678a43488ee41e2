"""The libvirt sampler: `virsh domstats` (+ `domid`, to see restarts) in one virsh process."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from qemu_mcp.backends.counters import GONE, STOPPED_STATES, DiskCounters, MemoryCounters, NetCounters, RawCounters
from qemu_mcp.backends.libvirt import session_read, target, virsh
from qemu_mcp.backends.libvirt.errors import NOT_FOUND_MARKS, check_batch
from qemu_mcp.backends.libvirt.session import SessionUnavailable, VirshSessions
from qemu_mcp.config import HostSpec
from qemu_mcp.errors import CommandFailed
from qemu_mcp.models_monitor import Metric
from qemu_mcp.parsers.domid import parse_domid
from qemu_mcp.parsers.domstats import (
    block_devices,
    cpu_time_ns,
    domstat_int,
    net_devices,
    parse_domstats,
    state_name,
)
from qemu_mcp.parsers.sections import new_marker, split_sections
from qemu_mcp.transport.base import Runner


def _i(d: dict[str, Any], key: str) -> int | None:
    v = d.get(key)
    return v if isinstance(v, int) else None


def counters_from_domstats(
    stats: dict[str, str], domid: int | None, *, started: float, taken_at: float, wall: datetime
) -> RawCounters:
    """Map one domain's `virsh domstats --raw` keys to RawCounters (pure)."""
    code = domstat_int(stats, "state.state")
    state = state_name(code) if code is not None else "no state"
    vcpus = domstat_int(stats, "vcpu.current")
    vcpu_times = [domstat_int(stats, f"vcpu.{i}.time") for i in range(vcpus or 0)]
    balloon = None
    if any(k.startswith("balloon.") for k in stats):
        balloon = MemoryCounters(
            **{
                k: domstat_int(stats, f"balloon.{k}")
                for k in ("current", "maximum", "available", "unused", "usable", "rss")
            }
        )
    disks = tuple(
        DiskCounters(
            name=str(b["name"]),
            path=b.get("path"),
            rd_bytes=_i(b, "rd.bytes"),
            wr_bytes=_i(b, "wr.bytes"),
            rd_reqs=_i(b, "rd.reqs"),
            wr_reqs=_i(b, "wr.reqs"),
            capacity=_i(b, "capacity"),
            allocation=_i(b, "allocation"),
            physical=_i(b, "physical"),
        )
        for b in block_devices(stats)
        if b.get("name")
    )
    # A user-mode NIC has no host device, hence no net.N.* keys at all: nothing to report.
    nets = tuple(
        NetCounters(
            name=str(n["name"]),
            **{f"{d}_{c}": _i(n, f"{d}.{c}") for d in ("rx", "tx") for c in ("bytes", "pkts", "errs", "drop")},
        )
        for n in net_devices(stats)
        if n.get("name")
    )
    running = code is not None and state not in STOPPED_STATES
    return RawCounters(
        started=started,
        taken_at=taken_at,
        wall=wall,
        state=state,
        run_id=str(domid) if domid is not None else None,
        vcpus=vcpus,
        cpu_time_ns=cpu_time_ns(stats) if running else None,
        cpu_user_ns=domstat_int(stats, "cpu.user") if running else None,
        cpu_system_ns=domstat_int(stats, "cpu.system") if running else None,
        vcpu_time_ns=sum(t for t in vcpu_times if t is not None) if vcpu_times and None not in vcpu_times else None,
        memory=balloon,
        disks=disks,
        nets=nets,
    )


class LibvirtSampler:
    """`virsh domstats --raw --state <groups>; domid` per read, on the host's virsh session (one
    batch) or in one virsh process. The first read resolves the name exactly (backends.libvirt.target);
    later reads address that UUID, so a series follows one VM: another VM that takes the name later
    is not it (the series sees GONE)."""

    def __init__(
        self, runner: Runner, spec: HostSpec, name: str, metrics: Sequence[Metric], timeout: float,
        sessions: VirshSessions | None = None,
    ) -> None:  # fmt: skip
        self.runner, self.spec, self.name, self.timeout = runner, spec, name, timeout
        self.metrics = metrics
        self.sessions = sessions
        self.marker = new_marker()
        self.uuid: str | None = None

    def _commands(self, uuid: str) -> list[list[str]]:
        return [virsh.domstats_groups(uuid, self.metrics), virsh.domid(uuid)]

    def _argv(self) -> list[str]:
        if self.uuid is None:
            return target.by_name(self.spec.libvirt_uri, self.name, self._commands(virsh.UUID_SLOT), self.marker)
        return virsh.virsh(self.spec.libvirt_uri, self._commands(self.uuid), self.marker)

    async def read(self) -> RawCounters:
        if self.sessions is not None:
            with contextlib.suppress(SessionUnavailable):
                return await self._read_in_session(self.sessions)
        return await self._read_one_shot()

    async def _read_in_session(self, sessions: VirshSessions) -> RawCounters:
        loop = asyncio.get_running_loop()
        started = loop.time()
        got = await session_read.sample(sessions, self.spec, self.name, self.uuid, self.metrics, self.timeout)
        taken_at, wall = loop.time(), datetime.now(UTC)
        if got is None or got.stats is None:
            return RawCounters(started=started, taken_at=taken_at, wall=wall, state=GONE)
        self.uuid = got.uuid
        return counters_from_domstats(got.stats, parse_domid(got.domid), started=started, taken_at=taken_at, wall=wall)

    async def _read_one_shot(self) -> RawCounters:
        loop = asyncio.get_running_loop()
        started = loop.time()
        result = await self.runner.run(self._argv(), timeout=self.timeout, read_only=True)
        taken_at, wall = loop.time(), datetime.now(UTC)
        stdout = result.stdout
        if self.uuid is None:
            self.uuid, stdout = target.split_uuid(stdout)
        stats_s, id_s = split_sections(stdout, self.marker, 2)
        if not stats_s:
            if any(m in result.stderr for m in NOT_FOUND_MARKS):
                return RawCounters(started=started, taken_at=taken_at, wall=wall, state=GONE)
            check_batch(result, self.spec, f"reading the stats of domain '{self.name}'")
        domains = parse_domstats(stats_s)
        if len(domains) != 1:
            check_batch(result, self.spec, f"reading the stats of domain '{self.name}'")
            raise CommandFailed(
                f"virsh domstats for domain '{self.name}' on host '{self.spec.name}' printed "
                f"{len(domains)} domains instead of one",
                host=self.spec.name,
            )
        stats = next(iter(domains.values()))
        return counters_from_domstats(stats, parse_domid(id_s), started=started, taken_at=taken_at, wall=wall)
