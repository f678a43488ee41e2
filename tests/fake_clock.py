"""Virtual time for tests whose point is timing arithmetic (schedules, timeouts, parallelism).

`@virtual_clock` runs an async test on an event loop whose clock jumps straight to the next timer
whenever nothing is ready: asyncio.sleep, call_later, asyncio.timeout and loop.time() all follow
it, so a test of a 60 s schedule takes no wall time, and timings come out exact, not within a
tolerance that a loaded machine can break. Code that reads time.monotonic() itself can be pointed
at the loop's clock with `monotonic_follows_loop`. Only for code that waits on timers: while one is
pending, the clock jumps to it instead of waiting for I/O or a thread.
"""

from __future__ import annotations

import asyncio
import functools
import selectors
import time
import types
from collections.abc import Callable, Coroutine
from typing import Any, ParamSpec

import pytest

P = ParamSpec("P")
START = 1000.0  # not 0: code under test must not assume the clock starts anywhere
SPIN_LIMIT = 100_000  # loop iterations in a row with time standing still: a busy loop, fail


class _SkippingSelector(selectors.DefaultSelector):
    """Polls without blocking; when nothing is ready and a timer is due in `timeout` s, moves the
    loop's clock there instead of waiting. With no timer (timeout None) it waits for real I/O."""

    def __init__(self, loop: VirtualClockLoop) -> None:
        super().__init__()
        self._loop = loop
        self._spins = 0

    def select(self, timeout: float | None = None) -> list[tuple[selectors.SelectorKey, int]]:
        if timeout is None:
            self._spins = 0
            return super().select(None)
        ready = super().select(0)
        if ready or timeout > 0:
            self._spins = 0
            if not ready:
                self._loop.now += timeout
            return ready
        # Callbacks ready, time standing still: a loop of sleep(0)s would wait forever for a deadline.
        self._spins += 1
        if self._spins > SPIN_LIMIT:
            self._spins = 0  # the runner still has to cancel the tasks left
            raise RuntimeError(f"virtual clock: {SPIN_LIMIT} loop iterations without time passing (a busy loop?)")
        return ready


class VirtualClockLoop(asyncio.SelectorEventLoop):
    def __init__(self) -> None:
        self.now = START
        super().__init__(_SkippingSelector(self))

    def time(self) -> float:
        return self.now


def virtual_clock(test: Callable[P, Coroutine[Any, Any, None]]) -> Callable[P, None]:
    """Run this async test on its own VirtualClockLoop (its fixtures must be sync: async ones
    would run on pytest-asyncio's loop)."""

    @functools.wraps(test)
    def run(*args: P.args, **kwargs: P.kwargs) -> None:
        with asyncio.Runner(loop_factory=VirtualClockLoop) as runner:
            runner.run(test(*args, **kwargs))

    return run


def monotonic_follows_loop(monkeypatch: pytest.MonkeyPatch, module: types.ModuleType) -> None:
    """`module`'s time.monotonic() reads the running loop's clock (virtual under @virtual_clock);
    the rest of its `time` stays the real module."""
    shim = types.SimpleNamespace(**{k: getattr(time, k) for k in dir(time) if not k.startswith("__")})
    shim.monotonic = lambda: asyncio.get_running_loop().time()
    monkeypatch.setattr(module, "time", shim)
