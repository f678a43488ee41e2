"""Parse virsh's tables (vshTable, libvirt >= 5.x, LC_ALL=C): `vol-list`, `net-dhcp-leases`, ...

     Name             Path
    -------------------------------------------------
     base.qcow2       /pool/base.qcow2
     over lay.qcow2   /pool/over lay.qcow2

Every cell is padded to its column's widest cell and cells are joined by three spaces, so a
column starts where its header label starts. Labels may hold single spaces ("MAC address"), cells
too ("over lay.qcow2"), so rows are cut at the header's positions, never split on spaces. Under
LC_ALL=C virsh prints each non-ASCII byte as a literal "\\xNN" and pads by that printed width, so
the positions hold; trailing spaces of the last column are indistinguishable from padding.
"""

from __future__ import annotations

import re

_LABEL_GAP = re.compile(r"\s{2,}")  # between header labels; a label holds single spaces at most


def _header_columns(header: str) -> list[tuple[str, int]]:
    """(label, start column) of each header label."""
    columns: list[tuple[str, int]] = []
    pos = len(header) - len(header.lstrip())
    for label in _LABEL_GAP.split(header.strip()):
        pos = header.index(label, pos)
        columns.append((label, pos))
        pos += len(label)
    return columns


def header_and_rows(text: str, what: str) -> tuple[str, list[str]]:
    """The header line above the ruler of dashes, and the non-blank lines below it. ("", []) for
    blank text; ValueError (naming `what`) for other text without a header and ruler."""
    lines = [line.rstrip("\r") for line in text.splitlines()]
    rule = next((i for i, line in enumerate(lines) if line.strip() and set(line.strip()) == {"-"}), None)
    if rule is None or rule == 0:
        if any(line.strip() for line in lines):
            raise ValueError(f"not {what}: no header and ruler line")
        return "", []
    return lines[rule - 1], [line for line in lines[rule + 1 :] if line.strip()]


def parse_table(text: str) -> list[dict[str, str]]:
    """Rows as {header label: cell}; cells keep their leading spaces, lose the padding after them.
    [] for an empty table; ValueError for text that is not a virsh table."""
    header, lines = header_and_rows(text, "a virsh table")
    columns = _header_columns(header)
    rows = []
    for line in lines:
        cells = {}
        for i, (label, start) in enumerate(columns):
            end = columns[i + 1][1] if i + 1 < len(columns) else len(line)
            cells[label] = line[start:end].rstrip()
        rows.append(cells)
    return rows
