"""Where log records go: stderr, quiet by default, never with a secret in them.

WARNING unless `--log-level` or $QEMU_MCP_LOG_LEVEL says otherwise. Plain lines when stderr is
not a terminal (an MCP client's log file, a pipe); rich only on a terminal. asyncssh logs every
channel at INFO (with the whole host script), so its logger stays at WARNING unless the level is
debug; its own debug level stays at its default 1 (2 and up log packets, passwords included).
Every record passes `RedactSecrets` first.
"""

from __future__ import annotations

import logging
import os
import sys
from typing import TextIO

from qemu_mcp.errors import ConfigError
from qemu_mcp.redaction import RedactSecrets

LEVEL_ENV = "QEMU_MCP_LOG_LEVEL"
LEVELS = ("debug", "info", "warning", "error", "critical")
DEFAULT_LEVEL = "warning"
CHATTY = ("asyncssh",)  # per-channel INFO lines: shown only at debug
PLAIN_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


def level_name(option: str | None) -> str:
    """--log-level, else $QEMU_MCP_LOG_LEVEL, else warning (case does not matter)."""
    name = (option or os.environ.get(LEVEL_ENV) or DEFAULT_LEVEL).strip().lower()
    if name not in LEVELS:
        where = "--log-level" if option else f"${LEVEL_ENV}"
        raise ConfigError(f"{where} {name!r} is not a log level: use one of {', '.join(LEVELS)}")
    return name


class _StderrHandler(logging.StreamHandler):
    """Writes to whatever sys.stderr is at the time (tests and servers may swap it)."""

    def __init__(self) -> None:
        super().__init__()

    @property
    def stream(self) -> TextIO:
        return sys.stderr

    @stream.setter
    def stream(self, _value: TextIO) -> None:
        pass


def _handler() -> logging.Handler:
    if sys.stderr.isatty():
        from rich.console import Console
        from rich.logging import RichHandler

        handler: logging.Handler = RichHandler(console=Console(stderr=True), show_path=False)
    else:
        handler = _StderrHandler()
        handler.setFormatter(logging.Formatter(PLAIN_FORMAT))
    handler.addFilter(RedactSecrets())
    handler.set_name("qemu-mcp")
    return handler


def configure(option: str | None = None) -> str:
    """Install the one stderr handler on the root logger (replacing an earlier one). Returns the level name.

    Installed before the MCP SDK builds its server, so the SDK's own logging set-up (rich, INFO)
    finds a configured root logger and does nothing."""
    name = level_name(option)
    level = getattr(logging, name.upper())
    root = logging.getLogger()
    for old in [h for h in root.handlers if h.get_name() == "qemu-mcp"]:
        root.removeHandler(old)
    root.addHandler(_handler())
    root.setLevel(level)
    for chatty in CHATTY:
        logging.getLogger(chatty).setLevel(level if name == "debug" else max(level, logging.WARNING))
    return name
