"""Which TCP ports a host listens on (to pick a free one for a forward). Pure argv builder."""

from __future__ import annotations

# /proc/net/tcp{,6}: no program needed beyond sh and cat; parsers.qemu_host.listening_ports reads it.
TCP_LISTEN_SCRIPT = "cat /proc/net/tcp /proc/net/tcp6 2>/dev/null; exit 0"


def tcp_listeners() -> list[str]:
    return ["sh", "-c", TCP_LISTEN_SCRIPT, "qmcp-listeners"]
