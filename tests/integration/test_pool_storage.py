"""Disks in libvirt storage pools through an MCP session as a user who is only in the `libvirt`
group (the rig's password user, logging in with the rig key): create makes the disk with
vol-create-as, modify grows it with vol-resize, sizes come from domblkinfo, and delete removes
exactly the files the domain's <metadata> says qemu-mcp created (the disk, and a seed entry as the
cloud-init work records it) and keeps a disk attached by hand. A domain with no file list keeps
the older rule, and a disk below a pool's directory is made with qemu-img and the pool refreshed.
Everything is checked with virsh and the file system directly; the user cannot write the pool's
directory (root's, mode 0755), so every file it made was made by libvirtd."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from lxml import etree
from mcp import Client

from qemu_mcp.backends.job import Job
from qemu_mcp.backends.libvirt import metadata
from qemu_mcp.backends.libvirt.manage import LibvirtBackend
from qemu_mcp.config import Inventory
from qemu_mcp.frontends.mcp.server import build_server
from qemu_mcp.ops.fleet import Fleet
from tests.conftest import key_host
from tests.integration.manage_helpers import Area, data, error, manage_area, virsh
from tests.rig.libvirt import remove_pools

pytestmark = pytest.mark.integration
MIB = 2**20


@dataclass
class Pool:
    area: Area
    name: str
    dir: Path


def ok(*args: str) -> str:
    out = virsh(*args)
    assert out.returncode == 0, out.stderr
    return out.stdout


@pytest.fixture(scope="module")
def pool(libvirtd_running: None) -> Iterator[Pool]:
    with manage_area() as area:
        target = Path(area.dir) / "pool"
        target.mkdir(mode=0o755)
        name = area.name("pool")
        try:
            ok("pool-define-as", "--name", name, "--type", "dir", "--target", str(target))
            ok("pool-start", "--pool", name)
            yield Pool(area, name, target)
        finally:
            remove_pools(area.prefix)


@pytest.fixture
def server(sshd_host):  # type: ignore[no-untyped-def]
    spec = key_host(sshd_host, accel="tcg").model_copy(update={"user": sshd_host.password_user})
    return build_server(Inventory([spec]))


async def manage(client: Client, **args: Any) -> dict[str, Any]:
    return data(await client.call_tool("manage_vm", {"host": "rig", **args}))


def volumes(pool: Pool) -> list[str]:
    ok("pool-refresh", "--pool", pool.name)
    return sorted(r.split()[0] for r in ok("vol-list", "--pool", pool.name).splitlines() if r.strip())


def uuid_of(name: str) -> str:
    return ok("domuuid", "--domain", name).strip()


def capacity(the_uuid: str, target: str) -> int:
    info = dict(ln.split(":", 1) for ln in ok("domblkinfo", "--domain", the_uuid, "--device", target).splitlines())
    return int(info["Capacity"].strip())


def ran(details: dict[str, Any], word: str) -> bool:
    return any(word in " ".join(c["argv"]) and c["ran"] for c in details["commands"])


async def test_create_grow_delete_as_a_libvirt_group_user(server, pool: Pool, sshd_host) -> None:  # type: ignore[no-untyped-def]
    name = pool.area.name("pv")
    disk, hand, seed = pool.dir / f"{name}.qcow2", pool.dir / "hand.qcow2", pool.dir / "seed.iso"
    async with Client(server) as client:
        created = await manage(client, name=name, action="create", arch="x86_64", memory="128M", vcpus=1,
                               disk=f"path={disk},size=64M")  # fmt: skip
        assert ran(created["details"], "vol-create-as") and not ran(created["details"], "qemu-img create")
        assert f"{name}.qcow2" in volumes(pool) and os.stat(disk).st_uid == 0  # libvirtd made it
        the_uuid = uuid_of(name)
        assert capacity(the_uuid, "vda") == 64 * MIB
        xml = ok("dumpxml", "--inactive", "--domain", the_uuid)
        recorded = metadata.created_files(xml)
        assert recorded is not None and recorded.files == ((metadata.DISK, str(disk)),)

        grown = await manage(client, name=name, action="modify", disk="size=96M")
        assert ran(grown["details"], "vol-resize") and ran(grown["details"], "domblkinfo")
        assert grown["details"]["applied"]["disk_size_bytes"] == capacity(the_uuid, "vda") == 96 * MIB
        info = ok("vol-info", "--bytes", "--vol", str(disk))
        assert f"{96 * MIB} bytes" in info

        # Running: blockresize, then the pool is refreshed.
        await manage(client, name=name, action="start")
        live = await manage(client, name=name, action="modify", disk="size=112M")
        assert ran(live["details"], "blockresize") and ran(live["details"], "pool-refresh")
        assert capacity(the_uuid, "vda") == 112 * MIB and f"{112 * MIB} bytes" in ok(
            "vol-info", "--bytes", "--vol", str(disk)
        )
        await manage(client, name=name, action="stop", force=True, confirm=True)

        # A disk attached by hand, and a seed recorded the way the cloud-init work records one.
        subprocess.run(["qemu-img", "create", "-q", "-f", "qcow2", str(hand), "16M"], check=True)
        seed.write_bytes(b"\0" * 4096)
        ok("attach-disk", "--domain", the_uuid, "--source", str(hand), "--target", "vdb", "--driver", "qemu",
           "--subdriver", "qcow2", "--config")  # fmt: skip
        await record_seed(sshd_host, name, the_uuid, seed)

        gone = await manage(client, name=name, action="delete", confirm=True)
    details = gone["details"]
    assert sorted(details["disks_removed"]) == sorted([str(disk), str(seed)])
    assert details["disks_kept"] == [f"{hand} (not created by qemu-mcp: never deleted)"]
    assert ran(details, "vol-delete") and not disk.exists() and not seed.exists() and hand.exists()
    assert volumes(pool) == ["hand.qcow2"]
    hand.unlink()


@dataclass(frozen=True)
class Vm:
    name: str
    uuid: str


async def record_seed(sshd_host, name: str, the_uuid: str, seed: Path) -> None:  # type: ignore[no-untyped-def]
    """What the cloud-init work does after making a seed: record it (and a file it forgets again)."""
    spec = key_host(sshd_host).model_copy(update={"user": sshd_host.password_user})
    fleet = Fleet(Inventory([spec]))
    try:
        backend, job = LibvirtBackend(fleet.accel_verdicts, spec), Job(fleet.runner(spec), spec.name)
        vm, other = Vm(name, the_uuid), f"{seed}.tmp"
        for kind, path in ((metadata.SEED, str(seed)), (metadata.SEED, other), (metadata.SEED, str(seed))):
            assert await backend.record_created(job, vm, kind, path, live=False)
        await backend.forget_created(job, vm, other, live=False)
    finally:
        await fleet.close()
    recorded = metadata.created_files(ok("dumpxml", "--inactive", "--domain", the_uuid))
    assert recorded is not None and recorded.files[1:] == ((metadata.SEED, str(seed)),)


def define_by_hand(area: Area, name: str, disk: Path, backing: Path | None = None) -> str:
    over = ["-b", str(backing), "-F", "qcow2"] if backing else []
    subprocess.run(["qemu-img", "create", "-q", "-f", "qcow2", *over, str(disk), "16M"], check=True)
    root = etree.fromstring(f"""<domain type='qemu'><name>{name}</name><memory unit='MiB'>64</memory><vcpu>1</vcpu>
  <os><type arch='x86_64' machine='pc'>hvm</type></os><devices><disk type='file' device='disk'>
  <driver name='qemu' type='qcow2'/><source file='{disk}'/><target dev='vda' bus='virtio'/></disk>
  </devices></domain>""")
    path = Path(area.dir) / f"{name}.xml"
    path.write_bytes(etree.tostring(root))
    ok("define", str(path))
    return uuid_of(name)


async def test_a_vm_without_a_file_list_keeps_the_older_rule(server, pool: Pool) -> None:  # type: ignore[no-untyped-def]
    name = pool.area.name("old")
    disk = pool.dir / f"{name}.qcow2"
    define_by_hand(pool.area, name, disk)
    async with Client(server) as client:
        gone = await manage(client, name=name, action="delete", confirm=True)
    assert gone["details"]["disks_removed"] == [str(disk)] and ran(gone["details"], "vol-delete")
    assert not disk.exists() and f"{name}.qcow2" not in volumes(pool)


async def test_a_disk_below_a_pool_directory_is_a_file_and_the_pool_is_refreshed(sshd_host, pool: Pool) -> None:  # type: ignore[no-untyped-def]
    name = pool.area.name("sub")
    sub = pool.dir / "sub"
    sub.mkdir(mode=0o755, exist_ok=True)
    server = build_server(Inventory([key_host(sshd_host, accel="tcg")]))  # root: it writes the file itself
    async with Client(server) as client:
        created = await manage(client, name=name, action="create", arch="x86_64", memory="128M", vcpus=1,
                               disk=f"path={sub}/{name}.qcow2,size=32M")  # fmt: skip
        assert ran(created["details"], "qemu-img create") and ran(created["details"], "pool-refresh")
        assert not ran(created["details"], "vol-create-as")
        assert capacity(uuid_of(name), "vda") == 32 * MIB
        gone = await manage(client, name=name, action="delete", confirm=True)
    assert gone["details"]["disks_removed"] == [f"{sub}/{name}.qcow2"] and not (sub / f"{name}.qcow2").exists()
    assert ran(gone["details"], "rm -f") and ran(gone["details"], "pool-refresh")


async def test_a_failed_create_deletes_the_volume_it_made(server, pool: Pool) -> None:  # type: ignore[no-untyped-def]
    # 16 TiB of guest RAM: libvirt defines it, QEMU cannot allocate it at start -> a real late failure.
    name = pool.area.name("huge")
    disk = pool.dir / f"{name}.qcow2"
    async with Client(server) as client:
        msg = error(await client.call_tool("manage_vm", {
            "host": "rig", "name": name, "action": "create", "arch": "x86_64", "memory": "16T", "vcpus": 1,
            "disk": f"path={disk},size=32M", "start": True}))  # fmt: skip
    assert f"step \"starting '{name}'\" failed on host 'rig'" in msg
    assert f"undone: deleting the volume {disk}, removing the definition of '{name}'" in msg
    assert not disk.exists() and f"{name}.qcow2" not in volumes(pool) and virsh("domuuid", name).returncode != 0


async def made_with_base(client: Client, pool: Pool, name: str, base: Path) -> None:
    """A VM created by qemu-mcp whose metadata records `base` as the base image made for it."""
    await manage(client, name=name, action="create", arch="x86_64", memory="128M", vcpus=1,
                 disk=f"path={pool.dir / name}.qcow2,size=16M")  # fmt: skip
    the_uuid = uuid_of(name)
    recorded = metadata.created_files(ok("dumpxml", "--inactive", "--domain", the_uuid))
    assert recorded is not None
    ok(
        *metadata.set_command(
            the_uuid, metadata.CREATED, recorded.with_file(metadata.BASE_IMAGE, str(base)), live=False
        )
    )


async def test_a_base_image_is_kept_while_a_shut_off_vm_overlays_it(server, pool: Pool) -> None:  # type: ignore[no-untyped-def]
    base, user, first, second = (
        pool.dir / "base.qcow2",
        pool.area.name("over"),
        pool.area.name("b1"),
        pool.area.name("b2"),
    )
    subprocess.run(["qemu-img", "create", "-q", "-f", "qcow2", str(base), "16M"], check=True)
    define_by_hand(pool.area, user, pool.dir / f"{user}.qcow2", backing=base)  # its XML does not name base
    async with Client(server) as client:
        await made_with_base(client, pool, first, base)
        kept = (await manage(client, name=first, action="delete", confirm=True))["details"]
        assert kept["disks_removed"] == [f"{pool.dir / first}.qcow2"] and base.exists()
        assert kept["disks_kept"] == [f"{base} (also used by VM(s) {user})"]
        ok("undefine", "--domain", uuid_of(user))
        (pool.dir / f"{user}.qcow2").unlink()
        await made_with_base(client, pool, second, base)
        gone = (await manage(client, name=second, action="delete", confirm=True))["details"]
    assert sorted(gone["disks_removed"]) == sorted([f"{pool.dir / second}.qcow2", str(base)]) and not base.exists()
    assert "base.qcow2" not in volumes(pool)
