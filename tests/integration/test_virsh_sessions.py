"""The read path on kept-open virsh sessions over the rig's real sshd, libvirtd and guests: the
same answers as the one-shot commands, exact targeting with a stale hint, the monitor on the
session, the transport underneath, and what happens without stdbuf or when a session dies."""

from __future__ import annotations

import asyncio
import logging
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from qemu_mcp.config import HostSpec, Inventory
from qemu_mcp.errors import Conflict
from qemu_mcp.models import VmInfo
from qemu_mcp.ops.fleet import Fleet, HostRef
from qemu_mcp.ops.monitor import monitor_vm
from qemu_mcp.ops.vms import get_vm_info, list_vms
from qemu_mcp.transport.base import ChannelsBusy
from qemu_mcp.transport.ssh import SSHRunner
from tests.conftest import key_host
from tests.fakes import RecordingRunner
from tests.integration.manage_helpers import Area, define_stopped, manage_area, virsh
from tests.integration.test_scale import node_file
from tests.rig import sshd as rig_sshd

pytestmark = pytest.mark.integration
RIG = HostRef(host="rig")
HISTORY = Path("/root/.cache/libvirt/virsh/history")  # virsh's, for root (the rig's SSH user)


@pytest.fixture
def libvirt_spec(rig_spec: HostSpec) -> HostSpec:
    """The rig host with its backend configured: sessions from the first read (an `auto` host's
    first read finds its backend out with one command)."""
    return rig_spec.model_copy(update={"backend": "libvirt"})


def history_mtime() -> float:
    return HISTORY.stat().st_mtime if HISTORY.exists() else 0.0


def comparable(vms: list[VmInfo]) -> list[dict]:
    """Everything but the CPU time, which moves between two reads of a running guest."""
    return [v.model_dump(exclude={"cpu_time_ns"}) for v in vms]


async def test_sessions_answer_exactly_what_the_one_shot_commands_answer(libvirt_spec: HostSpec, guests) -> None:  # type: ignore[no-untyped-def]
    on, off = Fleet(Inventory([libvirt_spec])), Fleet(Inventory([libvirt_spec]), virsh_sessions=False)
    try:
        for _ in range(2):  # cold, then warm (one batch)
            listed = await list_vms(on, RIG, filter_name=guests.prefix)
            expected = await list_vms(off, RIG, filter_name=guests.prefix)
            assert comparable(listed.vms) == comparable(expected.vms) and listed.vm_count == 2
        for name in (guests.running, guests.stopped):
            got, want = await get_vm_info(on, name, RIG), await get_vm_info(off, name, RIG)
            assert got.model_dump(exclude={"cpu_time_ns"}) == want.model_dump(exclude={"cpu_time_ns"})
        sessions = on.sessions(libvirt_spec)
        assert sessions is not None and sessions.batches >= 4 and sessions.disabled is None
    finally:
        await on.close()
        await off.close()


@pytest.fixture
def area(libvirtd_running: None) -> Iterator[Area]:
    with manage_area() as a:
        yield a


async def test_a_stale_name_hint_never_reaches_another_domain(libvirt_spec: HostSpec, area: Area) -> None:
    """The listing leaves name -> UUID hints; the name then belongs to a new domain (new UUID):
    get_vm_info and the monitor read the new one, never the old UUID."""
    name = area.name("hint")
    fleet = Fleet(Inventory([libvirt_spec]))
    try:
        old = define_stopped(area, name, 64)
        await list_vms(fleet, RIG, filter_name=area.prefix)
        sessions = fleet.sessions(libvirt_spec)
        assert sessions is not None and sessions.uuids[name] == old
        assert virsh("undefine", "--domain", name).returncode == 0
        new = define_stopped(area, name, 96)
        vm = await get_vm_info(fleet, name, RIG)
        assert (vm.uuid, vm.max_memory) == (new, 96) and sessions.uuids[name] == new
        sessions.uuids[name] = old  # stale again, for the monitor's first reading
        with pytest.raises(Conflict, match="is shut off"):  # found (the old UUID would be gone: NotFound)
            await monitor_vm(fleet, name, RIG, interval=1, count=1)
    finally:
        await fleet.close()


async def test_get_vm_info_of_a_missing_name_says_so_as_before(libvirt_spec: HostSpec) -> None:
    on, off = Fleet(Inventory([libvirt_spec])), Fleet(Inventory([libvirt_spec]), virsh_sessions=False)
    try:
        errors = []
        for fleet in (on, off):
            with pytest.raises(Exception) as e:
                await get_vm_info(fleet, "qmcp-no-such-vm", RIG)
            errors.append((type(e.value), str(e.value)))
        assert errors[0] == errors[1]
    finally:
        await on.close()
        await off.close()


async def test_the_monitor_samples_on_the_session(libvirt_spec: HostSpec, guests) -> None:  # type: ignore[no-untyped-def]
    fleet = Fleet(Inventory([libvirt_spec]))
    counting = RecordingRunner(fleet.pool.get(libvirt_spec))
    fleet.pool._runners[libvirt_spec] = counting  # type: ignore[assignment]
    try:
        data = await monitor_vm(fleet, guests.running, RIG, interval=1, count=2)
        sessions = fleet.sessions(libvirt_spec)
        assert data.samples == 2 and counting.calls == []
        assert sessions is not None and sessions.batches == 4  # resolve by name, then 3 readings by UUID
    finally:
        await fleet.close()


async def test_kept_open_commands_over_ssh_talk_both_ways(rig_spec: HostSpec, tmp_path: Path) -> None:
    known = tmp_path / "known_hosts"
    known.write_text(Path(rig_spec.known_hosts or "").read_text())
    runner = SSHRunner(rig_spec.model_copy(update={"known_hosts": str(known)}))
    try:
        async with runner.open_process(["cat"]) as process:
            process.write("ünïcode and no newline")
            await process.drain()
            got = ""
            while "newline" not in got:
                got += await process.read()
            assert got == "ünïcode and no newline" and process.usable()
            runner._commands.channels = asyncio.Semaphore(0)  # every channel of the commands' connection taken
            with pytest.raises(ChannelsBusy):
                async with runner.open_process(["true"], shared=True):
                    pass
            other_key = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOdWoEy2Kt5t3nQ5kGv8pHaTp9A5cV8Z4E9yGH7SB0n8"
            known.write_text(f"[127.0.0.1]:1 {other_key}\n")
            assert not process.usable()  # known_hosts no longer lists the host's key: not used again
    finally:
        await runner.close()


async def test_sessions_share_the_commands_connection_and_close_with_its_idle_close(libvirt_spec: HostSpec) -> None:
    """One connection per host, sessions included; nothing used it for idle_close seconds: the
    connection closes and its sessions end with it; the next read opens both again."""
    spec = libvirt_spec.model_copy(update={"idle_close": 1.0})
    fleet = Fleet(Inventory([spec]))
    try:
        await list_vms(fleet, RIG)
        runner, sessions = fleet.runner(spec), fleet.sessions(spec)
        assert isinstance(runner, SSHRunner) and sessions is not None and sessions.open_sessions >= 1
        assert runner._commands.connects == 1 and runner._held.connects == 0 and runner.open_connections == 1
        await asyncio.sleep(1.0 + 1.0)
        assert runner.open_connections == 0 and runner._commands.idle_closes == 1
        assert sessions.open_sessions == 0  # retired with the connection
        await list_vms(fleet, RIG)
        assert runner._commands.connects == 2 and runner.open_connections == 1 and sessions.open_sessions >= 1
    finally:
        await fleet.close()


async def test_a_host_without_stdbuf_is_read_one_shot(
    rig_dir: Path, client_key: Path, password_account: rig_sshd.PasswordAccount, libvirtd_running: None,
    guests, caplog: pytest.LogCaptureFixture,  # type: ignore[no-untyped-def]
) -> None:  # fmt: skip
    sshd = rig_sshd.start_sshd(rig_dir, "sshd-nostdbuf", key_path=client_key, account=password_account,
                               prelude="mount --bind /dev/null /usr/bin/stdbuf")  # fmt: skip
    spec = key_host(sshd.host, "bare", backend="libvirt")
    fleet = Fleet(Inventory([spec]))
    counting = RecordingRunner(fleet.pool.get(spec))
    fleet.pool._runners[spec] = counting  # type: ignore[assignment]
    try:
        with caplog.at_level(logging.INFO, logger="qemu_mcp.backends.libvirt.session"):
            for _ in range(2):
                data = await list_vms(fleet, HostRef(host="bare"), filter_name=guests.prefix)
                assert data.vm_count == 2
        sessions = fleet.sessions(spec)
        assert sessions is not None and sessions.disabled and len(counting.calls) == 2
        assert [r.levelname for r in caplog.records if "stdbuf" in r.getMessage()] == ["INFO"]
    finally:
        await fleet.close()
        sshd.stop()


async def test_a_session_killed_on_the_host_is_replaced_and_a_closed_fleet_leaves_none(
    sshd_host,
    tmp_path: Path,  # type: ignore[no-untyped-def]
) -> None:
    node = node_file(tmp_path, 3)  # a URI no other test uses: its virsh processes are ours
    history_before = history_mtime()
    spec = key_host(sshd_host, backend="libvirt", libvirt_uri=f"test://{node}")
    fleet = Fleet(Inventory([spec]))
    try:
        assert (await list_vms(fleet, RIG)).vm_count == 3
        assert subprocess.run(["pkill", "-f", f"virsh -q -c test://{node}"]).returncode == 0
        assert (await list_vms(fleet, RIG)).vm_count == 3  # the dead session is noticed and replaced
        assert (await list_vms(fleet, RIG)).vm_count == 3
        sessions = fleet.sessions(spec)
        assert sessions is not None and sessions.open_sessions == 1 and sessions.disabled is None
    finally:
        await fleet.close()
    for _ in range(50):
        if subprocess.run(["pgrep", "-f", f"virsh -q -c test://{node}"], capture_output=True).returncode:
            break
        await asyncio.sleep(0.1)
    else:
        pytest.fail("a virsh session outlived fleet.close()")
    # An interactive virsh rewrites its history file at exit; a read must write nothing on the host.
    assert history_mtime() == history_before, "a session wrote virsh's history file"
