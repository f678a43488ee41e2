"""Pure argv builder: read the first line a TCP port on the host's 127.0.0.1 sends (an SSH banner).

Runs ON the host (bash's /dev/tcp, bounded by `timeout`): qemu-mcp never connects to a guest
itself; a forward on the host's loopback is what answers.
"""

from __future__ import annotations

BANNER_SCRIPT = r'exec 3<>"/dev/tcp/127.0.0.1/$1" && IFS= read -r -t "$2" line <&3 && printf "%s\n" "$line"'


def first_line(port: int, seconds: int = 4) -> list[str]:
    if not 0 < port < 65536 or not 0 < seconds < 60:
        raise ValueError(f"port {port} or wait {seconds} s out of range")
    return ["timeout", str(seconds + 1), "bash", "-c", BANNER_SCRIPT, "qemu-mcp-banner", str(port), str(seconds)]


def is_ssh_banner(text: str) -> bool:
    return text.lstrip().startswith("SSH-")
