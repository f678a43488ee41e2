"""upload_image over SFTP on the runner's own SSH connection (transport/copy.py has the local copy).
The destination is created exclusively (never replaces a file); progress after each chunk."""

from __future__ import annotations

import os

from qemu_mcp.errors import CommandFailed, Conflict
from qemu_mcp.transport.copy import CHUNK, CopyProgress
from qemu_mcp.transport.sshlib import asyncssh


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
