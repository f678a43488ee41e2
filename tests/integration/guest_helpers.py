"""A real Debian guest for the tests: the cached test image (scripts/test-image.sh) booted under
TCG by plain qemu-system-x86_64, reached only through 127.0.0.1 (user-mode networking with
`restrict=on`: the guest reaches nothing outside QEMU; only the SSH forward comes in)."""

from __future__ import annotations

import os
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

from tests.rig import RigError, free_port, run

ROOT = Path(__file__).resolve().parents[2]
BOOT_TIMEOUT = 240.0  # boot to SSH under TCG: ~70 s on 2 busy cores; room for a loaded CI machine


def cached_test_image() -> str:
    """$QEMU_MCP_TEST_IMAGE (quickstart exports it), else the cached image, built now if missing."""
    image = (
        os.environ.get("QEMU_MCP_TEST_IMAGE")
        or run(["bash", str(ROOT / "scripts" / "test-image.sh")], timeout=1200).stdout.strip()
    )
    if not Path(image).is_file():
        raise RigError(f"test image {image!r} does not exist (scripts/test-image.sh prints its path)")
    return image


@dataclass
class Guest:
    """A booted guest: its files live in `workdir`, its SSH is 127.0.0.1:`ssh_port`."""

    workdir: Path
    ssh_port: int
    proc: subprocess.Popen[bytes]
    mac: str
    known_hosts: Path = field(init=False)

    def __post_init__(self) -> None:
        self.known_hosts = self.workdir / "known_hosts"

    @property
    def serial_log(self) -> Path:
        return self.workdir / "serial.log"

    @property
    def qga_socket(self) -> Path:
        return self.workdir / "qga.sock"

    def serial_tail(self, lines: int = 40) -> str:
        try:
            text = self.serial_log.read_text(errors="replace")
        except OSError:
            return "(no serial log)"
        return "\n".join(text.splitlines()[-lines:])

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait(timeout=30)


def boot(image: str, workdir: Path, seed_iso: Path, mac: str, extra: list[str] | None = None) -> Guest:
    """Start the guest on a qcow2 overlay of `image` (the image itself is never written)."""
    overlay = workdir / "disk.qcow2"
    run(["qemu-img", "create", "-q", "-f", "qcow2", "-F", "qcow2", "-b", image, str(overlay)])
    port = free_port()
    argv = [
        "qemu-system-x86_64", "-machine", "q35", "-accel", "tcg", "-m", "768", "-smp", "2",
        "-display", "none", "-monitor", "none", "-serial", f"file:{workdir / 'serial.log'}",
        "-drive", f"file={overlay},if=virtio,format=qcow2",
        # The seed on virtio-scsi: Debian's cloud kernel has no AHCI driver for q35's SATA CD-ROM.
        "-device", "virtio-scsi-pci,id=scsi0",
        "-drive", f"file={seed_iso},if=none,id=seed,media=cdrom,readonly=on,format=raw",
        "-device", "scsi-cd,drive=seed,bus=scsi0.0",
        "-netdev", f"user,id=net0,restrict=on,hostfwd=tcp:127.0.0.1:{port}-:22",
        "-device", f"virtio-net-pci,netdev=net0,mac={mac}",
        "-chardev", f"socket,path={workdir / 'qga.sock'},server=on,wait=off,id=qga0",
        "-device", "virtio-serial", "-device", "virtserialport,chardev=qga0,name=org.qemu.guest_agent.0",
        *(extra or []),
    ]  # fmt: skip
    log = open(workdir / "qemu.log", "wb")  # noqa: SIM115 (the process owns it)
    proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT)
    log.close()
    return Guest(workdir, port, proc, mac)


def ssh(guest: Guest, user: str, key: Path, command: str, *, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    """Run `command` in the guest with the OpenSSH client. The first contact pins the guest's host
    key in the guest's own known_hosts file; every later one checks it."""
    argv = [
        "ssh", "-F", "/dev/null", "-o", "BatchMode=yes", "-o", "StrictHostKeyChecking=accept-new",
        "-o", f"UserKnownHostsFile={guest.known_hosts}", "-o", "GlobalKnownHostsFile=/dev/null",
        "-o", "IdentitiesOnly=yes", "-o", "IdentityAgent=none", "-o", "ConnectTimeout=10",
        "-o", "LogLevel=ERROR", "-i", str(key), "-p", str(guest.ssh_port), f"{user}@127.0.0.1", command,
    ]  # fmt: skip
    return run(argv, check=False, timeout=timeout)


def wait_for_ssh(guest: Guest, user: str, key: Path, timeout: float = BOOT_TIMEOUT) -> float:
    """Seconds until SSH accepts `key` for `user`; RigError with the serial console's tail if not."""
    start = time.monotonic()
    last = ""
    while time.monotonic() - start < timeout:
        if guest.proc.poll() is not None:
            raise RigError(f"qemu exited ({guest.proc.returncode}) before SSH answered:\n{guest.serial_tail()}")
        try:
            probe = ssh(guest, user, key, "true", timeout=20)
        except subprocess.TimeoutExpired:
            continue
        if probe.returncode == 0:
            return time.monotonic() - start
        last = probe.stderr.strip()
        time.sleep(2)
    raise RigError(
        f"SSH did not accept the key within {timeout:g} s (last: {last}); serial console:\n{guest.serial_tail()}"
    )


def wait_exit(guest: Guest, timeout: float) -> int | None:
    try:
        return guest.proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        return None
