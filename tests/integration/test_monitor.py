"""monitor_vm_status on real TCG guests over the rig's sshd: rates, schedule, ends, errors."""

from __future__ import annotations

import asyncio
import os
import secrets
import shutil
from collections.abc import Iterator
from datetime import datetime

import pytest

from qemu_mcp.errors import Conflict, InvalidInput, NotFound
from qemu_mcp.models_monitor import MonitorSample
from qemu_mcp.ops.fleet import Fleet, HostRef
from qemu_mcp.ops.monitor import monitor_vm
from tests.rig.libvirt import DIR_PREFIX, IMAGES, NAME_PREFIX, remove_domains, virsh

pytestmark = pytest.mark.integration
RIG = HostRef(host="rig")


def qemu_io_read(name: str, target_index: int = 0) -> None:
    """Make QEMU itself read 1 MiB of the guest's disk; counted in block.N.rd.bytes like guest I/O."""
    dev = f"/machine/peripheral/virtio-disk{target_index}/virtio-backend"
    virsh("qemu-monitor-command", name, "--hmp", f'qemu-io -d {dev} "aio_read 0 1M"')


def seconds_between(a: str, b: str) -> float:
    return (datetime.fromisoformat(b) - datetime.fromisoformat(a)).total_seconds()


def nonnegative_rates(s: MonitorSample) -> None:
    values = []
    if s.cpu:
        values += [s.cpu.cpu_percent, s.cpu.host_core_percent, s.cpu.process_percent]
    for d in s.disk.devices if s.disk else []:
        values += [d.rd_bytes_per_s, d.wr_bytes_per_s, d.rd_iops, d.wr_iops]
    for n in s.network.interfaces if s.network else []:
        values += [n.rx_bytes_per_s, n.tx_bytes_per_s, n.rx_packets_per_s, n.tx_packets_per_s]
    assert all(v is None or v >= 0 for v in values), s


async def test_three_samples_one_second_apart(fleet: Fleet, guests) -> None:  # type: ignore[no-untyped-def]
    seen: list[tuple[int, int | None]] = []
    samples: list[MonitorSample] = []

    async def progress(k: int, total: int | None, sample: MonitorSample) -> None:
        seen.append((k, total))
        samples.append(sample)
        if k == 1:  # between readings 1 and 2: disk bytes must rise
            await asyncio.to_thread(qemu_io_read, guests.running)

    data = await monitor_vm(fleet, guests.running, RIG, interval=1, count=3, progress=progress)
    assert data.samples == 3 and data.ended == "complete" and seen == [(1, 3), (2, 3), (3, 3)]
    assert data.host == "rig" and data.vm_name == guests.running and len(data.timestamp) == 3

    # Schedule: readings 1 s apart on the clock, no growing lag. Real time, as the real sampler over SSH
    # keeps it; the schedule's arithmetic is checked exactly on virtual time in tests/unit/test_monitor_loop.py,
    # so these bounds are loose enough for a loaded machine.
    gaps = [seconds_between(a, b) for a, b in zip(data.timestamp, data.timestamp[1:], strict=False)]
    assert all(0.5 <= g <= 1.5 for g in gaps), gaps
    assert data.timing.max_lag_s < 0.5 and data.timing.skipped == 0, data.timing
    assert all(0.5 <= s.elapsed_s <= 1.5 for s in samples), [s.elapsed_s for s in samples]
    for s in samples:
        nonnegative_rates(s)

    for cpu in data.metrics_data.cpu:
        assert cpu.vcpus == 1 and not cpu.counter_reset
        assert cpu.cpu_percent is not None and 0 <= cpu.cpu_percent <= 100
        assert cpu.host_core_percent is not None and 0 <= cpu.host_core_percent <= 100 * cpu.vcpus
        assert cpu.process_percent is not None and cpu.process_percent >= 0
    for mem in data.metrics_data.memory:
        assert mem.current_mib == 128 and mem.maximum_mib == 128 and (mem.rss_mib or 0) > 0
    first, last = ({d.name: d for d in data.metrics_data.disk[i].devices} for i in (0, -1))
    assert set(first) == {"vda", "vdb"} and first["vdb"].capacity_bytes == 64 * 2**20
    assert (last["vda"].rd_bytes or 0) - (first["vda"].rd_bytes or 0) >= 2**20
    assert max(s.devices[0].rd_bytes_per_s or 0 for s in data.metrics_data.disk[1:]) >= 0.5 * 2**20
    # A user-mode NIC has no host device and so no counters: the list is empty, not made up.
    assert [n.interfaces for n in data.metrics_data.network] == [[], [], []]
    cached, _ = fleet.latest_samples[("rig", guests.running)]
    assert cached == samples[-1] and cached.timestamp == data.timestamp[-1]
    print(  # the schedule as measured, for the record (pytest -s)
        f"\nmonitor schedule: gaps {gaps}, lags {[s.lag_s for s in samples]}, elapsed {[s.elapsed_s for s in samples]}"
    )


async def test_refusals_before_sampling(fleet: Fleet, guests) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(Conflict, match=r"is shut off: only running VMs can be monitored; start it first"):
        await monitor_vm(fleet, guests.stopped, RIG, interval=1, count=1)
    with pytest.raises(NotFound, match="domain 'qmcp-nope' not found on host 'rig'"):
        await monitor_vm(fleet, "qmcp-nope", RIG, interval=1, count=1)
    with pytest.raises(InvalidInput, match="at least 1 second"):
        await monitor_vm(fleet, guests.running, RIG, interval=0.2, count=1)
    with pytest.raises(InvalidInput, match="unknown metric"):
        await monitor_vm(fleet, guests.running, RIG, metrics="gpu")


@pytest.fixture
def own_guest(libvirtd_running) -> Iterator[tuple[str, str]]:  # type: ignore[no-untyped-def]
    """A small guest this test may restart and stop; a tap NIC (no bridge) so network has counters."""
    token = secrets.token_hex(3)
    name, tap = f"{NAME_PREFIX}{token}-mon", f"qmcp{token}"
    d = IMAGES / f"{DIR_PREFIX}{token}"
    d.mkdir(mode=0o755)
    (d / "owner.pid").write_text(str(os.getpid()))  # the rig's sweep leaves a live session's guests alone
    (d / "guest.xml").write_text(f"""<domain type='qemu'>
  <name>{name}</name>
  <memory unit='MiB'>64</memory>
  <vcpu>1</vcpu>
  <os><type arch='x86_64' machine='pc'>hvm</type><boot dev='hd'/></os>
  <devices>
    <interface type='ethernet'><target dev='{tap}'/><model type='virtio'/><rom enabled='no'/></interface>
  </devices>
</domain>
""")
    try:
        virsh("define", str(d / "guest.xml"))
        virsh("start", "--domain", name)
        yield name, tap
    finally:
        remove_domains(f"{NAME_PREFIX}{token}-")
        shutil.rmtree(d, ignore_errors=True)


async def test_restart_flagged_then_stop_ends_the_series(fleet: Fleet, own_guest: tuple[str, str]) -> None:
    name, tap = own_guest

    async def progress(k: int, total: int | None, sample: MonitorSample) -> None:
        # The loop awaits this before scheduling the next reading: the restart lands between readings.
        if k == 1:
            await asyncio.to_thread(lambda: (virsh("destroy", "--domain", name), virsh("start", "--domain", name)))
        if k == 3:
            await asyncio.to_thread(virsh, "destroy", "--domain", name)

    data = await monitor_vm(fleet, name, RIG, interval=1, count=0, progress=progress, max_duration=60)
    assert data.samples == 3 and data.ended == "vm-stopped", data
    assert data.note is not None and f"VM '{name}' is shut off" in data.note and "after 3 sample(s)" in data.note
    assert [c.counter_reset for c in data.metrics_data.cpu] == [False, True, False] and data.resets == 1
    reset = data.metrics_data.cpu[1]
    assert reset.cpu_percent is None and reset.process_percent is None  # no rate across a restart
    assert all(c.cpu_percent is not None and 0 <= c.cpu_percent <= 100 for c in data.metrics_data.cpu[::2])
    nics = [n.interfaces for n in data.metrics_data.network]
    assert all(len(i) == 1 and i[0].name == tap and i[0].rx_bytes is not None for i in nics), nics
    assert nics[1][0].counter_reset and nics[2][0].rx_bytes_per_s is not None and nics[2][0].rx_bytes_per_s >= 0
