"""vm.conf: the configuration of a plain-QEMU VM, written and read by us only. Pure: no I/O.

On-host layout (backend `qemu`), one directory per VM below the host's vm_dir:

    <vm_dir>/<name>/vm.conf      this file (replaced atomically: written to a temp file, then renamed)
    <vm_dir>/<name>/creating     marker: a create is in progress or was interrupted (same format)
    <vm_dir>/<name>/disk0.qcow2  the disk image create makes (unless disk='path=...' says otherwise)
    <vm_dir>/<name>/pid          written by qemu (-pidfile), removed by qemu when it exits
    <vm_dir>/<name>/qmp.sock     QMP socket while the VM runs
    <vm_dir>/<name>/serial.log   the guest's serial console (truncated at each start)
    <vm_dir>/<name>/efivars.fd   aarch64 only: the VM's UEFI variable store
    <vm_dir>/<name>/qga.sock     the guest agent's socket while the VM runs (`agent=yes`)
    <vm_dir>/<name>/seed.iso     the cloud-init NoCloud seed (`seed=`), a read-only CD-ROM
    <vm_dir>/<name>/ignition.ign the Ignition config (`ignition=`), in fw_cfg opt/com.coreos/config
    <vm_dir>/<name>/snapshots/   one <tag>.conf per snapshot: the vm.conf it was taken with (backends.qemu.snapshot)

The format is `key=value` lines, one key per line ('#' starts a comment line). Values run to
the end of the line and never contain a newline or control character (we refuse to write one).
Lists are numbered: `disk.0.path=...`, `nic.0.mac=...`. A shell script can pick values out
with `sed -n 's/^disk\\.[0-9]*\\.path=//p'` (the listing reads disk sizes that way).
"""

from __future__ import annotations

import re
from collections import defaultdict
from dataclasses import dataclass, field, replace

from qemu_mcp.backends.machines import MACHINES

FORMAT = "1"
CONF = "vm.conf"
MARKER = "creating"
PIDFILE = "pid"
QMP_SOCKET = "qmp.sock"
SERIAL_LOG = "serial.log"
EFI_VARS = "efivars.fd"
QGA_SOCKET = "qga.sock"
SEED_ISO = "seed.iso"
IGNITION_FILE = "ignition.ign"
# Every file qemu-mcp itself makes in a VM directory (besides the disk images it created).
OWN_FILES = (CONF, MARKER, PIDFILE, QMP_SOCKET, SERIAL_LOG, EFI_VARS, QGA_SOCKET, SEED_ISO, IGNITION_FILE)
DEFAULT_DISK = "disk0.qcow2"
# sockaddr_un.sun_path holds 108 bytes including the final NUL.
MAX_SOCKET_PATH = 107

_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_LIST_KEY = re.compile(r"(disk|nic)\.([0-9]+)\.([a-z_]+)")
ACCELS = ("kvm", "tcg")
BUSES = ("virtio", "sata", "scsi")
HEADER = "# qemu-mcp plain-QEMU VM (written by qemu-mcp; edit only while the VM is stopped)"


@dataclass(frozen=True)
class ConfDisk:
    target: str  # guest device and QEMU node name: vda, vdb
    path: str
    format: str  # qcow2 or raw
    owned: bool = True  # created by qemu-mcp: delete removes it
    bus: str = "virtio"  # virtio, sata (q35's AHCI) or scsi (virtio-scsi); written only when not virtio


@dataclass(frozen=True)
class ConfNic:
    type: str = "user"  # user (slirp), tap, or bridge (qemu-bridge-helper)
    model: str = "virtio-net-pci"
    mac: str | None = None
    ifname: str | None = None  # tap only: the host's tap device
    bridge: str | None = None  # bridge only: the host's bridge
    ssh_forward: int | None = None  # user only: host 127.0.0.1:<port> -> guest port 22


@dataclass(frozen=True)
class VmConf:
    name: str
    uuid: str
    arch: str
    machine: str
    accel: str  # kvm or tcg
    memory_mib: int
    vcpus: int
    disks: tuple[ConfDisk, ...] = ()
    iso: str | None = None
    nics: tuple[ConfNic, ...] = ()
    display: str = "vnc"  # vnc or none
    vnc_listen: str = "127.0.0.1"
    firmware_code: str | None = None  # aarch64 UEFI code (read-only)
    firmware_vars: str | None = None  # the VM's own copy of the UEFI variables
    created: str | None = None
    seed: str | None = None  # the NoCloud seed ISO (a read-only CD-ROM on virtio-scsi)
    ignition: str | None = None  # the Ignition config file (fw_cfg opt/com.coreos/config)
    agent: bool = False  # the guest-agent channel on qga.sock
    extra: dict[str, str] = field(default_factory=dict)  # keys we do not know, kept as written

    @property
    def domain_type(self) -> str:
        """libvirt's word, shared by both backends' results: kvm, or qemu for TCG."""
        return "kvm" if self.accel == "kvm" else "qemu"

    def with_(self, **changes: object) -> VmConf:
        return replace(self, **changes)  # type: ignore[arg-type]


class ConfError(ValueError):
    """A vm.conf that cannot be used (missing or malformed keys)."""


def _value(key: str, value: object) -> str:
    text = str(value)
    if _CONTROL.search(text):
        raise ValueError(f"vm.conf: {key} {text!r} contains a control character")
    return text


def render(conf: VmConf) -> str:
    """The file's text. Raises ValueError for a value that cannot be written on one line."""
    pairs: list[tuple[str, object]] = [
        ("format", FORMAT),
        ("name", conf.name),
        ("uuid", conf.uuid),
        ("arch", conf.arch),
        ("machine", conf.machine),
        ("accel", conf.accel),
        ("memory_mib", conf.memory_mib),
        ("vcpus", conf.vcpus),
    ]
    for i, d in enumerate(conf.disks):
        pairs += [
            (f"disk.{i}.target", d.target),
            (f"disk.{i}.format", d.format),
            (f"disk.{i}.owned", "yes" if d.owned else "no"),
            (f"disk.{i}.path", d.path),
        ]
        if d.bus != "virtio":
            pairs.append((f"disk.{i}.bus", d.bus))
    if conf.iso:
        pairs.append(("iso", conf.iso))
    for i, n in enumerate(conf.nics):
        pairs += [(f"nic.{i}.type", n.type), (f"nic.{i}.model", n.model)]
        if n.mac:
            pairs.append((f"nic.{i}.mac", n.mac))
        if n.ifname:
            pairs.append((f"nic.{i}.ifname", n.ifname))
        if n.bridge:
            pairs.append((f"nic.{i}.bridge", n.bridge))
        if n.ssh_forward:
            pairs.append((f"nic.{i}.ssh_forward", n.ssh_forward))
    pairs += [("display", conf.display), ("vnc_listen", conf.vnc_listen)]
    if conf.firmware_code:
        pairs.append(("firmware_code", conf.firmware_code))
    if conf.firmware_vars:
        pairs.append(("firmware_vars", conf.firmware_vars))
    if conf.created:
        pairs.append(("created", conf.created))
    pairs += [(key, value) for key, value in (("seed", conf.seed), ("ignition", conf.ignition)) if value]
    if conf.agent:
        pairs.append(("agent", "yes"))
    pairs += sorted(conf.extra.items())
    lines = [HEADER]
    for key, value in pairs:
        if not re.fullmatch(r"[a-z][a-z0-9_.]*", key):
            raise ValueError(f"vm.conf: bad key {key!r}")
        lines.append(f"{key}={_value(key, value)}")
    return "\n".join(lines) + "\n"


def parse_pairs(text: str) -> dict[str, str]:
    pairs: dict[str, str] = {}
    for line in text.splitlines():
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        key, sep, value = line.partition("=")
        if not sep:
            raise ConfError(f"line {line[:80]!r} is not key=value")
        pairs[key.strip()] = value
    return pairs


KNOWN_KEYS = {
    "format", "name", "uuid", "arch", "machine", "accel", "memory_mib", "vcpus", "iso", "display",
    "vnc_listen", "firmware_code", "firmware_vars", "created", "seed", "ignition", "agent",
}  # fmt: skip


def parse(text: str) -> VmConf:
    """vm.conf (or the creating marker) -> VmConf. ConfError says what is wrong."""
    pairs = parse_pairs(text)
    lists, extra = _split_keys(pairs)
    memory, vcpus, accel = _check_scalars(pairs)
    return VmConf(
        name=pairs["name"],
        uuid=pairs["uuid"],
        arch=pairs["arch"],
        machine=pairs.get("machine") or (MACHINES.get(pairs["arch"]) or MACHINES["x86_64"]).machine,
        accel=accel,
        memory_mib=memory,
        vcpus=vcpus,
        disks=_disks(lists),
        iso=pairs.get("iso") or None,
        nics=_nics(lists),
        display=pairs.get("display", "vnc"),
        vnc_listen=pairs.get("vnc_listen") or "127.0.0.1",
        firmware_code=pairs.get("firmware_code") or None,
        firmware_vars=pairs.get("firmware_vars") or None,
        created=pairs.get("created") or None,
        seed=pairs.get("seed") or None,
        ignition=pairs.get("ignition") or None,
        agent=pairs.get("agent") == "yes",
        extra=extra,
    )


Lists = dict[tuple[str, int], dict[str, str]]


def _split_keys(pairs: dict[str, str]) -> tuple[Lists, dict[str, str]]:
    """(numbered list entries by (kind, index), keys we do not know)."""
    lists: Lists = defaultdict(dict)
    extra: dict[str, str] = {}
    for key, value in pairs.items():
        m = _LIST_KEY.fullmatch(key)
        if m:
            lists[(m[1], int(m[2]))][m[3]] = value
        elif key not in KNOWN_KEYS:
            extra[key] = value
    return lists, extra


def _check_scalars(pairs: dict[str, str]) -> tuple[int, int, str]:
    """(memory_mib, vcpus, accel), after checking the format and the required keys."""
    if pairs.get("format", FORMAT) != FORMAT:
        raise ConfError(f"format {pairs['format']!r} is newer than this qemu-mcp understands ({FORMAT})")
    for key in ("name", "uuid", "arch", "memory_mib", "vcpus"):
        if not pairs.get(key):
            raise ConfError(f"the key {key} is missing")
    try:
        memory, vcpus = int(pairs["memory_mib"]), int(pairs["vcpus"])
    except ValueError:
        raise ConfError("memory_mib and vcpus must be whole numbers") from None
    if memory < 1 or vcpus < 1:
        raise ConfError("memory_mib and vcpus must be positive")
    accel = pairs.get("accel", "tcg")
    if accel not in ACCELS:
        raise ConfError(f"accel {accel!r} is not kvm or tcg")
    return memory, vcpus, accel


def _disks(lists: Lists) -> tuple[ConfDisk, ...]:
    disks = []
    for (kind, i), d in sorted(lists.items()):
        if kind != "disk":
            continue
        if not d.get("path") or not d.get("target") or d.get("format") not in ("qcow2", "raw"):
            raise ConfError(f"disk entry {i} needs target, path and format qcow2 or raw")
        if d.get("bus", "virtio") not in BUSES:
            raise ConfError(f"disk entry {i}: bus {d['bus']!r} is not one of {', '.join(BUSES)}")
        owned = d.get("owned", "no") == "yes"
        disks.append(ConfDisk(d["target"], d["path"], d["format"], owned, d.get("bus", "virtio")))
    return tuple(disks)


def _nics(lists: Lists) -> tuple[ConfNic, ...]:
    nics = []
    for (kind, i), n in sorted(lists.items()):
        if kind != "nic":
            continue
        ntype = n.get("type", "user")
        if (ntype not in ("user", "tap", "bridge") or (ntype == "tap" and not n.get("ifname"))
                or (ntype == "bridge" and not n.get("bridge"))):  # fmt: skip
            raise ConfError(f"nic entry {i}: type must be user, tap with an ifname, or bridge with a bridge")
        forward = n.get("ssh_forward") or ""
        if forward and not forward.isdigit():
            raise ConfError(f"nic entry {i}: ssh_forward {forward!r} is not a port number")
        nics.append(ConfNic(ntype, n.get("model") or "virtio-net-pci", n.get("mac") or None, n.get("ifname"),
                            n.get("bridge") or None, int(forward) if forward else None))  # fmt: skip
    return tuple(nics)


@dataclass(frozen=True)
class Home:
    """Paths of one VM's directory."""

    vm_dir: str
    name: str

    @property
    def dir(self) -> str:
        return f"{self.vm_dir.rstrip('/')}/{self.name}"

    def file(self, leaf: str) -> str:
        return f"{self.dir}/{leaf}"

    @property
    def conf(self) -> str:
        return self.file(CONF)

    @property
    def pidfile(self) -> str:
        return self.file(PIDFILE)

    @property
    def qmp(self) -> str:
        return self.file(QMP_SOCKET)

    @property
    def serial(self) -> str:
        return self.file(SERIAL_LOG)

    @property
    def qga(self) -> str:
        return self.file(QGA_SOCKET)
