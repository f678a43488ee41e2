"""Secrets never reach a log line, at any level.

Two nets, applied by `RedactSecrets` (a logging filter on the handler that writes to stderr):
- known values: every password and token qemu-mcp handles is `remember`ed where it enters (an SSH
  password used or named per call, an env token), and replaced wherever it appears in a record;
- shapes: `Bearer X`, and the value of a secret-named key (`"ssh_pwd": "X"`, `password=X`,
  `x-api-key: X`, ...), which catches a secret logged before anyone could remember it (a request
  logged by the MCP SDK as it arrives).
"""

from __future__ import annotations

import logging
import re
import threading
from collections import OrderedDict

REDACTED = "[redacted]"
MIN_LENGTH = 4  # shorter "secrets" would redact ordinary words
KEEP = 256  # known values kept (a long-running server sees many per-call passwords)

# password_hash, user_data: cloud_init's (issue 11); passwordHash: Ignition's
_SECRET_KEY = (
    r"(?:ssh_pwd|password_hash|passwordhash|user_data|password|passwd|pwd|token|api_key|x-api-key|secret"
    r"|authorization)"
)
_NOT_NULL = r"(?!null\b|none\b|\[redacted\])"
_SHAPES = (
    # Authorization: Bearer X (headers and their reprs)
    (re.compile(r"(?i)(\bbearer\s+)(?!\[redacted\])[^\s\"',;)\]}]+"), r"\1" + REDACTED),
    # "key": "value" (JSON; escape-aware, so a quote inside the value does not end it)
    (re.compile(rf'(?i)(\b{_SECRET_KEY}"\s*:\s*"){_NOT_NULL}(?:\\.|[^"\\])*'), r"\1" + REDACTED),
    # 'key': 'value' (Python reprs)
    (re.compile(rf"(?i)(\b{_SECRET_KEY}'\s*:\s*'){_NOT_NULL}(?:\\.|[^'\\])*"), r"\1" + REDACTED),
    # key=value, key: value, \"key\": \"value\", (b'x-api-key', b'value')
    (
        re.compile(
            rf"""(?i)(\b{_SECRET_KEY}(?:\\?["']\s*[:=,]|\s*[:=])\s*+(?-i:b)?+\\?+["']?+)(?!bearer\s){_NOT_NULL}"""
            r"""[^\s"'\\,;&)\]}]+"""
        ),
        r"\1" + REDACTED,
    ),
)

_known: OrderedDict[str, None] = OrderedDict()
_lock = threading.Lock()


def remember(value: str | None) -> None:
    """A secret to hide wherever it shows up in a log record from now on."""
    if value is None or len(value) < MIN_LENGTH:
        return
    with _lock:
        _known[value] = None
        _known.move_to_end(value)
        while len(_known) > KEEP:
            _known.popitem(last=False)


def redact(text: str) -> str:
    with _lock:
        known = sorted(_known, key=len, reverse=True)  # a longer secret may contain a shorter one
    for value in known:
        if value in text:
            text = text.replace(value, REDACTED)
    for pattern, replacement in _SHAPES:
        text = pattern.sub(replacement, text)
    return text


class RedactSecrets(logging.Filter):
    """Rewrites each record in place: its message (args merged in), exception and stack text."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # a broken format string: keep its parts, still redacted
            message = f"{record.msg} {record.args!r}"
        record.msg, record.args = redact(message), None
        if record.exc_info and record.exc_info != (None, None, None):
            record.exc_text = redact(logging.Formatter().formatException(record.exc_info))
            record.exc_info = None  # handlers render exc_text; rich would render the raw exception
        elif record.exc_text:
            record.exc_text = redact(record.exc_text)
        if record.stack_info:
            record.stack_info = redact(record.stack_info)
        return True
