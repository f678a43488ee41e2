"""Guest architectures by one name each: the aliases other tools use (Debian's amd64/arm64, some
`uname -m` outputs) mapped onto QEMU's names, which every other module uses."""

from __future__ import annotations

ALIASES = {"x86_64": "x86_64", "amd64": "x86_64", "aarch64": "aarch64", "arm64": "aarch64"}


def canonical(name: str | None) -> str | None:
    """QEMU's name for an arch or one of its aliases (any case); None for an arch we do not know."""
    return ALIASES.get((name or "").lower())
