"""Parse `df -B1 --output=source,fstype,size,used,avail,target -- PATH...`. Pure.

    Filesystem     Type    1B-blocks        Used       Avail Mounted on
    /dev/vda       ext4 270553174016 26605694976 82338598912 /

One line per PATH after the header, in the order given. The source comes first and the mount
point last, so either may hold spaces; the type and the three numbers in between may not.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

OUTPUT = "source,fstype,size,used,avail,target"
_ROW = re.compile(
    r"(?P<source>.+?)\s+(?P<fstype>\S+)\s+(?P<size>\d+)\s+(?P<used>\d+)\s+(?P<avail>\d+)\s+(?P<target>\S.*)"
)


@dataclass(frozen=True)
class Filesystem:
    source: str
    fstype: str
    size: int
    used: int
    available: int
    mounted_on: str


def parse_df(text: str) -> list[Filesystem]:
    """The rows after the header. ValueError for a row that does not have the six fields."""
    rows = []
    for line in text.splitlines()[1:]:
        if not line.strip():
            continue
        m = _ROW.fullmatch(line.rstrip())
        if m is None:
            raise ValueError(f"cannot parse df row: {line!r}")
        rows.append(
            Filesystem(
                source=m["source"],
                fstype=m["fstype"],
                size=int(m["size"]),
                used=int(m["used"]),
                available=int(m["avail"]),
                mounted_on=m["target"],
            )
        )
    return rows
