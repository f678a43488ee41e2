"""asyncssh, imported for every SSH transport module from here: without its liboqs probe's compiler runs.

On import, asyncssh looks for liboqs (post-quantum key exchange) with `ctypes.util.find_library`,
twice. On Linux, for a library that is not in the dynamic linker's cache, that runs `ldconfig -p`,
then gcc, then ld (tens of milliseconds each where a compiler is installed): most of asyncssh's
import time on a machine without liboqs, paid by every CLI command that reaches a remote host.
A library the process can load without a path is in that cache or on LD_LIBRARY_PATH, so while
asyncssh is imported the lookup is answered from those two places only; asyncssh still finds and
uses a liboqs it can load. Any other platform, or a Python without that lookup, is left as it is.
"""

from __future__ import annotations

import ctypes.util
import os
import sys
from collections.abc import Callable
from pathlib import Path


def _loadable_only(in_cache: Callable[[str], str | None]) -> Callable[[str], str | None]:
    def find_library(name: str) -> str | None:
        found = in_cache(name)
        if found:
            return found
        for d in filter(None, os.environ.get("LD_LIBRARY_PATH", "").split(":")):
            hits = sorted(Path(d).glob(f"lib{name}.so*")) if Path(d).is_dir() else []
            if hits:
                return hits[0].name
        return None

    return find_library


_in_cache = getattr(ctypes.util, "_findSoname_ldconfig", None)
_original = ctypes.util.find_library
if sys.platform.startswith("linux") and _in_cache is not None and "asyncssh" not in sys.modules:
    ctypes.util.find_library = _loadable_only(_in_cache)  # type: ignore[assignment]
try:
    import asyncssh
finally:
    ctypes.util.find_library = _original

__all__ = ["asyncssh"]
