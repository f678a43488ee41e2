"""Pure argv builders for vm_console on the host: the tail of a serial log, a file read back as
base64 (then removed), and libvirt's screenshot. Paths and names are positional arguments."""

from __future__ import annotations

import base64
import binascii
import re

from qemu_mcp import validation
from qemu_mcp.models_console import ConsoleData
from qemu_mcp.parsers.sections import script_marker, tagged_sections

MAX_LINES = 2000
# The tail is followed by a newline: a console's last line (a login prompt) often has none, and the
# next tag must start a line of its own; fill() drops the empty line this adds after a complete one.
# `MARK tail` + the lines, or `MARK nolog` (missing/unreadable); then `MARK shot` + base64, or
# `MARK shot-error` + what failed.
TAIL = r"""
if [ -n "$log" ]; then
  if [ -r "$log" ]; then echo "$m tail"; tail -n "$n" -- "$log"; echo; else echo "$m nolog"; fi
fi
"""
TAIL_SCRIPT = "m=$1 log=$2 n=$3" + TAIL
VIRSH_SHOT_SCRIPT = (
    "m=$1 log=$2 n=$3 uri=$4 uuid=$5"
    + TAIL
    + r"""
f=$(mktemp "${TMPDIR:-/tmp}/qemu-mcp-screen.XXXXXX") || exit 1
if virsh -c "$uri" screenshot --domain "$uuid" --file "$f" >/dev/null 2>"$f.err"; then
  echo "$m shot"; base64 "$f"
else
  echo "$m shot-error"; cat "$f.err"
fi
rm -f "$f" "$f.err"
"""
)
READ_AND_REMOVE_SCRIPT = r"""
m=$1 f=$2
if [ -f "$f" ]; then echo "$m shot"; base64 "$f"; else echo "$m shot-error"; echo "$f was not written"; fi
rm -f -- "$f"
"""
_ANSI = re.compile(r"\x1b\[[0-9;?]*[ -/]*[@-~]|\x1b[()][A-Za-z0-9]|\x1b[=>78]")


def _lines(lines: int) -> str:
    if not 1 <= lines <= MAX_LINES:
        raise ValueError(f"lines must be 1 to {MAX_LINES}")
    return str(lines)


def tail(marker: str, log: str, lines: int) -> list[str]:
    return ["sh", "-c", TAIL_SCRIPT, "qemu-mcp-console", script_marker(marker), validation.abs_path(log), _lines(lines)]


def tail_and_screenshot(marker: str, log: str | None, lines: int, uri: str, uuid: str) -> list[str]:
    """libvirt: the log's tail (log None: none) and `virsh screenshot` into a temp file, read back."""
    path = validation.abs_path(log) if log else ""
    return ["sh", "-c", VIRSH_SHOT_SCRIPT, "qemu-mcp-console", script_marker(marker), path, _lines(lines),
            validation.libvirt_uri(uri), validation.domain_uuid(uuid)]  # fmt: skip


def read_and_remove(marker: str, path: str) -> list[str]:
    return ["sh", "-c", READ_AND_REMOVE_SCRIPT, "qemu-mcp-screen", script_marker(marker), validation.abs_path(path)]


def clean_lines(text: str) -> list[str]:
    """Console text as plain lines: terminal escapes and carriage-return redraws removed."""
    out = []
    lines = _ANSI.sub("", text).split("\n")
    for line in lines[:-1] if lines and lines[-1] == "" else lines:
        redraws = [part for part in line.split("\r") if part]  # a line redrawn after \r shows its last form
        shown = redraws[-1] if redraws else ""
        out.append("".join(c for c in shown if c == "\t" or c >= " "))
    return out


def fill(data: ConsoleData, stdout: str, marker: str, host: str) -> bytes | None:
    """Fill `data` from the tagged output of the console scripts; the screenshot's bytes, if any."""
    image = None
    for section in tagged_sections(stdout, marker):
        if section.tag == "tail":
            lines = clean_lines(section.text)
            data.lines = lines[:-1] if lines and lines[-1] == "" else lines
        elif section.tag == "nolog":
            data.notes.append(
                f"the serial log {data.serial_log} on host '{host}' does not exist (yet) or is unreadable"
            )
        elif section.tag == "shot":
            try:
                image = base64.b64decode("".join(section.lines), validate=True)
            except (binascii.Error, ValueError):
                data.notes.append("the screenshot came back garbled")
        elif section.tag == "shot-error":
            data.notes.append(f"no screenshot: {section.text.strip() or 'the screenshot command failed'}")
    return image
