"""Pydantic models of monitor_vm_status, host_stats and the vmstats:// resource. No I/O here.

Rates are per second over the time between two readings; a rate is None when it cannot be
computed honestly (first reading of a device, counters went backwards after a restart).
Memory is in MiB, as elsewhere in qemu-mcp; cumulative counters keep libvirt's units.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

Metric = Literal["cpu", "memory", "disk", "network"]
ALL_METRICS: tuple[Metric, ...] = ("cpu", "memory", "disk", "network")
EndReason = Literal["complete", "vm-stopped", "max-duration", "host-error"]


class _Model(BaseModel):
    # defer_build: a model's validator and serializer are built when it is first used, so a
    # command pays only for the models it uses (start-up time), not for all of them at import.
    model_config = ConfigDict(extra="forbid", defer_build=True)


class CpuSample(_Model):
    timestamp: str
    cpu_percent: float | None = Field(
        None, description="Use of the VM's vCPUs, 0..100 (all vCPUs busy = 100), from vCPU thread time"
    )
    host_core_percent: float | None = Field(
        None, description="The same vCPU time in units of one host core: 0..100*vcpus"
    )
    process_percent: float | None = Field(
        None,
        description="The whole QEMU process (vCPUs plus emulator and I/O threads) in units of one "
        "host core; may exceed 100*vcpus",
    )
    user_percent: float | None = Field(None, description="User-mode part of process_percent")
    system_percent: float | None = Field(None, description="Kernel-mode part of process_percent")
    vcpus: int | None = None
    cpu_time_s: float | None = Field(None, description="Cumulative CPU time of the QEMU process")
    counter_reset: bool = Field(False, description="Counters went back (VM restarted): no rates this time")


class MemorySample(_Model):
    timestamp: str
    current_mib: float | None = Field(None, description="Memory the guest has now (balloon.current)")
    maximum_mib: float | None = Field(None, description="Balloon maximum")
    available_mib: float | None = Field(None, description="Total the guest OS sees (needs a balloon driver)")
    unused_mib: float | None = Field(None, description="Free in the guest (needs a balloon driver)")
    usable_mib: float | None = Field(None, description="Usable without swapping (needs a balloon driver)")
    rss_mib: float | None = Field(None, description="Resident size of the QEMU process on the host")
    used_percent: float | None = Field(
        None, description="Guest memory in use, (available - usable) / available; None without guest stats"
    )


class DiskDeviceSample(_Model):
    name: str = Field(description="Guest device, e.g. vda")
    path: str | None = None
    rd_bytes_per_s: float | None = None
    wr_bytes_per_s: float | None = None
    rd_iops: float | None = None
    wr_iops: float | None = None
    rd_bytes: int | None = Field(None, description="Cumulative bytes read")
    wr_bytes: int | None = Field(None, description="Cumulative bytes written")
    rd_reqs: int | None = None
    wr_reqs: int | None = None
    capacity_bytes: int | None = Field(None, description="Virtual size seen by the guest")
    allocation_bytes: int | None = Field(None, description="libvirt's allocation (highest written offset)")
    physical_bytes: int | None = Field(None, description="Size of the image on the host")
    counter_reset: bool = False


class DiskSample(_Model):
    timestamp: str
    devices: list[DiskDeviceSample] = Field(default_factory=list)


class NetInterfaceSample(_Model):
    name: str = Field(description="Host-side device (tap), e.g. vnet0; counters from the guest's view")
    rx_bytes_per_s: float | None = None
    tx_bytes_per_s: float | None = None
    rx_packets_per_s: float | None = None
    tx_packets_per_s: float | None = None
    rx_bytes: int | None = None
    tx_bytes: int | None = None
    rx_errs: int | None = Field(None, description="Cumulative receive errors")
    rx_drop: int | None = Field(None, description="Cumulative receive drops")
    tx_errs: int | None = None
    tx_drop: int | None = None
    counter_reset: bool = False


class NetSample(_Model):
    timestamp: str
    interfaces: list[NetInterfaceSample] = Field(default_factory=list)


class MonitorSample(_Model):
    """One sample with every requested metric: what a progress notification and vmstats:// carry."""

    host: str
    vm_name: str
    index: int = Field(description="1-based sample number")
    timestamp: str = Field(description="UTC time the counters were read (ISO 8601)")
    state: str = Field(description="libvirt state word at this reading")
    elapsed_s: float = Field(description="Seconds since the previous reading: the rates' time base")
    lag_s: float = Field(
        description="How late this reading started against its schedule (start + k*interval)"
    )
    counter_reset: bool = Field(False, description="The VM restarted since the previous reading")
    cpu: CpuSample | None = None
    memory: MemorySample | None = None
    disk: DiskSample | None = None
    network: NetSample | None = None
    summary: str = Field(description="One line for people")


class MetricsData(_Model):
    cpu: list[CpuSample] = Field(default_factory=list)
    memory: list[MemorySample] = Field(default_factory=list)
    disk: list[DiskSample] = Field(default_factory=list)
    network: list[NetSample] = Field(default_factory=list)


class MonitorTiming(_Model):
    interval_s: float
    max_lag_s: float = Field(0.0, description="Worst start lag against the schedule (drift would grow it)")
    mean_elapsed_s: float | None = None
    skipped: int = Field(0, description="Scheduled readings skipped because a reading overran its slot")


class MonitorData(_Model):
    host: str
    vm_name: str
    metrics: list[Metric]
    count: int = Field(description="Samples asked for; 0 = until cancelled or the maximum duration")
    samples: int = Field(description="Samples collected")
    timestamp: list[str] = Field(default_factory=list)
    metrics_data: MetricsData = Field(default_factory=MetricsData)
    ended: EndReason = "complete"
    note: str | None = Field(None, description="Why the series ended early, restarts seen, ...")
    resets: int = Field(0, description="Samples where the VM had restarted since the previous reading")
    timing: MonitorTiming

    def add(self, sample: MonitorSample) -> None:
        self.samples += 1
        self.timestamp.append(sample.timestamp)
        for metric in ALL_METRICS:
            part = getattr(sample, metric)
            if part is not None:
                getattr(self.metrics_data, metric).append(part)


class MonitorResult(_Model):
    success: bool
    message: str
    data: MonitorData


class LatestSample(_Model):
    """vmstats://{host}/{name}: the newest sample of a VM."""

    host: str
    vm_name: str
    age_s: float = Field(description="Seconds since the sample was taken")
    fresh: bool = Field(description="True if taken for this read (nothing was cached)")
    sample: MonitorSample


# host_stats


class HostDiskStat(_Model):
    device: str
    reads_per_s: float
    writes_per_s: float
    read_bytes_per_s: float
    write_bytes_per_s: float
    read_await_ms: float | None = Field(None, description="Mean time per read, queueing included")
    write_await_ms: float | None = None
    queue_size: float | None = Field(None, description="Average requests in flight (aqu-sz)")
    util_percent: float | None = Field(None, description="Time the device was busy")


class HostStatsData(_Model):
    host: str
    source: Literal["iostat", "diskstats"] = Field(
        description="iostat (sysstat) when installed, else computed from two reads of /proc/diskstats"
    )
    interval_s: float
    timestamp: str
    devices: list[HostDiskStat]


class HostStatsResult(_Model):
    success: bool
    message: str
    data: HostStatsData
