"""Scale over real SSH: many VMs on one host, still one round trip (or one batch per virsh
session; libvirt's test driver with a generated node file); many inventory hosts in one
fleet-wide call, one connection each (their virsh sessions included)."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path

import pytest

from qemu_mcp.backends.libvirt import session
from qemu_mcp.config import Inventory
from qemu_mcp.models import ListVmsData
from qemu_mcp.ops.fleet import Fleet, HostRef
from qemu_mcp.ops.vms import list_vms
from qemu_mcp.transport.ssh import SSHRunner
from tests.conftest import key_host
from tests.fakes import RecordingRunner
from tests.rig import TEST_DRIVER_URI, SshHost, start_sshd
from tests.rig.sshd import PasswordAccount, plain_bashrc_prelude

pytestmark = pytest.mark.integration
N = 150
FLEET_HOSTS = 300  # inventory entries, spread over FLEET_SSHDS sshds
FLEET_SSHDS = 3
# One sshd takes its share of the fleet's handshakes at once (the product opens max_parallel_hosts):
# a real fleet has one sshd per host, whose default MaxStartups (10:30:100) is never reached.
MANY_HANDSHAKES = "MaxStartups 1024:100:2048\nMaxSessions 64\n"


def node_file(tmp_path: Path, n: int) -> str:
    domains = "".join(
        f"<domain type='test'><name>scale-{i:03d}</name><uuid>00000000-0000-0000-0000-{i:012d}</uuid>"
        f"<memory unit='MiB'>{128 + i}</memory><vcpu>{1 + i % 4}</vcpu>"
        "<os><type arch='x86_64'>hvm</type></os><devices><disk type='file' device='disk'>"
        f"<source file='/srv/vm/scale-{i}.qcow2'/><target dev='vda' bus='virtio'/></disk></devices></domain>"
        for i in range(n)
    )
    path = tmp_path / "node.xml"
    path.write_text(f"<node>{domains}</node>")
    return str(path)


async def test_hundreds_of_vms_in_one_round_trip(sshd_host, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    spec = key_host(sshd_host, libvirt_uri=f"test://{node_file(tmp_path, N)}")
    fleet = Fleet(Inventory([spec]), virsh_sessions=False)
    counting = RecordingRunner(fleet.pool.get(spec))
    fleet.pool._runners[spec] = counting  # type: ignore[assignment]
    try:
        data = await list_vms(fleet, HostRef(host="rig"))
        assert len(counting.calls) == 1
        check_scale_listing(data)
    finally:
        await fleet.close()


@pytest.fixture
def fleet_sshds(rig_dir: Path, client_key: Path, libvirtd_running: None) -> Iterator[list[SshHost]]:
    account = PasswordAccount("root", "unused")  # key logins only
    with contextlib.ExitStack() as stack:
        hosts = []
        for i in range(FLEET_SSHDS):
            bashrc = plain_bashrc_prelude(rig_dir / f"fleet{i}-home")
            sshd = start_sshd(rig_dir, f"fleet{i}", key_path=client_key, account=account, prelude=bashrc,
                              config=MANY_HANDSHAKES)  # fmt: skip
            stack.callback(sshd.stop)
            hosts.append(sshd.host)
        yield hosts


async def test_hundreds_of_hosts_in_one_fleet_call(fleet_sshds: list[SshHost]) -> None:
    specs = [
        key_host(fleet_sshds[i % FLEET_SSHDS], f"fleet{i:03d}", backend="libvirt", libvirt_uri=TEST_DRIVER_URI)
        for i in range(FLEET_HOSTS)
    ]
    fleet = Fleet(Inventory(specs, max_parallel_hosts=32))
    try:
        data = await list_vms(fleet)
        assert not data.errors, data.errors[:3]
        assert data.vm_count == FLEET_HOSTS and {v.host for v in data.vms} == {s.name for s in specs}
        runners = [r for r in fleet.pool.runners() if isinstance(r, SSHRunner)]
        assert len(runners) == FLEET_HOSTS and all(r.connects == 1 for r in runners)  # one connection per host
        assert sum(r.open_connections for r in runners) == FLEET_HOSTS
    finally:
        await fleet.close()
    assert sum(r.open_connections for r in runners) == 0


def check_scale_listing(data: ListVmsData) -> None:
    assert data.vm_count == N
    vms = {v.name: v for v in data.vms}
    assert vms["scale-007"].memory == 135 and vms["scale-007"].vcpus == 4
    assert vms["scale-149"].disks[0].path == "/srv/vm/scale-149.qcow2"
    assert all(v.status == "running" for v in data.vms)


async def test_hundreds_of_vms_on_virsh_sessions(sshd_host, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """The same listing on virsh sessions: no command of its own, the XML shared out over the
    pool's sessions, and the very same VMs as the one-shot listing."""
    spec = key_host(sshd_host, backend="libvirt", libvirt_uri=f"test://{node_file(tmp_path, N)}")
    fleet, one_shot = Fleet(Inventory([spec])), Fleet(Inventory([spec]), virsh_sessions=False)
    counting = RecordingRunner(fleet.pool.get(spec))
    fleet.pool._runners[spec] = counting  # type: ignore[assignment]
    try:
        for _ in range(2):  # cold, then warm
            data = await list_vms(fleet, HostRef(host="rig"))
            check_scale_listing(data)
        sessions = fleet.sessions(spec)
        assert counting.calls == [] and sessions is not None and sessions.open_sessions == session.MAX_SESSIONS
        expected = await list_vms(one_shot, HostRef(host="rig"))
        assert without_cpu_time(data) == without_cpu_time(expected)
    finally:
        await fleet.close()
        await one_shot.close()


def without_cpu_time(data: ListVmsData) -> list[dict]:
    return [v.model_dump(exclude={"cpu_time_ns"}) for v in data.vms]
