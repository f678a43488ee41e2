"""The libvirt read path over a real sshd against real libvirtd guests: must match what virsh says."""

from __future__ import annotations

import asyncio
import subprocess
from pathlib import Path

import pytest

from qemu_mcp.backends.libvirt import session as session_mod
from qemu_mcp.config import HostSpec, Inventory
from qemu_mcp.errors import AuthFailed, CommandTimeout, HostKeyRefused, HostUnreachable, NotFound
from qemu_mcp.ops.fleet import Fleet, HostRef
from qemu_mcp.ops.hosts import host_info, list_hosts
from qemu_mcp.ops.vms import get_vm_info, list_vms
from qemu_mcp.transport.ssh import SSHRunner
from tests.conftest import key_host
from tests.fakes import RecordingRunner

pytestmark = pytest.mark.integration
URI = "qemu:///system"


def virsh(*args: str) -> str:
    return subprocess.run(["virsh", "-c", URI, *args], capture_output=True, text=True, check=True).stdout


def dominfo(name: str) -> dict[str, str]:
    out = {}
    for line in virsh("dominfo", "--domain", name).splitlines():
        k, _, v = line.partition(":")
        out[k.strip()] = v.strip()
    return out


async def test_list_vms_matches_virsh(fleet: Fleet, guests) -> None:  # type: ignore[no-untyped-def]
    data = await list_vms(fleet, HostRef(host="rig"))
    assert data.errors == []
    names = {v.name for v in data.vms}
    assert set(virsh("list", "--all", "--name").split()) == names
    by_name = {v.name: v for v in data.vms}
    for name, want in ((guests.running, "running"), (guests.stopped, "stopped")):
        vm, info = by_name[name], dominfo(name)
        assert vm.status == want
        assert vm.state == info["State"]
        assert vm.uuid == info["UUID"]
        assert vm.vcpus == int(info["CPU(s)"])
        assert vm.memory == int(info["Max memory"].split()[0]) // 1024
        assert vm.persistent is True and vm.autostart is False
        assert vm.arch == "x86_64" and vm.host == "rig"
        blk = [ln.split() for ln in virsh("domblklist", "--details", name).splitlines()[2:] if ln.strip()]
        assert {(b[2], b[3]) for b in blk if b[1] == "disk"} == {
            (d.target, d.path) for d in vm.disks if d.device == "disk"
        }
        assert vm.nics and vm.nics[0].mac == virsh("domiflist", name).splitlines()[2].split()[-1]
        assert vm.graphics and vm.graphics[0].type == "vnc"
    running = by_name[guests.running]
    assert running.cpu_time_ns and running.cpu_time_ns > 0
    assert running.graphics[0].port and running.graphics[0].port >= 5900
    # Disk sizes come from domstats/qemu-img: 1 GiB virtual size for the main disk.
    assert max(d.capacity_bytes or 0 for d in running.disks) == 1 << 30


async def test_filters(fleet: Fleet, guests) -> None:  # type: ignore[no-untyped-def]
    running = await list_vms(fleet, HostRef(host="rig"), status="running", filter_name=guests.prefix.upper())
    assert [v.name for v in running.vms] == [guests.running]
    stopped = await list_vms(fleet, HostRef(host="rig"), status="stopped", filter_name=guests.prefix)
    assert [v.name for v in stopped.vms] == [guests.stopped]
    arm = await list_vms(fleet, HostRef(host="rig"), arch="arm64", filter_name=guests.prefix)
    assert arm.vm_count == 0
    x86 = await list_vms(fleet, HostRef(host="rig"), arch="x86_64", filter_name=guests.prefix)
    assert x86.vm_count == 2


async def test_list_costs_one_round_trip_and_one_connection(rig_spec: HostSpec, guests) -> None:  # type: ignore[no-untyped-def]
    """Without virsh sessions: each read is one command."""
    fleet = Fleet(Inventory([rig_spec]), virsh_sessions=False)
    real = fleet.pool.get(rig_spec)
    counting = RecordingRunner(real)
    fleet.pool._runners[rig_spec] = counting  # type: ignore[assignment]
    try:
        await list_vms(fleet, HostRef(host="rig"))
        assert len(counting.calls) == 1
        await list_vms(fleet, HostRef(host="rig"))
        await get_vm_info(fleet, guests.running, HostRef(host="rig"))
        # a running VM's get_vm_info: its read, then `domifaddr` (agent, lease, arp) for its addresses
        assert len(counting.calls) == 4
        assert isinstance(real, SSHRunner) and real.connects == 1
    finally:
        await fleet.close()


async def test_reads_on_a_virsh_session_cost_one_batch_when_warm(rig_spec: HostSpec, guests) -> None:  # type: ignore[no-untyped-def]
    """With sessions (the default): an `auto` host's first read finds its backend with one
    command; then a cold listing is two batches (the fixed commands, then the XML of what they
    listed), a warm one a single batch, get_vm_info of a listed VM one batch; one connection for
    those."""
    fleet = Fleet(Inventory([rig_spec]))
    real = fleet.pool.get(rig_spec)
    counting = RecordingRunner(real)
    fleet.pool._runners[rig_spec] = counting  # type: ignore[assignment]
    try:
        assert fleet.sessions(rig_spec) is None  # backend not known yet
        await list_vms(fleet, HostRef(host="rig"))
        assert len(counting.calls) == 1
        sessions = fleet.sessions(rig_spec)
        assert sessions is not None
        await list_vms(fleet, HostRef(host="rig"))
        assert sessions.batches == 2
        listed = await list_vms(fleet, HostRef(host="rig"))
        if len(listed.vms) < 2 * session_mod.PART_MIN:  # more domains are shared out over sessions
            assert sessions.batches == 3
        before = sessions.batches
        await get_vm_info(fleet, guests.running, HostRef(host="rig"))
        assert sessions.batches == before + 2  # its read, then domifaddr for a running VM's addresses
        assert len(counting.calls) == 1 and isinstance(real, SSHRunner) and real.connects == 1  # sessions too
    finally:
        await fleet.close()


async def test_get_vm_info_matches_dumpxml(fleet: Fleet, guests) -> None:  # type: ignore[no-untyped-def]
    vm = await get_vm_info(fleet, guests.running, HostRef(host="rig"))
    assert vm.name == guests.running and vm.status == "running"
    assert vm.xml == virsh("dumpxml", "--domain", guests.running).strip()
    assert vm.autostart is False and vm.persistent is True
    off = await get_vm_info(fleet, guests.stopped, HostRef(host="rig"))
    assert off.status == "stopped" and off.vcpus == 2


async def test_get_vm_info_not_found_is_clear(fleet: Fleet) -> None:
    with pytest.raises(NotFound) as e:
        await get_vm_info(fleet, "qmcp-no-such-vm", HostRef(host="rig"))
    assert "domain 'qmcp-no-such-vm' not found on host 'rig'" in str(e.value)


async def test_odd_domain_name_is_passed_literally(fleet: Fleet, guests, tmp_path) -> None:  # type: ignore[no-untyped-def]
    # libvirt forbids '/' in names, so the injected command would write in the shell's cwd ($HOME).
    odd = f"{guests.prefix}odd 'q'; $(touch qmcp-pwned) `touch qmcp-pwned` \"x\" | y"
    sentinels = [Path.home() / "qmcp-pwned", Path.cwd() / "qmcp-pwned", Path("/qmcp-pwned")]
    xml = tmp_path / "odd.xml"
    xml.write_text(
        "<domain type='qemu'><name></name><memory unit='MiB'>64</memory><vcpu>1</vcpu>"
        "<os><type arch='x86_64'>hvm</type></os></domain>"
    )
    import lxml.etree as ET

    tree = ET.parse(str(xml))
    tree.getroot().find("name").text = odd  # type: ignore[union-attr]
    tree.write(str(xml))
    subprocess.run(["virsh", "-c", URI, "define", str(xml)], check=True, capture_output=True)
    try:
        vm = await get_vm_info(fleet, odd, HostRef(host="rig"))
        assert vm.name == odd and vm.status == "stopped"
        listed = await list_vms(fleet, HostRef(host="rig"), filter_name="odd 'q'")
        assert [v.name for v in listed.vms] == [odd]
        assert not any(p.exists() for p in sentinels)
    finally:
        subprocess.run(["virsh", "-c", URI, "undefine", "--domain", odd], capture_output=True)


async def test_host_info_matches_the_host(fleet: Fleet) -> None:
    info = await host_info(fleet, HostRef(host="rig"))
    assert info.hostname == subprocess.run(["uname", "-n"], capture_output=True, text=True).stdout.strip()
    assert info.backend == "libvirt" and info.libvirt_uri == URI
    assert info.libvirt_version and info.libvirt_version in virsh("version")
    assert info.hypervisor and info.hypervisor.startswith("QEMU ")
    assert info.tools.virsh == "/usr/bin/virsh" and info.tools.qemu_img
    assert "/usr/bin/qemu-system-x86_64" in info.tools.qemu_system
    assert info.cpus and info.cpus >= 1 and info.memory_mib and info.memory_mib > 0
    assert "virsh" not in info.missing


async def test_fleet_listing_survives_unreachable_host(sshd_host, libvirtd_running, guests) -> None:  # type: ignore[no-untyped-def]
    from tests.rig import free_port

    dead = HostSpec(
        name="dead",
        address="127.0.0.1",
        port=free_port(),
        user="root",
        known_hosts=sshd_host.known_hosts,
        connect_timeout=3,
    )
    fleet = Fleet(Inventory([key_host(sshd_host), dead]))
    try:
        data = await list_vms(fleet)
        assert {v.name for v in data.vms} >= {guests.running, guests.stopped}
        assert [(e.host, e.kind) for e in data.errors] == [("dead", "HostUnreachable")]
        assert "refused the connection" in data.errors[0].error
        hosts = {h.name: h for h in (await list_hosts(fleet)).hosts}
        assert hosts["rig"].reachable and hosts["rig"].backend == "libvirt" and hosts["rig"].latency_ms
        assert not hosts["dead"].reachable and hosts["dead"].error
        assert hosts["demo"].reachable and hosts["local"].reachable
        with pytest.raises(HostUnreachable):
            await list_vms(fleet, HostRef(host="dead"))
    finally:
        await fleet.close()


async def test_remote_host_without_python(nopython_sshd_host, libvirtd_running, guests) -> None:  # type: ignore[no-untyped-def]
    fleet = Fleet(Inventory([key_host(nopython_sshd_host, name="bare")]))
    try:
        runner = fleet.runner(fleet.inventory.get("bare"))
        probe = await runner.run(["sh", "-c", "command -v python3 python || echo none"])
        assert probe.stdout.strip() == "none"
        data = await list_vms(fleet, HostRef(host="bare"), filter_name=guests.prefix)
        assert {v.name for v in data.vms} == {guests.running, guests.stopped}
        vm = await get_vm_info(fleet, guests.running, HostRef(host="bare"))
        assert vm.status == "running"
        info = await host_info(fleet, HostRef(host="bare"))
        assert info.backend == "libvirt"
    finally:
        await fleet.close()


async def test_changed_host_key_is_refused(sshd_host, wrong_key_known_hosts) -> None:  # type: ignore[no-untyped-def]
    spec = key_host(sshd_host).model_copy(update={"known_hosts": wrong_key_known_hosts})
    fleet = Fleet(Inventory([spec]))
    with pytest.raises(HostKeyRefused) as e:
        await list_vms(fleet, HostRef(host="rig"))
    assert wrong_key_known_hosts in str(e.value) and "ssh-keyscan" in str(e.value)
    await fleet.close()


async def test_unknown_host_key_is_refused(sshd_host, empty_known_hosts) -> None:  # type: ignore[no-untyped-def]
    spec = key_host(sshd_host).model_copy(update={"known_hosts": empty_known_hosts})
    fleet = Fleet(Inventory([spec]))
    with pytest.raises(HostKeyRefused):
        await host_info(fleet, HostRef(host="rig"))
    await fleet.close()


async def test_password_login_and_wrong_password(sshd_host, libvirtd_running, guests) -> None:  # type: ignore[no-untyped-def]
    fleet = Fleet(Inventory([]))
    common = dict(host="127.0.0.1", ssh_port=sshd_host.port, ssh_user=sshd_host.password_user)
    # Ad-hoc hosts verify keys against the user's known_hosts; point the test's HOME-less run at ours.
    ok_ref = HostRef(**common, ssh_pwd=sshd_host.password)
    spec = fleet.resolve(ok_ref).model_copy(update={"known_hosts": sshd_host.known_hosts})
    fleet.inventory.hosts[spec.name] = spec
    try:
        data = await list_vms(fleet, HostRef(host=spec.name), filter_name=guests.prefix)
        assert data.vm_count == 2
        bad = spec.model_copy(update={"password": "definitely-wrong-pw", "name": "badpw"})
        fleet.inventory.hosts["badpw"] = bad
        with pytest.raises(AuthFailed) as e:
            await list_vms(fleet, HostRef(host="badpw"))
        assert "authentication" in str(e.value) and "definitely-wrong-pw" not in str(e.value)
    finally:
        await fleet.close()


async def test_connection_reused_then_reconnected_after_drop(rig_spec: HostSpec) -> None:
    runner = SSHRunner(rig_spec)
    try:
        for _ in range(3):
            assert (await runner.run(["true"], read_only=True)).ok
        assert runner.connects == 1
        (await runner.connection()).abort()  # the connection drops under us
        await asyncio.sleep(0.1)
        assert (await runner.run(["echo", "back"], read_only=True)).stdout == "back\n"
        assert runner.connects == 2
    finally:
        await runner.close()


async def test_channels_are_capped_and_queued(rig_spec: HostSpec) -> None:
    # sshd's MaxSessions is 10: 30 concurrent commands on one connection must queue, not fail.
    runner = SSHRunner(rig_spec)
    try:
        results = await asyncio.gather(*(runner.run(["sh", "-c", f"sleep 0.2; echo {i}"]) for i in range(30)))
        assert [r.stdout.strip() for r in results] == [str(i) for i in range(30)]
        assert runner.connects == 1
    finally:
        await runner.close()


async def test_argv_is_quoted_once_at_the_ssh_edge(rig_spec: HostSpec, tmp_path) -> None:  # type: ignore[no-untyped-def]
    runner = SSHRunner(rig_spec)
    hostile = f"$(touch {tmp_path}/a); `touch {tmp_path}/b` | x & 'q' \"d\""
    try:
        result = await runner.run(["printf", "%s", hostile])
        assert result.stdout == hostile
        assert not (tmp_path / "a").exists() and not (tmp_path / "b").exists()
    finally:
        await runner.close()


async def test_command_timeout(rig_spec: HostSpec) -> None:
    runner = SSHRunner(rig_spec.model_copy(update={"command_timeout": 1.0}))
    try:
        with pytest.raises(CommandTimeout, match=r"did not finish within 1\.0 s"):
            await runner.run(["sleep", "5"])
    finally:
        await runner.close()


async def test_dropped_connection_retries_reads_but_never_reruns_writes(rig_spec: HostSpec, tmp_path) -> None:  # type: ignore[no-untyped-def]
    runner = SSHRunner(rig_spec)
    log = tmp_path / "ran.log"
    try:

        async def drop_soon() -> None:
            # Once the command runs (its first line is in the log; not after a fixed time: a loaded
            # machine may not have started it yet), while it sleeps.
            for _ in range(200):
                if log.exists() and log.read_text().count("ran") >= 1:
                    break
                await asyncio.sleep(0.05)
            (await runner.connection()).abort()

        script = f"echo ran >> {log}; sleep 1.5; echo done"
        dropper = asyncio.create_task(drop_soon())
        result = await runner.run(["sh", "-c", script], read_only=True)
        await dropper
        assert result.stdout == "done\n" and runner.connects == 2
        assert log.read_text().count("ran") == 2  # the read was run again on a new connection

        log.unlink()
        dropper = asyncio.create_task(drop_soon())
        with pytest.raises(HostUnreachable, match="lost"):
            await runner.run(["sh", "-c", script])
        await dropper
        assert log.read_text().count("ran") == 1  # a mutating command is never run twice
    finally:
        await runner.close()
