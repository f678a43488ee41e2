"""Parse `virsh dominfo`: we only need what the domain XML lacks (persistent, autostart)."""

from __future__ import annotations


def parse_dominfo(text: str) -> dict[str, str]:
    """'Key:   value' lines into {key lower-cased: value}."""
    info: dict[str, str] = {}
    for line in text.splitlines():
        key, sep, value = line.partition(":")
        if sep and key.strip():
            info[key.strip().lower()] = value.strip()
    return info


def flag(info: dict[str, str], key: str) -> bool | None:
    value = info.get(key)
    if value is None:
        return None
    return value.lower() in ("yes", "enable", "enabled")
