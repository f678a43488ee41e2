"""What a running plain-QEMU VM's command line says (parse_runtime), apart from argv.py, which
builds command lines: the read path and the sampler need only this, and so do not load what
building needs (provisioning, machines, disks)."""

from __future__ import annotations

import re
from dataclasses import dataclass

VNC_BASE_PORT = 5900


@dataclass(frozen=True)
class Runtime:
    """What a running VM's command line says (it wins over vm.conf for the running guest)."""

    pidfile: str | None = None
    uuid: str | None = None
    name: str | None = None
    memory_mib: int | None = None
    vcpus: int | None = None
    accel: str | None = None
    vnc_display: int | None = None
    vnc_listen: str | None = None


def _after(argv: list[str], flag: str) -> str | None:
    for i, word in enumerate(argv[:-1]):
        if word == flag:
            return argv[i + 1]
    return None


def _size_mib(text: str) -> int | None:
    text = text.split(",")[0].removeprefix("size=")
    m = re.fullmatch(r"([0-9]+)([KMGT]?)[bB]?", text.strip(), re.I)
    if not m:
        return None
    n = int(m[1])
    unit = m[2].upper() or "M"
    factor = {"K": 1 / 1024, "M": 1, "G": 1024, "T": 1024 * 1024}[unit]
    return int(n * factor)


def parse_runtime(argv: list[str]) -> Runtime:
    name = _after(argv, "-name")
    if name is not None:
        first = re.split(r"(?<!,),(?!,)", name)[0]
        name = first.removeprefix("guest=").replace(",,", ",")
    smp = _after(argv, "-smp")
    vcpus = None
    if smp:
        m = re.match(r"(?:cpus=)?([0-9]+)", smp)
        vcpus = int(m[1]) if m else None
    mem = _after(argv, "-m")
    vnc = _after(argv, "-vnc")
    display = listen = None
    if vnc:
        host, _, rest = vnc.split(",")[0].rpartition(":")
        if rest.isdigit():
            display, listen = int(rest), host.strip("[]")
    accel = _after(argv, "-accel")
    if accel is None:
        machine = _after(argv, "-machine") or ""
        accel = "kvm" if "accel=kvm" in machine else "tcg" if machine else None
    return Runtime(
        pidfile=_after(argv, "-pidfile"),
        uuid=_after(argv, "-uuid"),
        name=name,
        memory_mib=_size_mib(mem) if mem else None,
        vcpus=vcpus,
        accel=(accel or "").split(",")[0] or None,
        vnc_display=display,
        vnc_listen=listen,
    )
