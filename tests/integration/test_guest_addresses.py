"""Guest addresses, the SSH forward, wait_for_ip, the serial console and the screen, with a REAL
guest (the Debian test image under TCG, a NoCloud seed, the guest agent) on both backends: a
libvirt domain on the rig's sshd host, and a plain-QEMU VM on the qemu-only sshd host. One boot
per backend. Guests are reached only through the host's 127.0.0.1 forward (read on the host).

Until manage_vm create provisions images (issue 11, h11prov/h11img), the tests define the guest
themselves: the libvirt domain with its forward as a `qemu:commandline` hostfwd recorded in
qemu-mcp's metadata (`<qmcp:ssh-forward port=.../>`), the plain-QEMU VM as a vm.conf with
`nic.0.ssh_forward=PORT` next to a qemu started as qemu-mcp starts one (pidfile, -uuid, QMP)."""

from __future__ import annotations

import asyncio
import base64
import os
import secrets
import shutil
import struct
import tempfile
import uuid as uuidlib
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from mcp import Client

from qemu_mcp.cloudinit import parse_cloud_init
from qemu_mcp.config import Inventory
from qemu_mcp.frontends.mcp.server import build_server
from qemu_mcp.nocloud import nocloud_iso
from qemu_mcp.ops.addresses import Target, wait_for_address
from qemu_mcp.ops.fleet import Fleet, HostRef
from qemu_mcp.ops.vms import get_vm_info, list_vms
from tests.conftest import key_host
from tests.integration.guest_helpers import BOOT_TIMEOUT, boot, cached_test_image
from tests.integration.manage_helpers import data
from tests.rig import free_port, run
from tests.rig.libvirt import DIR_PREFIX, IMAGES, NAME_PREFIX

pytestmark = pytest.mark.integration

SYS = "qemu:///system"
MAC = "52:54:00:ad:d7:01"


def png_check(png: bytes) -> tuple[int, int]:
    """(width, height) of a PNG whose pixel data inflates to exactly the size its header says."""
    assert png.startswith(b"\x89PNG\r\n\x1a\n")
    pos, idat, header = 8, b"", b""
    while pos < len(png):
        (length,) = struct.unpack(">I", png[pos : pos + 4])
        kind, body = png[pos + 4 : pos + 8], png[pos + 8 : pos + 8 + length]
        assert zlib.crc32(kind + body) & 0xFFFFFFFF == struct.unpack(">I", png[pos + 8 + length : pos + 12 + length])[0]
        header = body if kind == b"IHDR" else header
        idat += body if kind == b"IDAT" else b""
        pos += 12 + length
    width, height, depth, color = struct.unpack(">IIBB", header[:10])
    channels = {2: 3, 6: 4}[color]
    assert depth == 8 and len(zlib.decompress(idat)) == height * (1 + width * channels)
    return width, height


def seed_iso(path: Path, hostname: str) -> Path:
    path.write_bytes(nocloud_iso(parse_cloud_init({"hostname": hostname})))
    return path


class Progress:
    def __init__(self) -> None:
        self.events: list[tuple[float, float | None, str]] = []

    async def __call__(self, done: float, total: float | None, message: str) -> None:
        self.events.append((done, total, message))


async def console_call(spec: Any, name: str, **args: Any) -> tuple[dict[str, Any], list[Any]]:
    async with Client(build_server(Inventory([spec]))) as client:
        result = await client.call_tool("vm_console", {"name": name, "host": spec.name, **args})
    return data(result), result.content


def check_addresses(spec: Any, name: str, port: int, vm_dir: str | None = None) -> None:
    """get_vm_info shows the agent's addresses and the ssh endpoint; list_vms the endpoint."""

    async def go() -> Any:
        fleet = Fleet(Inventory([spec]))
        try:
            # The agent starts with the guest's units; give it the time the forward needed at most.
            for _ in range(30):
                info = await get_vm_info(fleet, name, HostRef(host=spec.name), vm_dir)
                if any(a.source == "agent" and a.ip == "10.0.2.15" for a in info.addresses):
                    break
                await asyncio.sleep(3)
            listed = await list_vms(fleet, HostRef(host=spec.name), filter_name=name, vm_dir=vm_dir)
            return info, listed
        finally:
            await fleet.close()

    info, listed = asyncio.run(go())
    agent = [a for a in info.addresses if a.source == "agent"]
    assert any(a.ip == "10.0.2.15" and a.prefix == 24 and a.mac == MAC for a in agent), info.addresses
    assert info.ssh is not None and info.ssh.port == port and info.ssh.address == "127.0.0.1"
    assert info.ssh.command == f"ssh -J {spec.user}@{spec.address}:{spec.port} -p {port} <user>@127.0.0.1"
    [row] = [v for v in listed.vms if v.name == name]
    assert row.ssh == info.ssh and row.addresses == []  # the listing asks no guest (and slirp has no lease)


def wait_directly(spec: Any, kind: str, name: str, uuid: str, port: int, vm_dir: str | None = None) -> None:
    """The reusable step itself on a booting guest: it returns with the forward's SSH banner."""
    progress = Progress()

    async def go() -> Any:
        fleet = Fleet(Inventory([spec]))
        try:
            return await wait_for_address(
                fleet.runner(spec), Target(spec, kind, name, uuid, vm_dir), BOOT_TIMEOUT, progress
            )
        finally:
            await fleet.close()

    wait = asyncio.run(go())
    print(f"{kind}: SSH banner after {wait.seconds:.0f} s ({len(progress.events)} progress notifications)")
    assert not wait.timed_out and wait.banner and wait.banner.startswith("SSH-2.0-"), wait
    assert progress.events and all(total == BOOT_TIMEOUT for _, total, _ in progress.events)
    assert wait.ssh is not None and wait.ssh.port == port


def check_console(spec: Any, name: str, **extra: Any) -> None:
    console, content = asyncio.run(console_call(spec, name, lines=400, screenshot=True, **extra))
    assert any("Linux version" in line or "cloud-init" in line for line in console["lines"]), console
    assert not any("\x1b" in line for line in console["lines"])
    shot = console["screenshot"]
    images = [c for c in content if c.type == "image"]
    assert len(images) == 1 and images[0].mime_type == "image/png", console["notes"]
    png = base64.b64decode(images[0].data)
    assert png_check(png) == (shot["width"], shot["height"]) and len(png) == shot["bytes"]
    assert shot["width"] >= 640 and shot["height"] >= 400  # a VGA text or graphics mode


# ---- libvirt


def domain_xml(name: str, disk: Path, seed: Path, port: int, log: str) -> str:
    return f"""<domain type='qemu' xmlns:qemu='http://libvirt.org/schemas/domain/qemu/1.0'>
<name>{name}</name><memory unit='MiB'>768</memory><vcpu>2</vcpu>
<metadata><qmcp:vm xmlns:qmcp='http://qemu-mcp/xmlns/vm/1' state='created' created-by='qemu-mcp'>
<qmcp:ssh-forward port='{port}'/><qmcp:serial-log path='{log}'/></qmcp:vm></metadata>
<os><type arch='x86_64' machine='q35'>hvm</type></os>
<devices>
<disk type='file' device='disk'><driver name='qemu' type='qcow2'/><source file='{disk}'/>
  <target dev='vda' bus='virtio'/></disk>
<controller type='scsi' model='virtio-scsi'/>
<disk type='file' device='cdrom'><driver name='qemu' type='raw'/><source file='{seed}'/>
  <target dev='sda' bus='scsi'/><readonly/></disk>
<serial type='pty'><log file='{log}' append='off'/></serial><console type='pty'/>
<channel type='unix'><target type='virtio' name='org.qemu.guest_agent.0'/></channel>
<graphics type='vnc' listen='127.0.0.1' autoport='yes'/><video><model type='vga'/></video>
</devices>
<qemu:commandline>
  <qemu:arg value='-netdev'/><qemu:arg value='user,id=qmfwd,restrict=on,hostfwd=tcp:127.0.0.1:{port}-:22'/>
  <qemu:arg value='-device'/><qemu:arg value='virtio-net-pci,netdev=qmfwd,mac={MAC},bus=pcie.0,addr=0x10'/>
</qemu:commandline>
</domain>"""


@pytest.fixture
def libvirt_guest(libvirtd_running: None) -> Iterator[tuple[str, str, int]]:
    tag = secrets.token_hex(3)
    name, workdir = f"{NAME_PREFIX}{tag}-addr", IMAGES / f"{DIR_PREFIX}{tag}"
    log = f"/var/log/libvirt/qemu/{name}-serial.log"
    workdir.mkdir(mode=0o755)
    workdir.chmod(0o755)  # libvirt's qemu user must traverse it
    (workdir / "owner.pid").write_text(str(os.getpid()))  # the rig's leftover sweep skips live sessions
    try:
        disk, port = workdir / "disk.qcow2", free_port()
        run(["qemu-img", "create", "-q", "-f", "qcow2", "-F", "qcow2", "-b", cached_test_image(), str(disk)])
        xml = workdir / "domain.xml"
        xml.write_text(domain_xml(name, disk, seed_iso(workdir / "seed.iso", "addr-libvirt"), port, log))
        run(["virsh", "-q", "-c", SYS, "define", str(xml)])
        uuid = run(["virsh", "-q", "-c", SYS, "domuuid", name]).stdout.strip()
        yield name, uuid, port  # defined, shut off: the test starts it
    finally:
        run(["virsh", "-q", "-c", SYS, "destroy", name], check=False)
        run(["virsh", "-q", "-c", SYS, "undefine", name], check=False)
        shutil.rmtree(workdir, ignore_errors=True)
        Path(log).unlink(missing_ok=True)
        Path(f"/var/log/libvirt/qemu/{name}.log").unlink(missing_ok=True)  # libvirt's own log of the qemu


def test_libvirt_guest_addresses_ssh_console_and_screen(sshd_host, libvirt_guest) -> None:  # type: ignore[no-untyped-def]
    """manage_vm start with wait_for_ip returns once the forward answers, with progress."""
    name, _uuid, port = libvirt_guest
    spec = key_host(sshd_host)
    progress = Progress()

    async def start() -> Any:
        async with Client(build_server(Inventory([spec]))) as client:
            args = {"name": name, "action": "start", "host": spec.name, "wait_for_ip": BOOT_TIMEOUT}
            return await client.call_tool("manage_vm", args, progress_callback=progress)

    result = asyncio.run(start())
    details = data(result)["details"]
    print(f"libvirt: {result.structured_content['message']} ({len(progress.events)} progress notifications)")
    assert details["reachable"] is True and details["ssh"]["port"] == port, details
    assert "SSH answers after" in result.structured_content["message"]
    assert any("waiting for SSH on 127.0.0.1" in (m or "") for _, _, m in progress.events), progress.events
    check_addresses(spec, name, port)
    check_console(spec, name)


def test_wait_for_ip_times_out_cleanly_on_a_guest_without_network(sshd_host, guests) -> None:  # type: ignore[no-untyped-def]
    """The rig's running guest has no OS and no NIC that anything answers on: no address comes."""
    spec = key_host(sshd_host)
    uuid = run(["virsh", "-q", "-c", SYS, "domuuid", guests.running]).stdout.strip()

    async def go() -> Any:
        fleet = Fleet(Inventory([spec]))
        try:
            return await wait_for_address(fleet.runner(spec), Target(spec, "libvirt", guests.running, uuid), 4, None)
        finally:
            await fleet.close()

    wait = asyncio.run(go())
    assert wait.timed_out and wait.addresses == [] and wait.ssh is None
    sentence = wait.sentence(4)
    assert sentence.startswith("no address within 4 s (tried: guest agent, DHCP leases, the host's ARP table")


def test_console_without_a_serial_log_says_how_and_shows_the_screen(sshd_host, guests) -> None:  # type: ignore[no-untyped-def]
    """The rig's running guest (no OS, a pty serial without a log): a note, and the firmware's screen."""
    console, content = asyncio.run(console_call(key_host(sshd_host), guests.running, screenshot=True))
    assert console["lines"] == [] and console["serial_log"] is None
    assert any("has no serial log file" in n and "virsh console" in n for n in console["notes"]), console
    [image] = [c for c in content if c.type == "image"]
    assert png_check(base64.b64decode(image.data)) == (console["screenshot"]["width"], console["screenshot"]["height"])


# ---- plain QEMU


@pytest.fixture
def qemu_guest() -> Iterator[tuple[str, str, Any]]:
    # Short, under /tmp: <vm_dir>/<name>/qga.sock must fit a unix socket path.
    root = Path(tempfile.mkdtemp(prefix="qmcp-qa-"))
    name, vm_uuid = "addr", str(uuidlib.uuid4())
    home = root / "vms" / name
    home.mkdir(parents=True)
    guest = None
    try:
        extra = ["-name", f"guest={name},debug-threads=on", "-uuid", vm_uuid, "-pidfile", str(home / "pid"),
                 "-qmp", f"unix:{home / 'qmp.sock'},server=on,wait=off"]  # fmt: skip
        guest = boot(cached_test_image(), home, seed_iso(root / "seed.iso", "addr-qemu"), MAC, extra=extra)
        (home / "vm.conf").write_text(
            f"format=1\nname={name}\nuuid={vm_uuid}\narch=x86_64\nmachine=q35\naccel=tcg\nmemory_mib=768\nvcpus=2\n"
            f"display=none\ndisk.0.target=vda\ndisk.0.path={home / 'disk.qcow2'}\ndisk.0.format=qcow2\n"
            f"nic.0.type=user\nnic.0.mac={MAC}\nnic.0.ssh_forward={guest.ssh_port}\n"
        )
        yield str(root / "vms"), vm_uuid, guest
    finally:
        if guest is not None:
            guest.kill()
        shutil.rmtree(root, ignore_errors=True)


def test_plain_qemu_guest_addresses_ssh_console_and_screen(qemu_only_sshd_host, qemu_guest) -> None:  # type: ignore[no-untyped-def]
    vm_dir, vm_uuid, guest = qemu_guest
    spec = key_host(qemu_only_sshd_host, name="plain", vm_dir=vm_dir)
    wait_directly(spec, "qemu", "addr", vm_uuid, guest.ssh_port, vm_dir)
    check_addresses(spec, "addr", guest.ssh_port, vm_dir)
    check_console(spec, "addr", vm_dir=vm_dir)
    assert sorted(p.name for p in Path(vm_dir, "addr").iterdir() if p.name.startswith("screendump")) == []
