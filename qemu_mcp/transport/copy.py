"""Copy a local file to a host (upload_image): a plain copy for the local host here; SFTP on the
runner's own SSH connection in transport/sftp_copy.py (apart, so a local call never imports
asyncssh). The destination is created exclusively (never replaces a file); progress is reported
after each chunk as (bytes done, total)."""

from __future__ import annotations

import asyncio
import os
from collections.abc import Awaitable, Callable
from typing import BinaryIO

from qemu_mcp.errors import CommandFailed, Conflict

CopyProgress = Callable[[int, int], Awaitable[None]]
CHUNK = 4 * 1024 * 1024  # asyncssh splits a large write into parallel SFTP requests (transport/sftp_copy.py)


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
