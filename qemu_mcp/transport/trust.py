"""known_hosts, read again after the connection was opened.

A kept connection was verified against known_hosts when it opened. It is used for a new command
only while known_hosts still trusts the key it was verified with: when the file changed since,
the key is looked up again, and a connection whose key is no longer listed (the entry was removed
or replaced) takes no new commands and closes once its running ones end. A host whose key changed
while a connection stayed open (sshd restarted with a new key, its old sessions still running)
keeps that connection, which still talks to the process that proved the old key, until it drops
or known_hosts changes; every new connection is checked against the file as it is.
"""

from __future__ import annotations

import os

from qemu_mcp.transport.sshlib import asyncssh

DEFAULT_PORT = 22
Stamp = tuple[int, int, int] | None


def known_hosts_path(configured: str | None) -> str:
    """The file asyncssh reads for a host: the configured one, else ~/.ssh/known_hosts."""
    return configured or os.path.expanduser("~/.ssh/known_hosts")


def stamp(path: str) -> Stamp:
    """What tells that the file changed: inode, mtime and size; None when it does not exist."""
    try:
        st = os.stat(path)
    except OSError:
        return None
    return (st.st_ino, st.st_mtime_ns, st.st_size)


def _matches(path: str, host: str, addr: str, port: int) -> tuple[list[asyncssh.SSHKey], list[asyncssh.SSHKey], list]:
    """(host keys, CA keys, revoked keys) known_hosts lists for the host; nothing if unreadable."""
    if stamp(path) is None:
        return [], [], []
    try:
        found = asyncssh.match_known_hosts(path, host, addr, None if port == DEFAULT_PORT else port)
    except (OSError, ValueError, asyncssh.Error):
        return [], [], []
    return list(found[0]), list(found[1]), list(found[2])


def trusts(path: str, key: asyncssh.SSHKey | None, host: str, addr: str, port: int) -> bool:
    """Does known_hosts at `path` still trust `key` for host:port? A connection verified by a host
    certificate (its key is listed nowhere) stays trusted while a CA is listed for the host."""
    if key is None:
        return False
    host_keys, ca_keys, revoked = _matches(path, host, addr, port)
    if any(k.public_data == key.public_data for k in revoked):
        return False
    return any(k.public_data == key.public_data for k in host_keys) or bool(ca_keys)


def lists_keys_for(path: str, host: str, port: int) -> bool:
    """Does known_hosts list any key for host:port? (A refused key then CHANGED, else it is unknown.)"""
    host_keys, ca_keys, _ = _matches(path, host, host, port)
    return bool(host_keys or ca_keys)
