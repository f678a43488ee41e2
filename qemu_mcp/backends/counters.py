"""Raw counters of one VM, as every backend's sampler reads them with ONE remote command.

`Sampler` is what the monitor loop (ops.monitor) needs from a backend. The libvirt sampler
(backends.libvirt.sampler) reads `virsh domstats` (+ `domid`, to see restarts); the plain-QEMU
one (backends.qemu.sampler) reads /proc/<pid>/{stat,status,io}, the tap counters and QMP
query-blockstats. ops.rates turns two readings into rates.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol

# A reading's state is libvirt's word ("running", "paused", "shut off", ...), which every sampler speaks.
SHUT_OFF = "shut off"
GONE = "gone"  # the domain no longer exists (a transient VM was destroyed, or it was undefined)
STOPPED_STATES = (SHUT_OFF, "crashed", GONE)


@dataclass(frozen=True)
class DiskCounters:
    name: str
    path: str | None = None
    rd_bytes: int | None = None
    wr_bytes: int | None = None
    rd_reqs: int | None = None
    wr_reqs: int | None = None
    capacity: int | None = None
    allocation: int | None = None
    physical: int | None = None


@dataclass(frozen=True)
class NetCounters:
    name: str
    rx_bytes: int | None = None
    rx_pkts: int | None = None
    rx_errs: int | None = None
    rx_drop: int | None = None
    tx_bytes: int | None = None
    tx_pkts: int | None = None
    tx_errs: int | None = None
    tx_drop: int | None = None


@dataclass(frozen=True)
class MemoryCounters:
    """KiB, as the balloon reports them."""

    current: int | None = None
    maximum: int | None = None
    available: int | None = None
    unused: int | None = None
    usable: int | None = None
    rss: int | None = None


@dataclass(frozen=True)
class RawCounters:
    """One reading. Times: `started`/`taken_at` on the event loop's clock, `wall` in UTC."""

    started: float
    taken_at: float
    wall: datetime
    state: str  # libvirt's state word ("running", "paused", "shut off", ...) or GONE
    run_id: str | None = None  # changes whenever the VM (re)starts
    vcpus: int | None = None
    cpu_time_ns: int | None = None  # whole QEMU process
    cpu_user_ns: int | None = None
    cpu_system_ns: int | None = None
    vcpu_time_ns: int | None = None  # sum over vCPU threads
    memory: MemoryCounters | None = None
    disks: tuple[DiskCounters, ...] = field(default_factory=tuple)
    nets: tuple[NetCounters, ...] = field(default_factory=tuple)

    @property
    def stopped(self) -> bool:
        return self.state in STOPPED_STATES


class Sampler(Protocol):
    """Reads one VM's counters; each read is one remote command. Backends: libvirt, plain QEMU."""

    async def read(self) -> RawCounters: ...
