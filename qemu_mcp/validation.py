"""One validation layer for user text: checked before any command is built.

Every check raises InvalidInput with a sentence that says what was wrong and what to do.
"""

from __future__ import annotations

import re

from qemu_mcp import arches
from qemu_mcp.errors import InvalidInput

# Names we create must fit this (issue: VM names). Names we only read may be any libvirt name.
NEW_VM_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")
HOST_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")
# DNS name, IPv4, or IPv6 (bare, without brackets).
ADDRESS = re.compile(r"[A-Za-z0-9][A-Za-z0-9.-]{0,252}|[0-9A-Fa-f:.]{2,45}")
UNIX_USER = re.compile(r"[A-Za-z_][A-Za-z0-9_.-]{0,31}\$?")
LIBVIRT_URI = re.compile(r"[a-z][a-z0-9+]*://[A-Za-z0-9._@:/?=&%+-]*")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")

# virsh reads a --domain argument as an id, then a UUID, then a name: such names select other VMs.
DOMAIN_ID = re.compile(r"[0-9]+")
UUID_SHAPED = re.compile(r"[0-9A-Fa-f]{8}-?[0-9A-Fa-f]{4}-?[0-9A-Fa-f]{4}-?[0-9A-Fa-f]{4}-?[0-9A-Fa-f]{12}")
CANONICAL_UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")


def _common(value: str, what: str, max_len: int) -> str:
    if not isinstance(value, str) or value == "":
        raise InvalidInput(f"{what} must be a non-empty string")
    if len(value) > max_len:
        raise InvalidInput(f"{what} is {len(value)} characters long; the limit is {max_len}")
    if _CONTROL.search(value):
        raise InvalidInput(
            f"{what} {value!r} contains a control character (newline, tab, NUL, ...); remove it"
        )
    if value.startswith("-"):
        raise InvalidInput(f"{what} {value!r} starts with '-', which a command would read as an option")
    return value


def vm_name(value: str) -> str:
    """A name of an existing VM: any libvirt name that is safe to pass as one argument."""
    return _common(value, "VM name", 255)


def pool_name(value: str) -> str:
    """A storage pool's name as the user typed it: compared with the host's pool names, never
    handed to virsh (which would read it as a UUID first)."""
    return _common(value, "storage pool name", 255)


def _plain_name(value: str, what: str, pattern: re.Pattern[str], max_len: int, count: str = "") -> str:
    """A name of letters, digits, '.', '_' and '-' that starts with a letter or digit."""
    _common(value, what, max_len)
    if not pattern.fullmatch(value):
        raise InvalidInput(
            f"{what} {value!r} is not allowed: use {count}letters, digits, '.', '_' or '-', "
            "starting with a letter or digit"
        )
    return value


def new_vm_name(value: str) -> str:
    return _plain_name(value, "VM name", NEW_VM_NAME, 64, "1-64 ")


def creatable_vm_name(value: str) -> str:
    """A name for a NEW VM: new_vm_name, and never one that a tool could read as an id or a UUID."""
    new_vm_name(value)
    if DOMAIN_ID.fullmatch(value):
        raise InvalidInput(
            f"VM name {value!r} is all digits: libvirt tools read such a name as a domain id, which "
            "selects whichever running VM has that id; add a letter (e.g. 'vm-{value}')"
        )
    if UUID_SHAPED.fullmatch(value):
        raise InvalidInput(
            f"VM name {value!r} is shaped like a UUID: libvirt tools read it as the UUID of another VM; "
            "choose a name with a letter outside a-f or without the UUID shape"
        )
    return value


def domain_uuid(value: str) -> str:
    """A UUID as libvirt prints it (lowercase, dashed): what every libvirt command addresses."""
    if not isinstance(value, str) or not CANONICAL_UUID.fullmatch(value):
        raise InvalidInput(f"{value!r} is not a domain UUID like 6695eb01-f6a4-8304-79aa-97f2502e193f")
    return value


def host_name(value: str) -> str:
    return _plain_name(value, "host name", HOST_NAME, 64)


def address(value: str) -> str:
    _common(value, "host address", 253)
    if not ADDRESS.fullmatch(value):
        raise InvalidInput(f"host address {value!r} is not a hostname or IP address")
    return value


def ssh_user(value: str) -> str:
    _common(value, "SSH user", 32)
    if not UNIX_USER.fullmatch(value):
        raise InvalidInput(f"SSH user {value!r} is not a valid user name")
    return value


def port(value: int) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or not 1 <= value <= 65535:
        raise InvalidInput(f"port {value!r} is out of range: use 1-65535")
    return value


def libvirt_uri(value: str) -> str:
    _common(value, "libvirt URI", 512)
    if not LIBVIRT_URI.fullmatch(value):
        raise InvalidInput(f"libvirt URI {value!r} is not a URI like qemu:///system or test:///default")
    return value


def abs_path(value: str, what: str = "path") -> str:
    _common(value, what, 4096)
    if not value.startswith("/"):
        raise InvalidInput(f"{what} {value!r} must be an absolute path (start with '/')")
    return value


def arch(value: str | None) -> str | None:
    """Normalise an architecture name; arm64 and amd64 are aliases."""
    if value is None or value == "":
        return None
    name = arches.canonical(value.strip())
    if name is None:
        raise InvalidInput(f"arch {value!r} is not supported: use x86_64 or aarch64 (arm64)")
    return name


def substring_filter(value: str | None) -> str | None:
    if value is None or value == "":
        return None
    if len(value) > 255 or _CONTROL.search(value):
        raise InvalidInput("filter_name must be at most 255 characters with no control characters")
    return value


# Snapshot names. qemu-img and QEMU read an all-digit name as a snapshot ID first (`qemu-img
# snapshot -a 2` reverts to the snapshot whose ID is 2, whatever its name), so no such name is used.
NEW_SNAPSHOT_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")
MAX_DESCRIPTION = 1000


def _not_an_id(value: str) -> str:
    if not DOMAIN_ID.fullmatch(value):
        return value
    raise InvalidInput(
        f"snapshot name {value!r} is all digits: qemu-img and QEMU read such a name as a snapshot ID, "
        "which may be another snapshot's; use a name with a letter (e.g. 'snap-{value}')"
    )


def new_snapshot_name(value: str) -> str:
    """A name for a snapshot qemu-mcp creates."""
    return _not_an_id(_plain_name(value, "snapshot name", NEW_SNAPSHOT_NAME, 64, "1-64 "))


def snapshot_name(value: str) -> str:
    """The name of an existing snapshot (revert, delete): any name that is safe as one argument."""
    _common(value, "snapshot name", 255)
    if "/" in value:
        raise InvalidInput(f"snapshot name {value!r} contains '/', which no snapshot name may")
    return _not_an_id(value)


def snapshot_description(value: str) -> str:
    """One line of free text (kept in libvirt's snapshot XML, or beside vm.conf on plain QEMU)."""
    if not isinstance(value, str):
        raise InvalidInput("description must be a string")
    if len(value) > MAX_DESCRIPTION:
        raise InvalidInput(f"description is {len(value)} characters long; the limit is {MAX_DESCRIPTION}")
    if _CONTROL.search(value):
        raise InvalidInput("description contains a control character (newline, tab, NUL, ...); keep it on one line")
    return value
