"""Copy a local file to a host (upload_image): SFTP on the runner's own SSH connection, or a plain
copy for the local host. The destination is created exclusively (never replaces a file); progress
is reported after each chunk as (bytes done, total)."""

from __future__ import annotations

import asyncio
import os
from collections.abc import Awaitable, Callable
from typing import BinaryIO

import asyncssh

from qemu_mcp.errors import CommandFailed, Conflict

CopyProgress = Callable[[int, int], Awaitable[None]]
CHUNK = 4 * 1024 * 1024  # asyncssh splits a large write into parallel SFTP requests


async def sftp_put(
    conn: asyncssh.SSHClientConnection, host: str, local: str, remote: str, progress: CopyProgress
) -> int:
    total = os.path.getsize(local)
    done = 0
    try:
        async with conn.start_sftp_client() as sftp, sftp.open(remote, "xb") as dest:
            with open(local, "rb") as src:
                while chunk := src.read(CHUNK):
                    await dest.write(chunk)
                    done += len(chunk)
                    await progress(done, total)
    except asyncssh.SFTPFileAlreadyExists:
        raise Conflict(f"{remote} already exists on host '{host}'") from None
    except asyncssh.SFTPError as e:
        raise CommandFailed(
            f"copying {local} to {remote} on host '{host}' over SFTP failed: {e.reason}", host
        ) from None
    return done


def _copy(src: BinaryIO, dest: BinaryIO) -> int:
    chunk = src.read(CHUNK)
    if chunk:
        dest.write(chunk)
    return len(chunk)


async def local_copy(host: str, local: str, remote: str, progress: CopyProgress) -> int:
    total = os.path.getsize(local)
    done = 0
    try:
        with open(local, "rb") as src, open(remote, "xb") as dest:
            while n := await asyncio.to_thread(_copy, src, dest):
                done += n
                await progress(done, total)
    except FileExistsError:
        raise Conflict(f"{remote} already exists on host '{host}'") from None
    except OSError as e:
        raise CommandFailed(f"copying {local} to {remote} on host '{host}' failed: {e}", host) from None
    return done
