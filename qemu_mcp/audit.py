"""The audit log: one JSON line when a mutating action starts (its intent) and one when it ends.

Each record is appended, flushed and fsync'd before the call goes on, so the intent record of an
action is on disk before its first command runs and survives a crash of the server mid-action.
Secrets never reach it: arguments are redacted by name (`ssh_pwd`, ...), and nothing else we
record holds one. If the log cannot be written the action is refused (fail closed).

    {"event": "intent", "id": "...", "time": "...", "who": "alice", "tool": "manage_vm",
     "action": "delete", "host": "lab1", "vm": "web1", "arguments": {...}, "argv": null}
    {"event": "end", "id": "...", "time": "...", "outcome": "ok|refused|failed|cancelled",
     "duration_s": 1.23, "message": "...", "error": null, "commands": [{"argv": [...], ...}]}
"""

from __future__ import annotations

import json
import os
import secrets
import threading
import time
from collections.abc import Iterable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from qemu_mcp.errors import ConfigError

DEFAULT_AUDIT_LOG = "~/.local/state/qemu-mcp/audit.jsonl"
AUDIT_ENV = "QEMU_MCP_AUDIT_LOG"
REDACTED = "[redacted]"
SECRET_ARGS = frozenset({"ssh_pwd", "password", "token", "api_key"})


def audit_path(configured: str | None = None) -> Path:
    """hosts.yaml's `audit_log`, else $QEMU_MCP_AUDIT_LOG, else ~/.local/state/qemu-mcp/audit.jsonl."""
    return Path(configured or os.environ.get(AUDIT_ENV) or DEFAULT_AUDIT_LOG).expanduser()


def redact(arguments: dict[str, Any]) -> dict[str, Any]:
    return {k: (REDACTED if k in SECRET_ARGS and v is not None else v) for k, v in arguments.items()}


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


class AuditLog:
    def __init__(self, path: str | Path | None = None) -> None:
        self.path = Path(path).expanduser() if path is not None else audit_path()
        self._lock = threading.Lock()

    def append(self, record: dict[str, Any]) -> None:
        """One line, written with a single write(2) on an O_APPEND descriptor, then fsync'd."""
        line = (json.dumps(record, ensure_ascii=False, default=str, separators=(",", ":")) + "\n").encode()
        with self._lock:
            try:
                self.path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
                fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC, 0o600)
                try:
                    os.write(fd, line)
                    os.fsync(fd)
                finally:
                    os.close(fd)
            except OSError as e:
                raise ConfigError(
                    f"cannot write the audit log {self.path} ({e.strerror or e}); nothing was done. "
                    "Fix its permissions or set `audit_log:` in hosts.yaml"
                ) from None

    def begin(
        self,
        *,
        who: str,
        tool: str,
        action: str,
        host: str,
        vm: str | None,
        arguments: dict[str, Any],
        argv: list[list[str]] | None = None,
    ) -> AuditEntry:
        entry = AuditEntry(self, secrets.token_hex(8), who, tool, action, host, vm)
        self.append(
            {
                "event": "intent",
                "id": entry.id,
                "time": _now(),
                "who": who,
                "tool": tool,
                "action": action,
                "host": host,
                "vm": vm,
                "arguments": redact(arguments),
                "argv": argv,
            }
        )
        return entry

    def tail(self, n: int) -> list[dict[str, Any]]:
        """The last n records (oldest first); a line that is not JSON (a torn write) is skipped."""
        if not self.path.exists():
            return []
        with self.path.open("rb") as f:
            lines = f.read().splitlines()
        out: list[dict[str, Any]] = []
        for raw in lines[-n:] if n > 0 else []:
            try:
                out.append(json.loads(raw))
            except ValueError:
                continue
        return out


class AuditEntry:
    """One action's pair of records: `begin` wrote the intent, `end` writes the outcome."""

    def __init__(self, log: AuditLog, id: str, who: str, tool: str, action: str, host: str, vm: str | None) -> None:
        self.log, self.id, self.who, self.tool, self.action, self.host, self.vm = log, id, who, tool, action, host, vm
        self.started = time.monotonic()
        self.commands: Iterable[Any] = ()  # the Job's CommandRecords, attached once it exists
        self.ended = False
        self.vm_uuid: str | None = None  # the VM the call resolved `vm` to (its UUID), once known

    def end(self, outcome: str, *, message: str | None = None, error: BaseException | None = None) -> None:
        if self.ended:
            return
        self.ended = True
        self.log.append(
            {
                "event": "end",
                "id": self.id,
                "time": _now(),
                "who": self.who,
                "tool": self.tool,
                "action": self.action,
                "host": self.host,
                "vm": self.vm,
                "vm_uuid": self.vm_uuid,
                "outcome": outcome,
                "duration_s": round(time.monotonic() - self.started, 3),
                "message": message,
                "error": str(error) if error is not None else None,
                "error_kind": type(error).__name__ if error is not None else None,
                "commands": [
                    {"argv": c.argv, "changes_host": c.changes_host, "ran": c.ran, "exit_status": c.exit_status}
                    for c in self.commands
                    if c.changes_host
                ],
            }
        )
