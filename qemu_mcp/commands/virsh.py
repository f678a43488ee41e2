"""Pure argv builders for virsh. Several virsh commands run in ONE virsh process (`a; b; c`).

virsh parses that one argument with its own shell-like rules, so every word is quoted for
virsh here; the whole argv is then quoted once more, for the remote shell, at the SSH edge.
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Sequence

from qemu_mcp import validation

_SAFE = re.compile(r"[A-Za-z0-9_@%+=:,./-]+")


def quote(word: str) -> str:
    """Quote one word for virsh's command-string parser (same rules as POSIX sh single quotes)."""
    if _SAFE.fullmatch(word):
        return word
    return "'" + word.replace("'", "'\\''") + "'"


def new_marker() -> str:
    """A token no command output will contain by chance; printed between batched commands."""
    return f"@@qmcp-{secrets.token_hex(6)}@@"


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


# The commands themselves: each a list of words for `virsh()`.


def list_uuids(*flags: str) -> list[str]:
    return ["list", "--all", "--uuid", *flags]


def domstats_all() -> list[str]:
    return ["domstats", "--raw"]


def domstats(name: str) -> list[str]:
    return ["domstats", "--raw", "--", validation.vm_name(name)]


def dumpxml(domain: str) -> list[str]:
    """`domain` is a name or UUID."""
    return ["dumpxml", "--domain", validation.vm_name(domain)]


def dominfo(domain: str) -> list[str]:
    return ["dominfo", "--domain", validation.vm_name(domain)]


def nodeinfo() -> list[str]:
    return ["nodeinfo"]


def version() -> list[str]:
    return ["version"]
