"""Ten creates on distinct names at once (over one SSH connection) proceed in parallel and all
succeed; ten deletes likewise. Two calls on ONE VM are serialised (test_manage_lifecycle)."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import pytest

from qemu_mcp.config import HostSpec, Inventory
from qemu_mcp.ops.fleet import Fleet, HostRef
from qemu_mcp.ops.manage import manage_vm, parse_request
from tests.conftest import key_host
from tests.integration.manage_helpers import Area, domstate, exists, manage_area

pytestmark = pytest.mark.integration
N = 10


@pytest.fixture(scope="module")
def area(libvirtd_running: None) -> Iterator[Area]:
    with manage_area() as a:
        yield a


async def test_ten_creates_and_deletes_at_once(sshd_host, area: Area) -> None:  # type: ignore[no-untyped-def]
    spec: HostSpec = key_host(sshd_host, vm_dir=f"{area.dir}/ten")  # the dir does not exist yet: all race for it
    fleet = Fleet(Inventory([spec]))
    names = [area.name(f"c{i}") for i in range(N)]
    held: list[int] = []

    async def watch() -> None:
        while True:
            held.append(len(fleet.vm_locks))
            await asyncio.sleep(0.01)

    async def each(action: str, **kw: object) -> list[object]:
        reqs = [parse_request(n, action, **kw) for n in names]  # type: ignore[arg-type]
        return await asyncio.gather(*(manage_vm(fleet, HostRef("rig"), r) for r in reqs), return_exceptions=True)

    watcher = asyncio.create_task(watch())
    try:
        created = await each("create", arch="x86_64", memory="128M", vcpus=1, disk="size=64M", start=True)
        assert [r for r in created if isinstance(r, BaseException)] == []
        assert max(held) > 1  # distinct VMs did not wait for each other
        assert all(domstate(n) == "running" for n in names)
        assert sorted(p.name for p in Path(area.dir, "ten").iterdir()) == sorted(f"{n}.qcow2" for n in names)
        # The KVM probe ran once for all ten (it is kept per host and arch).
        probes = sum(
            any("probing KVM" in c.purpose for c in r.data.details.commands)  # type: ignore[union-attr]
            for r in created
        )
        assert probes <= 1

        deleted = await each("delete", force=True, confirm=True)
        assert [r for r in deleted if isinstance(r, BaseException)] == []
    finally:
        watcher.cancel()
        await fleet.close()
    assert not any(exists(n) for n in names) and list(Path(area.dir, "ten").iterdir()) == []
