"""Parse `virsh list --all` (table) and `virsh list --name` / `--uuid` (one per line).

The table (libvirt 9.0, LC_ALL=C)::

     Id   Name           State
    -------------------------------
     2    qmcp-cap-run   running
     -    qmcp-cap-off   shut off

Columns are padded to the widest cell and joined by three spaces, and names may contain
spaces (even a state word: "x   shut off"), so the name column starts where "Name" starts in
the header and the state is the known word at the end of the row. Two losses are virsh's,
not ours: trailing spaces of a name are indistinguishable from padding, and under LC_ALL=C
virsh prints every byte of a non-ASCII name as a literal "\\xff". Use `list --name` when the
exact name matters.
"""

from __future__ import annotations

import re

from qemu_mcp.parsers.virsh_table import header_and_rows

# The words virsh prints (virshDomainStateToString, C locale), longest first for the regex.
STATE_WORDS = ("in shutdown", "pmsuspended", "shut off", "no state", "running", "crashed", "paused", "idle")
_ROW = re.compile(r"^(?P<name>.*?)\s+(?P<state>" + "|".join(map(re.escape, STATE_WORDS)) + r")\s*$")
# Fallback for unknown (e.g. translated) states: the single-spaced words after the last 2+ spaces.
_ROW_ANY = re.compile(r"^(?P<name>.*?)\s{2,}(?P<state>\S+(?: \S+)*)\s*$")


def _name_column(header: str) -> int:
    # Second column of the header line, whatever its (possibly translated) words.
    match = re.match(r"^\s*\S+\s+", header)
    if match is None:
        raise ValueError(f"cannot read the header of virsh list: {header!r}")
    return match.end()


def parse_virsh_list(text: str) -> list[dict[str, int | str | None]]:
    """Rows of `virsh list --all`: {"id": int | None ("-" when inactive), "name", "state"}."""
    header, lines = header_and_rows(text, "virsh list output")
    if not header:
        return []
    name_col = _name_column(header)
    rows: list[dict[str, int | str | None]] = []
    for line in lines:
        id_text = line[:name_col].strip()
        match = _ROW.match(line[name_col:]) or _ROW_ANY.match(line[name_col:])
        if not id_text or match is None:
            raise ValueError(f"cannot parse virsh list row: {line!r}")
        rows.append(
            {
                "id": None if id_text == "-" else int(id_text),
                "name": match.group("name").rstrip(),
                "state": match.group("state"),
            }
        )
    return rows


def parse_name_lines(text: str) -> list[str]:
    """`virsh list --name` / `--uuid`: one entry per line, blank lines skipped.

    Lines are not stripped: a domain name may begin or end with spaces.
    """
    return [line.rstrip("\r") for line in text.splitlines() if line.strip()]
