"""Parse the plain-QEMU backend's host scripts (backends.qemu.scripts) and the /proc files they print. Pure.

The read and sample scripts print tagged sections (`MARKER tag words` lines, see parsers.sections).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from qemu_mcp.parsers.sections import Tagged, tagged_sections

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


def _file_entry(section: Tagged, files: dict[str, FileFacts]) -> None:
    """`file SIZE BLOCKS BLOCKSIZE HEADER...` and, on the next line, the image's path."""
    if section.lines:
        files[section.lines[0]] = _file_facts(section.words)


def _conf_text(section: Tagged) -> str:
    return section.text.strip("\n") + "\n"


def _cmdline(section: Tagged) -> list[str]:
    return [ln for ln in section.lines if ln != ""]


def parse_read(stdout: str, marker: str) -> tuple[bool, list[RawVm]]:
    """(vm_dir exists, the VMs in the order printed)."""
    vms: list[RawVm] = []
    exists = True
    for section in tagged_sections(stdout, marker):
        if section.tag == "nodir":
            exists = False
        elif section.tag == "vm":
            vms.append(RawVm(name=section.rest))
        elif vms:
            _read_entry(vms[-1], section)
    return exists, vms


def _read_entry(vm: RawVm, section: Tagged) -> None:
    tag = section.tag
    if tag in ("conf", "creating"):
        setattr(vm, tag, _conf_text(section))
    elif tag == "cmdline":
        vm.cmdline = _cmdline(section)
    elif tag == "socket":
        vm.socket = True
    elif tag == "pid" and section.number is not None:
        vm.pid = section.number
    elif tag == "cleaned":
        vm.cleaned = True
    elif tag == "file":
        _file_entry(section, vm.files)


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
    for section in tagged_sections(stdout, marker):
        tag = section.tag
        if tag == "clk" and section.number is not None:
            out.clk_tck = section.number
        elif tag == "gone":
            out.gone = True
        elif tag == "pid" and section.number is not None:
            out.pid = section.number
        elif tag == "conf":
            out.conf = _conf_text(section)
        elif tag == "cmdline":
            out.cmdline = _cmdline(section)
        elif tag in ("stat", "status", "io"):
            setattr(out, tag, section.text)
        elif tag == "tasks":
            out.tasks = [ln for ln in section.lines if ln.strip()]
        elif tag == "tap" and section.words:
            name, *values = section.words
            out.taps[name] = [int(w) if w.isdigit() else None for w in values[:8]]
        elif tag == "file":
            _file_entry(section, out.files)
    return out
