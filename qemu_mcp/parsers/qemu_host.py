"""Parse the plain-QEMU backend's scripts (commands.qemu_host) and the /proc files they print. Pure."""

from __future__ import annotations

from dataclasses import dataclass, field

QCOW2_MAGIC = [81, 70, 73, 251]  # "QFI\xfb"


@dataclass(frozen=True)
class FileFacts:
    """A disk image as `stat` and its first 32 bytes show it; None where unreadable."""

    size: int | None
    allocated: int | None
    header: tuple[int, ...] = ()

    def capacity(self, fmt: str | None) -> int | None:
        """The guest-visible size: raw = file size; qcow2 = the header's size field (bytes 24-31)."""
        if fmt == "raw":
            return self.size
        if fmt == "qcow2" and len(self.header) >= 32 and list(self.header[:4]) == QCOW2_MAGIC:
            return int.from_bytes(bytes(self.header[24:32]), "big")
        return None


@dataclass
class RawVm:
    """One VM directory as READ_SCRIPT printed it."""

    name: str
    conf: str | None = None
    creating: str | None = None
    socket: bool = False
    pid: int | None = None
    cmdline: list[str] | None = None
    cleaned: bool = False
    files: dict[str, FileFacts] = field(default_factory=dict)


def _file_facts(words: list[str]) -> FileFacts:
    def num(w: str) -> int | None:
        return int(w) if w.isdigit() else None

    size, blocks, block_size = (num(w) for w in ([*words, "-", "-", "-"])[:3])
    header = tuple(int(w) for w in words[3:] if w.isdigit())
    allocated = blocks * block_size if blocks is not None and block_size is not None else None
    return FileFacts(size=size, allocated=allocated, header=header)


def parse_read(stdout: str, marker: str) -> tuple[bool, list[RawVm]]:
    """(vm_dir exists, the VMs in the order printed)."""
    vms: list[RawVm] = []
    section: str | None = None
    lines: list[str] = []
    pending_file: FileFacts | None = None
    exists = True

    def flush() -> None:
        nonlocal lines
        if vms and section in ("conf", "creating"):
            setattr(vms[-1], section, "\n".join(lines).strip("\n") + "\n")
        elif vms and section == "cmdline":
            vms[-1].cmdline = [ln for ln in lines if ln != ""]
        lines = []

    prefix = marker + " "
    for line in stdout.splitlines():
        if pending_file is not None:
            vms[-1].files[line] = pending_file
            pending_file = None
            continue
        if not line.startswith(prefix):
            lines.append(line)
            continue
        flush()
        words = line[len(prefix) :].split(" ")
        kind, rest = words[0], words[1:]
        section = None
        if kind == "nodir":
            exists = False
        elif kind == "vm":
            vms.append(RawVm(name=" ".join(rest)))
        elif not vms:
            continue
        elif kind in ("conf", "creating", "cmdline"):
            section = kind
            if kind == "cmdline":
                vms[-1].cmdline = []
        elif kind == "socket":
            vms[-1].socket = True
        elif kind == "pid" and rest and rest[0].isdigit():
            vms[-1].pid = int(rest[0])
        elif kind == "cleaned":
            vms[-1].cleaned = True
        elif kind == "file":
            pending_file = _file_facts([w for w in rest if w])
    flush()
    return exists, vms


def parse_key_values(text: str) -> dict[str, str]:
    out: dict[str, str] = {}
    for line in text.splitlines():
        key, sep, value = line.partition("=")
        if sep:
            out[key.strip()] = value.strip()
    return out


def listening_ports(text: str) -> set[int]:
    """TCP ports in LISTEN state (0A) from /proc/net/tcp and tcp6."""
    ports: set[int] = set()
    for line in text.splitlines():
        words = line.split()
        if len(words) > 3 and words[3] == "0A" and ":" in words[1]:
            try:
                ports.add(int(words[1].rsplit(":", 1)[1], 16))
            except ValueError:
                continue
    return ports


@dataclass(frozen=True)
class ProcStat:
    """The fields of /proc/<pid>/stat (or task/<tid>/stat) we use; times in clock ticks."""

    comm: str
    state: str
    utime: int
    stime: int
    starttime: int


def parse_stat(line: str) -> ProcStat | None:
    """comm may hold spaces and parentheses: it runs from the first '(' to the LAST ')'."""
    start, end = line.find("("), line.rfind(")")
    if start < 0 or end < start:
        return None
    rest = line[end + 1 :].split()
    if len(rest) < 20:
        return None
    try:
        # rest[0] is field 3 (state); utime = field 14, stime = 15, starttime = 22
        return ProcStat(line[start + 1 : end], rest[0], int(rest[11]), int(rest[12]), int(rest[19]))
    except ValueError:
        return None


def parse_status_kib(text: str, key: str) -> int | None:
    """A 'VmRSS:   1234 kB' line of /proc/<pid>/status, in KiB."""
    for line in text.splitlines():
        if line.startswith(key + ":"):
            words = line.split()
            if len(words) >= 2 and words[1].isdigit():
                return int(words[1])
    return None


def parse_io(text: str) -> dict[str, int]:
    out: dict[str, int] = {}
    for line in text.splitlines():
        key, sep, value = line.partition(":")
        if sep and value.strip().isdigit():
            out[key.strip()] = int(value.strip())
    return out


@dataclass
class RawSample:
    """SAMPLE_SCRIPT's output."""

    clk_tck: int | None = None
    gone: bool = False
    conf: str | None = None
    pid: int | None = None
    cmdline: list[str] = field(default_factory=list)
    stat: str = ""
    status: str = ""
    io: str = ""
    tasks: list[str] = field(default_factory=list)
    taps: dict[str, list[int | None]] = field(default_factory=dict)
    files: dict[str, FileFacts] = field(default_factory=dict)


def parse_sample(stdout: str, marker: str) -> RawSample:
    out = RawSample()
    section: str | None = None
    lines: list[str] = []
    pending_file: FileFacts | None = None
    prefix = marker + " "

    def flush() -> None:
        nonlocal lines
        text = "\n".join(lines)
        if section == "conf":
            out.conf = text.strip("\n") + "\n"
        elif section == "cmdline":
            out.cmdline = [ln for ln in lines if ln]
        elif section in ("stat", "status", "io"):
            setattr(out, section, text)
        elif section == "tasks":
            out.tasks = [ln for ln in lines if ln.strip()]
        lines = []

    for line in stdout.splitlines():
        if pending_file is not None:
            out.files[line] = pending_file
            pending_file = None
            continue
        if not line.startswith(prefix):
            lines.append(line)
            continue
        flush()
        words = line[len(prefix) :].split()
        kind, rest = (words[0], words[1:]) if words else ("", [])
        section = None
        if kind == "clk" and rest and rest[0].isdigit():
            out.clk_tck = int(rest[0])
        elif kind == "gone":
            out.gone = True
        elif kind == "pid" and rest and rest[0].isdigit():
            out.pid = int(rest[0])
        elif kind in ("conf", "cmdline", "stat", "status", "io", "tasks"):
            section = kind
        elif kind == "tap" and rest:
            out.taps[rest[0]] = [int(w) if w.isdigit() else None for w in rest[1:9]]
        elif kind == "file":
            pending_file = _file_facts(rest)
    flush()
    return out
