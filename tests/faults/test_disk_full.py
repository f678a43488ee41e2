"""A full disk during create (issue 10): vm_dir on a small tmpfs that a file the test made leaves
64 KiB free, less than a qcow2 image's metadata needs (qemu-img fails with ENOSPC). On both
backends the create fails saying which host, that there is no space and what to do; everything
the call made is removed and the tmpfs holds exactly what it held before."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from mcp import Client

from qemu_mcp.config import Inventory
from qemu_mcp.frontends.mcp.server import build_server
from tests.conftest import key_host
from tests.faults.conftest import FaultRecord
from tests.integration.manage_helpers import Area, error, exists, manage_area
from tests.integration.qemu_helpers import QemuArea, qemu_area, qemu_pids_under
from tests.rig.host_faults import fill, small_tmpfs, sshd_pid, tree

pytestmark = pytest.mark.integration
FREE = 64 * 1024  # bytes left free: a 64 MiB qcow2 needs more for its header and tables
CREATE = {"action": "create", "arch": "x86_64", "memory": "128M", "disk": "size=64M"}


async def create_on_full_disk(spec: Any, name: str, full_dir: str, ns_pid: int | None, fault: FaultRecord) -> str:
    fill(full_dir, FREE, ns_pid=ns_pid)
    before = tree(full_dir, ns_pid=ns_pid)
    async with Client(build_server(Inventory([spec]))) as client:
        msg = error(await client.call_tool("manage_vm", {"host": spec.name, "name": name, **CREATE}))
        fault.called()
    fault.clear_error(msg, f"'{spec.name}'", "No space left on device", "free space", "undone")
    assert "COULD NOT UNDO" not in msg, msg
    after = tree(full_dir, ns_pid=ns_pid)
    for entry in sorted(set(after) - set(before)):
        fault.leaked(f"{entry} on the full file system")
    for entry in sorted(set(before) - set(after)):
        fault.lost(f"{entry} on the full file system")
    return msg


@pytest.fixture
def area(libvirtd_running: None) -> Iterator[Area]:
    with manage_area() as a:
        yield a


@pytest.mark.fault("a full disk during create")
async def test_libvirt_create_on_a_full_disk(sshd_host, area: Area, fault: FaultRecord) -> None:  # type: ignore[no-untyped-def]
    full = f"{area.dir}/full"
    name = area.name("full")
    spec = key_host(sshd_host, vm_dir=full, accel="tcg")
    with small_tmpfs(full):
        msg = await create_on_full_disk(spec, name, full, None, fault)
    assert f"removing the definition of '{name}'" in msg, msg
    if exists(name):
        fault.leaked(f"domain '{name}'")


@pytest.mark.fault("a full disk during create")
async def test_plain_qemu_create_on_a_full_disk(  # type: ignore[no-untyped-def]
    qemu_only_sshd_host, rig_dir: Path, fault: FaultRecord
) -> None:
    ns_pid = sshd_pid(rig_dir / "sshd-qemu-only")  # the tmpfs exists only in that sshd's mount namespace
    with qemu_area() as area:
        spec = key_host(qemu_only_sshd_host, name="plain", vm_dir=area.vm_dir)
        with small_tmpfs(area.vm_dir, ns_pid=ns_pid):
            msg = await create_on_full_disk(spec, "full", area.vm_dir, ns_pid, fault)
        assert "removing the VM directory" in msg, msg
        check_no_qemu(area, fault)


def check_no_qemu(area: QemuArea, fault: FaultRecord) -> None:
    for pid in qemu_pids_under(area.root + "/"):
        fault.leaked(f"qemu process {pid}")
