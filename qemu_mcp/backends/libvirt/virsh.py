"""Pure argv builders for virsh. Several virsh commands run in ONE virsh process (`a; b; c`).

virsh parses that one argument with its own shell-like rules, so every word is quoted for
virsh here; the whole argv is then quoted once more, for the remote shell, at the SSH edge.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from qemu_mcp import validation

_SAFE = re.compile(r"[A-Za-z0-9_@%+=:,./-]+")


def quote(word: str) -> str:
    """Quote one word for virsh's command-string parser (same rules as POSIX sh single quotes)."""
    if _SAFE.fullmatch(word):
        return word
    return "'" + word.replace("'", "'\\''") + "'"


def script(commands: Sequence[Sequence[str]], marker: str | None = None) -> str:
    """Join commands into one virsh command string, with `echo MARKER` between them."""
    parts: list[str] = []
    for i, cmd in enumerate(commands):
        if i and marker:
            parts.append(f"echo {marker}")
        parts.append(" ".join(quote(w) for w in cmd))
    return "; ".join(parts)


def virsh(uri: str, commands: Sequence[Sequence[str]], marker: str | None = None) -> list[str]:
    """argv running `commands` in one virsh process on `uri`, output in the C locale."""
    validation.libvirt_uri(uri)
    return ["env", "LC_ALL=C", "virsh", "-c", uri, script(commands, marker)]


# The commands themselves: each a list of words for `virsh()`. Every command that names one domain
# takes its UUID (or UUID_SLOT, filled in on the host by backends.libvirt.target): never a name,
# which virsh would first try as a domain id.
UUID_SLOT = "@UUID@"


def _domain(uuid: str) -> str:
    return uuid if uuid == UUID_SLOT else validation.domain_uuid(uuid)


def list_uuids(*flags: str) -> list[str]:
    return ["list", "--all", "--uuid", *flags]


def domstats_all() -> list[str]:
    """Every domain's stats (the listing); --nowait as below."""
    return ["domstats", "--raw", "--nowait"]


def domstats(uuid: str) -> list[str]:
    """--nowait: what libvirt has at once; a QEMU monitor that is busy or stuck cannot stall the read."""
    return ["domstats", "--raw", "--nowait", "--", _domain(uuid)]


# monitor metric -> domstats groups (--state is always asked for: it ends a series cleanly).
DOMSTATS_GROUPS = {
    "cpu": ("--cpu-total", "--vcpu"),
    "memory": ("--balloon",),
    "disk": ("--block",),
    "network": ("--interface",),
}


def domstats_groups(uuid: str, metrics: Sequence[str]) -> list[str]:
    """One domain's stats for the monitor: only the groups its metrics need."""
    flags = [f for m in metrics for f in DOMSTATS_GROUPS[m]]
    return ["domstats", "--raw", "--state", *flags, "--", _domain(uuid)]


def domid(uuid: str) -> list[str]:
    """The domain ID: a new one each time the VM starts, '-' while it is shut off."""
    return ["domid", "--domain", _domain(uuid)]


def dumpxml(uuid: str) -> list[str]:
    return ["dumpxml", "--domain", _domain(uuid)]


def dominfo(uuid: str) -> list[str]:
    return ["dominfo", "--domain", _domain(uuid)]


# Life-cycle commands (manage_vm). Domain XML goes in on stdin: `--file /dev/stdin` reads the
# virsh process's own stdin, so no temporary file is written on the host.
STDIN = "/dev/stdin"


def domstate(uuid: str) -> list[str]:
    return ["domstate", "--domain", _domain(uuid)]


def dumpxml_inactive(uuid: str) -> list[str]:
    """The persistent definition: what the next boot uses (modify reads and verifies this)."""
    return ["dumpxml", "--inactive", "--domain", _domain(uuid)]


def define_from_stdin() -> list[str]:
    return ["define", "--file", STDIN]


def create_from_stdin_paused_autodestroy() -> list[str]:
    """A transient guest that never runs code and vanishes when this virsh process exits (KVM probe)."""
    return ["create", "--file", STDIN, "--paused", "--autodestroy"]


def undefine(uuid: str) -> list[str]:
    """Drop the definition with its managed-save image, snapshot metadata and UEFI NVRAM file."""
    return [
        "undefine", "--domain", _domain(uuid), "--managed-save", "--snapshots-metadata", "--nvram",
    ]  # fmt: skip


def start(uuid: str) -> list[str]:
    return ["start", "--domain", _domain(uuid)]


def shutdown(uuid: str) -> list[str]:
    """Ask the guest to power off (ACPI); returns at once, the guest may ignore it."""
    return ["shutdown", "--domain", _domain(uuid)]


def destroy(uuid: str) -> list[str]:
    """Power off at once, like pulling the plug."""
    return ["destroy", "--domain", _domain(uuid)]


def reboot(uuid: str) -> list[str]:
    """Ask the guest to reboot (ACPI); returns at once, the guest may ignore it."""
    return ["reboot", "--domain", _domain(uuid)]


def reset(uuid: str) -> list[str]:
    """Hard reset, like pressing the reset button."""
    return ["reset", "--domain", _domain(uuid)]


def wait_event(uuid: str, event: str, timeout_s: int) -> list[str]:
    """Block until the domain emits `event` (prints "event '<event>' for domain ...") or timeout_s passes."""
    if event not in ("reboot", "lifecycle"):
        raise ValueError(f"unsupported event {event!r}")
    seconds = str(max(1, timeout_s))
    return ["event", "--domain", _domain(uuid), "--event", event, "--timeout", seconds]


def set_max_memory_config(uuid: str, kib: int) -> list[str]:
    return ["setmaxmem", "--domain", _domain(uuid), "--size", f"{int(kib)}KiB", "--config"]


def set_memory_config(uuid: str, kib: int) -> list[str]:
    return ["setmem", "--domain", _domain(uuid), "--size", f"{int(kib)}KiB", "--config"]


def set_max_vcpus_config(uuid: str, count: int) -> list[str]:
    """Lowering the maximum below the current count lowers the count too (libvirt 9)."""
    return [*set_vcpus_config(uuid, count), "--maximum"]


def set_vcpus_config(uuid: str, count: int) -> list[str]:
    return ["setvcpus", "--domain", _domain(uuid), "--count", str(int(count)), "--config"]


def blockresize(uuid: str, target: str, size_bytes: int) -> list[str]:
    """Live resize of a running guest's disk (virsh's default unit is KiB: give bytes explicitly)."""
    size = f"{int(size_bytes)}B"
    return ["blockresize", "--domain", _domain(uuid), "--path", target, "--size", size]


def net_info(network: str) -> list[str]:
    return ["net-info", "--network", network]


def domcapabilities(virttype: str, arch: str, machine: str | None = None) -> list[str]:
    argv = ["domcapabilities", "--virttype", virttype, "--arch", arch]
    return [*argv, "--machine", machine] if machine else argv
