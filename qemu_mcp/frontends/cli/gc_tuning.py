"""The cyclic garbage collector's thresholds: raised while a command starts (frontends/cli/entry.py),
the defaults for a long-running server."""

from __future__ import annotations

import gc

DEFAULT_GC_THRESHOLD = gc.get_threshold()
START_GC_THRESHOLD = (100_000, 50, 100)


def start_up_gc() -> None:
    gc.set_threshold(*START_GC_THRESHOLD)


def normal_gc() -> None:
    """Start-up is over: what it made (modules, classes, the SDK's schemas: half a million objects)
    lives as long as the process, so it is frozen out of every later collection. Otherwise the
    server's first collections walk all of it: ~30 ms, inside the reply to a client's tools/list."""
    gc.freeze()
    gc.set_threshold(*DEFAULT_GC_THRESHOLD)
