"""Real libvirt guests on qemu:///system (TCG, no OS: they sit in the firmware) for the tests."""

from __future__ import annotations

import os
import re
import secrets
from dataclasses import dataclass
from pathlib import Path

from .proc import RigError, pid_alive, run

SYSTEM_URI = "qemu:///system"
TEST_DRIVER_URI = "test:///default"
NAME_PREFIX = "qmcp-t"  # every rig guest is named qmcp-t<random6>-...
IMAGES = Path("/var/lib/libvirt/images")
DIR_PREFIX = "qmcp-test-"  # disks live in IMAGES/qmcp-test-<random6>: the qemu user can reach it
# Only names the rig itself makes: qmcp-t<6 hex>-<anything> guests, networks and storage pools, and
# qmcp-test-<6 hex> dirs.
LEFTOVER = re.compile(rf"(?:{NAME_PREFIX}([0-9a-f]{{6}})-.*|{DIR_PREFIX}([0-9a-f]{{6}}))", re.DOTALL)
# Host bridges and taps tests make (libvirt networks' bridges, plain-QEMU bridges): qmcpbr<6 hex><x>,
# qmcptap<6 hex><x>; at most 15 characters, the kernel's limit.
BRIDGE_PREFIX, TAP_PREFIX = "qmcpbr", "qmcptap"
LEFTOVER_LINK = re.compile(rf"(?:{BRIDGE_PREFIX}|{TAP_PREFIX})([0-9a-f]{{6}})[a-z0-9]?")
START_SERVICES = Path(__file__).resolve().parents[2] / "scripts" / "start-services.sh"

# Fixed so tests can assert them (e.g. in domiflist); user-mode networking never collides.
RUNNING_MAC = "52:54:00:71:6d:01"
STOPPED_MAC = "52:54:00:71:6d:02"
# Files inside Guests.disk_dir.
RUNNING_DISK = "run.qcow2"  # vda of the running guest, qcow2, 1 GiB
RUNNING_DATA_DISK = "run-data.raw"  # vdb of the running guest, raw, 64 MiB
STOPPED_DISK = "off.qcow2"  # vda of the stopped guest, qcow2, 1 GiB


@dataclass(frozen=True)
class Guests:
    prefix: str  # "qmcp-t<random6>-"; teardown removes every domain whose name starts with it
    running: str  # <prefix>run: 1 vcpu, 128 MiB, disks vda (qcow2) + vdb (raw), running
    stopped: str  # <prefix>off: 2 vcpus, 192 MiB, disk vda (qcow2), shut off
    disk_dir: str  # holds the disk images; removed at teardown


def virsh(*args: str, check: bool = True, uri: str = SYSTEM_URI) -> str:
    return run(["virsh", "-q", "-c", uri, *args], check=check).stdout


def ensure_libvirtd() -> str:
    """Start virtlogd + libvirtd if needed (same script CI uses); returns its one-line report."""
    return run(["bash", str(START_SERVICES)], timeout=120).stdout.strip()


def _domain_xml(name: str, mem_mib: int, vcpus: int, mac: str, disks: list[tuple[str, str, str]]) -> str:
    disk_xml = "".join(
        f"""
    <disk type='file' device='disk'>
      <driver name='qemu' type='{fmt}'/>
      <source file='{path}'/>
      <target dev='{dev}' bus='virtio'/>
    </disk>"""
        for path, fmt, dev in disks
    )
    # type='qemu': TCG, because libvirt's qemu user cannot open /dev/kvm on these machines.
    # Boot from disk only and no NIC option ROM, so the firmware idles instead of trying PXE.
    return f"""<domain type='qemu'>
  <name>{name}</name>
  <description>qemu-mcp test rig guest; removed by the rig</description>
  <memory unit='MiB'>{mem_mib}</memory>
  <vcpu>{vcpus}</vcpu>
  <os>
    <type arch='x86_64' machine='pc'>hvm</type>
    <boot dev='hd'/>
  </os>
  <features><acpi/></features>
  <clock offset='utc'/>
  <on_poweroff>destroy</on_poweroff>
  <on_reboot>restart</on_reboot>
  <on_crash>destroy</on_crash>
  <devices>{disk_xml}
    <interface type='user'>
      <mac address='{mac}'/>
      <model type='virtio'/>
      <rom enabled='no'/>
    </interface>
    <graphics type='vnc' autoport='yes' listen='127.0.0.1'>
      <listen type='address' address='127.0.0.1'/>
    </graphics>
    <serial type='pty'><target port='0'/></serial>
    <console type='pty'><target type='serial' port='0'/></console>
  </devices>
</domain>
"""


def domain_names() -> list[str]:
    # One name per line: names may contain spaces and quotes (tests define odd ones on purpose).
    return [n for n in virsh("list", "--all", "--name").splitlines() if n]


def remove_domains(prefix: str) -> list[str]:
    """Destroy and undefine every qemu:///system domain whose name starts with prefix."""
    names = [n for n in domain_names() if n.startswith(prefix)]
    for name in names:
        virsh("destroy", "--domain", name, check=False)
        # Tests may leave snapshots, managed saves or checkpoints behind: undefine drops them all.
        virsh(
            "undefine", "--domain", name, "--managed-save", "--snapshots-metadata", "--checkpoints-metadata",
            "--nvram", check=False,
        )  # fmt: skip
    left = [n for n in domain_names() if n.startswith(prefix)]
    if left:
        raise RigError(f"could not remove libvirt domains: {left}")
    return names


def network_names() -> list[str]:
    return [n for n in virsh("net-list", "--all", "--name").splitlines() if n]


def pool_names() -> list[str]:
    # virsh pads pool names with spaces to 20 characters.
    return [n.rstrip() for n in virsh("pool-list", "--all", "--name").splitlines() if n.strip()]


def _stop_and_undefine(kind: str, option: str, names: list[str], prefix: str) -> list[str]:
    mine = [n for n in names if n.startswith(prefix)]
    for name in mine:
        virsh(f"{kind}-destroy", option, name, check=False)
        virsh(f"{kind}-undefine", option, name, check=False)
    return mine


def remove_networks(prefix: str) -> list[str]:
    """Stop and undefine every network whose name starts with prefix (libvirt drops its lease file)."""
    return _stop_and_undefine("net", "--network", network_names(), prefix)


def remove_pools(prefix: str) -> list[str]:
    """Stop and undefine every storage pool whose name starts with prefix (its files are left alone)."""
    return _stop_and_undefine("pool", "--pool", pool_names(), prefix)


def link_names() -> list[str]:
    """Every network interface of the host (`ip -o link show`: "N: name[@peer]: <...>")."""
    return [line.split(": ")[1].split("@")[0] for line in run(["ip", "-o", "link", "show"]).stdout.splitlines()]


def remove_links(token: str) -> list[str]:
    """Delete the bridges and taps a session with this token made."""
    names = [n for n in link_names() if (m := LEFTOVER_LINK.fullmatch(n)) and m[1] == token]
    for name in sorted(names, key=lambda n: not n.startswith(TAP_PREFIX)):  # taps first, then their bridges
        run(["ip", "link", "del", name], check=False)
    return names


def sweep_leftovers() -> None:
    """Remove guests, networks, storage pools, host bridges and image dirs of earlier rig sessions that
    died (their owner pid is gone)."""

    def owner_alive(token: str) -> bool:
        try:
            return pid_alive(int((IMAGES / f"{DIR_PREFIX}{token}" / "owner.pid").read_text()))
        except (OSError, ValueError):
            return False

    names = domain_names() + network_names() + pool_names() + [d.name for d in IMAGES.glob(DIR_PREFIX + "*")]
    tokens = {m[1] or m[2] for n in names if (m := LEFTOVER.fullmatch(n))}
    tokens |= {m[1] for n in link_names() if (m := LEFTOVER_LINK.fullmatch(n))}
    for token in sorted(tokens):
        if not owner_alive(token):
            remove_domains(f"{NAME_PREFIX}{token}-")
            remove_networks(f"{NAME_PREFIX}{token}-")
            remove_pools(f"{NAME_PREFIX}{token}-")
            remove_links(token)
            run(["rm", "-rf", str(IMAGES / f"{DIR_PREFIX}{token}")])


def create_guests() -> Guests:
    token = secrets.token_hex(3)
    prefix = f"{NAME_PREFIX}{token}-"
    disk_dir = IMAGES / f"{DIR_PREFIX}{token}"
    disk_dir.mkdir(mode=0o755, parents=True)
    disk_dir.chmod(0o755)  # mkdir's mode is masked by umask; libvirt's qemu user must traverse it
    (disk_dir / "owner.pid").write_text(str(os.getpid()))  # lets the sweep skip live sessions
    g = Guests(prefix=prefix, running=f"{prefix}run", stopped=f"{prefix}off", disk_dir=str(disk_dir))
    try:
        run(["qemu-img", "create", "-q", "-f", "qcow2", str(disk_dir / RUNNING_DISK), "1G"])
        run(["qemu-img", "create", "-q", "-f", "raw", str(disk_dir / RUNNING_DATA_DISK), "64M"])
        run(["qemu-img", "create", "-q", "-f", "qcow2", str(disk_dir / STOPPED_DISK), "1G"])
        run_disks = [
            (str(disk_dir / RUNNING_DISK), "qcow2", "vda"),
            (str(disk_dir / RUNNING_DATA_DISK), "raw", "vdb"),
        ]
        specs = [
            (g.running, 128, 1, RUNNING_MAC, run_disks),
            (g.stopped, 192, 2, STOPPED_MAC, [(str(disk_dir / STOPPED_DISK), "qcow2", "vda")]),
        ]
        for name, mem, vcpus, mac, disks in specs:
            xml = disk_dir / f"{name}.xml"
            xml.write_text(_domain_xml(name, mem, vcpus, mac, disks))
            virsh("define", str(xml))
        virsh("start", "--domain", g.running)
        states = {n: virsh("domstate", "--domain", n).strip() for n in (g.running, g.stopped)}
        if states != {g.running: "running", g.stopped: "shut off"}:
            raise RigError(f"unexpected guest states after start: {states}")
    except BaseException:
        destroy_guests(g)
        raise
    return g


def destroy_guests(g: Guests) -> None:
    try:
        remove_domains(g.prefix)
    finally:
        run(["rm", "-rf", g.disk_dir])
