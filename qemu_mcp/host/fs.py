"""Pure argv builders for file-system steps on a host: look at paths, reserve a file, make and
remove directories, remove files. Paths are positional arguments of fixed scripts, never code."""

from __future__ import annotations

from collections.abc import Sequence

from qemu_mcp import validation

# One line per argument, in order: file, dir, other (exists but neither) or missing.
PATH_STATUS_SCRIPT = r"""
for p do
  if [ -f "$p" ]; then echo file
  elif [ -d "$p" ]; then echo dir
  elif [ -e "$p" ] || [ -L "$p" ]; then echo other
  else echo missing
  fi
done
"""

# Create $1 only if nothing is there (noclobber opens with O_EXCL): two callers racing for one
# path cannot both win, even from different processes.
RESERVE_SCRIPT = 'set -C; : > "$1"'


def _paths(paths: Sequence[str]) -> list[str]:
    return [validation.abs_path(p) for p in paths]


def path_status(paths: Sequence[str]) -> list[str]:
    return ["sh", "-c", PATH_STATUS_SCRIPT, "qmcp-path-status", *_paths(paths)]


def reserve_file(path: str) -> list[str]:
    return ["sh", "-c", RESERVE_SCRIPT, "qmcp-reserve", validation.abs_path(path)]


def make_dirs(dirs: Sequence[str]) -> list[str]:
    """Each missing level listed explicitly (parents first), so each gets mode 0755 (the qemu user
    must traverse them) and the undo knows exactly which directories the call created."""
    return ["mkdir", "-p", "-m", "0755", "--", *_paths(dirs)]


def remove_empty_dirs(dirs: Sequence[str]) -> list[str]:
    """Children first; a directory someone else has put files in meanwhile is left alone."""
    return ["rmdir", "--ignore-fail-on-non-empty", "--", *_paths(dirs)]


def remove_files(paths: Sequence[str]) -> list[str]:
    return ["rm", "-f", "--", *_paths(paths)]


def real_paths(paths: Sequence[str]) -> list[str]:
    """Every path with its symlinks resolved ON THE HOST, NUL-terminated, in order (-m: no component
    needs to exist). One process for all of them: the allowed_paths policy check is one round trip."""
    return ["realpath", "-m", "-z", "--", *_paths(paths)]
