"""The one place where asyncssh and OS errors become qemu-mcp errors."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from contextlib import contextmanager

import asyncssh

from qemu_mcp.errors import AuthFailed, CommandTimeout, HostError, HostKeyRefused, HostUnreachable


def _known_hosts_hint(where: str, known_hosts: str | None) -> str:
    target = known_hosts or "~/.ssh/known_hosts"
    return (
        f"add the host's key to {target} after checking it, e.g. `ssh-keyscan -p PORT {where} >> {target}` "
        "(compare the fingerprint with `ssh-keygen -lf /etc/ssh/ssh_host_ed25519_key.pub` on the host)"
    )


@contextmanager
def mapped_errors(
    host: str, where: str, *, known_hosts: str | None = None, timeout: float | None = None
) -> Iterator[None]:
    """Translate transport exceptions raised inside the block. `where` is user@address:port."""
    try:
        yield
    except HostError:
        raise
    except asyncssh.HostKeyNotVerifiable as e:
        raise HostKeyRefused(
            f"host key of host '{host}' ({where}) was refused: {e.reason}. It is unknown or has changed; "
            + _known_hosts_hint(where.rpartition("@")[2].rsplit(":", 1)[0], known_hosts),
            host,
        ) from None
    except asyncssh.PermissionDenied as e:
        raise AuthFailed(
            f"authentication to host '{host}' ({where}) failed: {e.reason or 'permission denied'}; "
            "check the user, the key (and that it is in the host's authorized_keys) or the password",
            host,
        ) from None
    except (asyncssh.ConnectionLost, asyncssh.DisconnectError) as e:
        raise HostUnreachable(f"connection to host '{host}' ({where}) was lost: {e.reason}", host) from None
    except asyncssh.TimeoutError as e:  # a command's own timeout (asyncssh.ProcessError subclass)
        raise CommandTimeout(
            f"command on host '{host}' did not finish within {timeout} s and was abandoned"
            f" ({' '.join((e.command or '').split()[:3])} ...)",
            host,
        ) from None
    except TimeoutError:
        raise HostUnreachable(
            f"host '{host}' ({where}) did not answer within {timeout} s; check address, port and firewall",
            host,
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
