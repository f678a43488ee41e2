"""The one place where asyncssh and OS errors become qemu-mcp errors."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from contextlib import contextmanager

from qemu_mcp.errors import AuthFailed, CommandTimeout, HostError, HostKeyRefused, HostUnreachable
from qemu_mcp.transport import trust
from qemu_mcp.transport.sshlib import asyncssh
from qemu_mcp.transport.timing import silence_limit


def _refused_key(host: str, where: str, known_hosts: str | None) -> str:
    """Why the host key was refused (unknown, or changed since known_hosts recorded it) and the fix."""
    address, _, port_text = where.rpartition("@")[2].rpartition(":")
    port = int(port_text) if port_text.isdigit() else trust.DEFAULT_PORT
    path = trust.known_hosts_path(known_hosts)
    entry = address if port == trust.DEFAULT_PORT else f"[{address}]:{port}"
    check = "check the key's fingerprint on the host first (`ssh-keygen -lf /etc/ssh/ssh_host_ed25519_key.pub`)"
    add = f"`ssh-keyscan -p {port} {address} >> {path}`"
    if trust.lists_keys_for(path, address, port):
        return (
            f"the host key of host '{host}' ({where}) has CHANGED: {path} lists another key for {entry}. "
            "The host was reinstalled or its keys regenerated, or someone is in the middle; nothing was "
            f"sent to it. If the change is expected, {check}, then replace the entry: "
            f"`ssh-keygen -f {path} -R '{entry}'` and {add}"
        )
    return f"the host key of host '{host}' ({where}) is unknown: {path} has no entry for {entry}; {check}, then {add}"


@contextmanager
def mapped_errors(
    host: str,
    where: str,
    *,
    known_hosts: str | None = None,
    timeout: float | None = None,
    connect_timeout: float | None = None,
    program: str | None = None,
) -> Iterator[None]:
    """Translate transport exceptions raised inside the block. `where` is user@address:port;
    `timeout` the wait that ran out, if one does; `connect_timeout` the host's; `program` the one
    the command runs."""
    try:
        yield
    except HostError:
        raise
    except asyncssh.HostKeyNotVerifiable:
        raise HostKeyRefused(_refused_key(host, where, known_hosts), host) from None
    except asyncssh.PermissionDenied as e:
        raise AuthFailed(
            f"authentication to host '{host}' ({where}) failed: {e.reason or 'permission denied'}; "
            "check the user, the key (and that it is in the host's authorized_keys) or the password",
            host,
        ) from None
    except (asyncssh.ConnectionLost, asyncssh.DisconnectError) as e:
        raise _lost(host, where, e.reason, connect_timeout) from None
    except asyncssh.TimeoutError as e:  # a command's own timeout (asyncssh.ProcessError subclass)
        raise CommandTimeout(
            f"command on host '{host}' did not finish within {timeout} s and was abandoned"
            f" ({program or ' '.join((e.command or '').split()[:3])} ...)",
            host,
        ) from None
    except TimeoutError:
        raise HostUnreachable(
            f"host '{host}' ({where}) did not answer within {timeout:g} s (connect_timeout); check that it is up, "
            "its address and port, and that no firewall drops SSH",
            host,
            silent=True,
        ) from None
    except socket.gaierror as e:
        raise HostUnreachable(
            f"host '{host}' ({where}): the name does not resolve ({e.strerror})", host
        ) from None
    except ConnectionRefusedError:
        raise HostUnreachable(
            f"host '{host}' ({where}) refused the connection: is sshd running on that port?", host
        ) from None
    except asyncssh.KeyImportError as e:
        raise AuthFailed(f"host '{host}': cannot load the SSH key: {e}", host) from None
    except OSError as e:
        raise HostUnreachable(f"host '{host}' ({where}) is unreachable: {e.strerror or e}", host) from None
    except asyncssh.ChannelOpenError as e:
        raise HostUnreachable(
            f"host '{host}' ({where}) refused a new SSH channel: {e.reason}", host
        ) from None
    except asyncssh.Error as e:
        raise HostUnreachable(f"SSH error with host '{host}' ({where}): {e.reason}", host) from None


def _lost(host: str, where: str, reason: str, connect_timeout: float | None) -> HostUnreachable:
    if "keepalive" in reason and connect_timeout is not None:  # asyncssh: "Server not responding to keepalive"
        return HostUnreachable(
            f"host '{host}' ({where}) stopped answering: nothing came back for {silence_limit(connect_timeout):g} s "
            f"(connect_timeout {connect_timeout:g} s), so its connection was dropped; check that the host is up "
            "and its network reachable; the next call reconnects",
            host,
            silent=True,
        )
    return HostUnreachable(
        f"connection to host '{host}' ({where}) was lost: {reason}; check that the host and its sshd are up; "
        "the next call reconnects",
        host,
    )
