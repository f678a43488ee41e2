"""End to end with a real guest: the Debian test image boots under TCG from a qcow2 overlay, takes
its hostname and a fresh SSH key from a NoCloud seed that qemu_mcp.nocloud built, lets us in over
a 127.0.0.1 forward, answers the guest agent through qemu_mcp's QGA client, sees an Ignition
config through fw_cfg, and powers off cleanly. One boot checks it all (a boot costs a minute+)."""

from __future__ import annotations

import asyncio
import shutil
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from qemu_mcp.backends.qemu.qga import QGAClient
from qemu_mcp.cloudinit import parse_cloud_init
from qemu_mcp.ignition import FW_CFG_NAME, ignition_bytes, ignition_fw_cfg
from qemu_mcp.nocloud import nocloud_iso
from qemu_mcp.transport.local import LocalRunner
from tests.integration.guest_helpers import Guest, boot, cached_test_image, ssh, wait_exit, wait_for_ssh
from tests.rig import keygen

pytestmark = pytest.mark.integration

USER = "tester"
MAC = "52:54:00:4d:43:50"
IGNITION = {"ignition": {"version": "3.4.0"}, "passwd": {"users": [{"name": "core"}]}}


@pytest.fixture
def workdir() -> Iterator[Path]:
    # Short, under /tmp: the guest agent's unix socket path must fit 108 bytes.
    d = Path(tempfile.mkdtemp(prefix="qmcp-guest-"))
    yield d
    shutil.rmtree(d, ignore_errors=True)


async def agent_interfaces(socket: Path) -> Any:
    client = await QGAClient.connect(LocalRunner(), str(socket), timeout=30)
    try:
        return await client.execute("guest-network-get-interfaces", timeout=30)
    finally:
        client.close()


def check_logged_in_guest(guest: Guest, key: Path, hostname: str, public_key: str) -> None:
    def guest_run(command: str, timeout: float = 60) -> str:
        result = ssh(guest, USER, key, command, timeout=timeout)
        assert result.returncode == 0, f"{command}: {result.stderr}\n{guest.serial_tail()}"
        return result.stdout

    assert guest_run("hostname").strip() == hostname
    assert public_key in guest_run("cat ~/.ssh/authorized_keys")
    # cloud-init took the NoCloud seed, and every one of its stages finished without an error.
    status = guest_run("cloud-init status --wait --long", timeout=180)
    assert "status: done" in status and "DataSourceNoCloud" in status, status
    raw = guest_run(f"sudo cat /sys/firmware/qemu_fw_cfg/by_name/{FW_CFG_NAME}/raw")
    assert raw.encode() == ignition_bytes(IGNITION)


def check_agent_sees_the_nic(guest: Guest) -> None:
    interfaces = asyncio.run(agent_interfaces(guest.qga_socket))
    nic = [i for i in interfaces if i.get("hardware-address") == MAC]
    assert nic, interfaces
    addresses = {(a["ip-address-type"], a["ip-address"], a["prefix"]) for a in nic[0].get("ip-addresses", [])}
    assert ("ipv4", "10.0.2.15", 24) in addresses, interfaces  # user-mode networking's guest address


def test_the_test_image_boots_takes_its_seed_and_answers(workdir: Path) -> None:
    image = cached_test_image()
    public_key = keygen(workdir / "id_ed25519", comment="qmcp-guest-test")
    hostname = f"smoke-{uuid.uuid4().hex[:8]}"
    seed = workdir / "seed.iso"
    seed.write_bytes(
        nocloud_iso(parse_cloud_init({"hostname": hostname, "user": USER, "ssh_authorized_keys": [public_key]}))
    )
    ignition = workdir / "config.ign"
    ignition.write_bytes(ignition_bytes(IGNITION))

    guest = boot(image, workdir, seed, MAC, extra=ignition_fw_cfg(str(ignition)).qemu_args())
    try:
        seconds = wait_for_ssh(guest, USER, workdir / "id_ed25519")
        print(f"boot to SSH under TCG: {seconds:.0f} s")
        check_logged_in_guest(guest, workdir / "id_ed25519", hostname, public_key)
        check_agent_sees_the_nic(guest)
        assert "Linux version" in guest.serial_log.read_text(errors="replace")  # the kernel logs to ttyS0

        ssh(guest, USER, workdir / "id_ed25519", "sudo systemctl poweroff", timeout=30)
        assert wait_exit(guest, 120) == 0, f"the guest did not power off:\n{guest.serial_tail()}"
    finally:
        guest.kill()
