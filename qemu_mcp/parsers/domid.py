"""Parse `virsh domid`: the domain ID of a running domain, '-' for a shut-off one."""

from __future__ import annotations


def parse_domid(text: str) -> int | None:
    """The ID, or None when the domain is not running (or the section is empty: virsh failed)."""
    word = text.strip()
    return int(word) if word.isdigit() else None
