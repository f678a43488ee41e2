"""Many VMs, still one round trip: libvirt's test driver with a generated node file, over real SSH."""

from __future__ import annotations

from pathlib import Path

import pytest

from qemu_mcp.config import Inventory
from qemu_mcp.ops.fleet import Fleet, HostRef
from qemu_mcp.ops.vms import list_vms
from tests.conftest import key_host
from tests.fakes import RecordingRunner

pytestmark = pytest.mark.integration
N = 150


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
    fleet = Fleet(Inventory([spec]))
    counting = RecordingRunner(fleet.pool.get(spec))
    fleet.pool._runners[spec] = counting  # type: ignore[assignment]
    try:
        data = await list_vms(fleet, HostRef(host="rig"))
        assert len(counting.calls) == 1
        assert data.vm_count == N
        vms = {v.name: v for v in data.vms}
        assert vms["scale-007"].memory == 135 and vms["scale-007"].vcpus == 4
        assert vms["scale-149"].disks[0].path == "/srv/vm/scale-149.qcow2"
        assert all(v.status == "running" for v in data.vms)
    finally:
        await fleet.close()
