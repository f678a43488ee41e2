"""How long an SSH call may wait, derived from the host's connect_timeout and command_timeout only.

- A host must answer within connect_timeout: when connecting, when opening a session on the kept
  connection, and on an idle or busy kept connection (keepalives, below).
- A command runs at most its timeout (command_timeout unless the caller gives one).
- A read may be tried again after a lost or refused connection, never after silence, and all its
  attempts together stay within connect_timeout + its timeout (`read_budget`). A change is never
  tried again: it may have run.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

from qemu_mcp.errors import HostUnreachable

READ_ATTEMPTS = 3
KEEPALIVE_MIN = 1.0  # seconds between keepalives, at least
CONNECT_SLACK = 1.0  # over connect_timeout: asyncssh's own timeout fires first, with its reason


def keepalive_options(connect_timeout: float) -> dict[str, float | int]:
    """asyncssh sends a keepalive after `interval` s without traffic and drops the connection when
    more than `count_max` of them went unanswered, i.e. after (count_max + 1) * interval s of
    silence. With these, a kept connection to a host that fell silent is dropped connect_timeout
    later (2 * KEEPALIVE_MIN at least), whether a command is running on it or not."""
    return {"keepalive_interval": max(KEEPALIVE_MIN, connect_timeout / 2), "keepalive_count_max": 1}


def silence_limit(connect_timeout: float) -> float:
    """Seconds of silence after which the keepalives above drop a connection."""
    options = keepalive_options(connect_timeout)
    return (options["keepalive_count_max"] + 1) * options["keepalive_interval"]


def read_budget(connect_timeout: float, timeout: float) -> float:
    """Every attempt of one read, with the pauses between them: one connect and the command."""
    return connect_timeout + timeout


def retry_pause(attempt: int) -> float:
    """Seconds to wait after failed attempt `attempt` (1-based): 0.2, 0.4, 0.8 ... at most 2."""
    return min(2.0, 0.2 * 2 ** (attempt - 1))


def worth_retrying(error: BaseException, attempt: int, left: float, connect_timeout: float) -> bool:
    """Try a read again after attempt `attempt` failed with `error`, `left` s before its deadline?
    Only after a lost or refused connection (a reconnect may well work at once), never after
    silence (it would wait as long again), and only while the pause leaves time for a connect."""
    if not isinstance(error, HostUnreachable) or error.silent:
        return False
    return attempt < READ_ATTEMPTS and left > retry_pause(attempt) + connect_timeout


@dataclass(frozen=True)
class Deadline:
    """A point on the event loop's clock (the one asyncio.timeout_at uses)."""

    at: float

    @classmethod
    def after(cls, seconds: float) -> Deadline:
        return cls(asyncio.get_running_loop().time() + seconds)

    def left(self) -> float:
        return self.at - asyncio.get_running_loop().time()
