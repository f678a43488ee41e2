#!/usr/bin/env python3
"""Send QMP commands to a socket the way qemu-mcp's QMPClient does; print every line QEMU sends.

usage: qmp_session.py SOCKET COMMAND[=JSON-ARGUMENTS]...

The first line read is QEMU's greeting. Each COMMAND goes out as json.dumps({"execute": COMMAND,
"id": N}) with N = 1, 2, ... (plus "arguments" when given), exactly the bytes QMPClient writes,
and lines are read up to the reply carrying that id (events arriving meanwhile are printed too).
After `quit`, the rest is read until QEMU closes (or resets) the socket. stdout is the bytes as received.
Standard library only: it talks to QEMU directly, not through qemu-mcp.
"""

from __future__ import annotations

import contextlib
import json
import socket
import sys
from typing import Any

TIMEOUT_S = 10


def request(word: str, request_id: int) -> bytes:
    command, sep, arguments = word.partition("=")
    message: dict[str, Any] = {"execute": command, "id": request_id}
    if sep:
        message["arguments"] = json.loads(arguments)
    return json.dumps(message).encode() + b"\n"


def main(args: list[str]) -> int:
    if len(args) < 2:
        raise SystemExit(__doc__)
    path, words = args[0], args[1:]
    out = sys.stdout.buffer
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
        s.settimeout(TIMEOUT_S)
        s.connect(path)
        lines = s.makefile("rb")
        out.write(lines.readline())  # the greeting
        for request_id, word in enumerate(words, start=1):
            s.sendall(request(word, request_id))
            while True:
                line = lines.readline()
                if not line:
                    return 0  # QEMU closed the socket
                out.write(line)
                if json.loads(line).get("id") == request_id:
                    break
        if words[-1] == "quit":
            with contextlib.suppress(ConnectionResetError):  # QEMU may reset rather than close as it exits
                out.writelines(iter(lines.readline, b""))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
