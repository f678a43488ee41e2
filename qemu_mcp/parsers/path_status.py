"""Parse the output of `commands.fs.path_status`: one word per path, in order."""

from __future__ import annotations

from typing import Literal, cast

PathKind = Literal["file", "dir", "other", "missing"]
KINDS = ("file", "dir", "other", "missing")


def parse_path_status(stdout: str, paths: list[str]) -> dict[str, PathKind]:
    words = stdout.split()
    if len(words) != len(paths) or any(w not in KINDS for w in words):
        raise ValueError(f"path status: expected {len(paths)} of {KINDS}, got {stdout[:200]!r}")
    return {p: cast(PathKind, w) for p, w in zip(paths, words, strict=True)}
