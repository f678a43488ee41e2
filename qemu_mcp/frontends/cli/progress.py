"""Progress of a manage_vm call on stderr, once it has taken longer than a second.

On a terminal: a rich progress bar (transient: it disappears when the call ends). Otherwise
plain lines, one per step and one every PLAIN_EVERY seconds of a long wait, so a log or a CI
job shows what the command is waiting for without a line per tick.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import sys
import time
from types import TracebackType
from typing import Any

DELAY = 1.0  # quicker calls show nothing
PLAIN_EVERY = 10.0
_TICK = re.compile(r"\s*\(\d+/\d+ s\)$")  # "waiting for 'web1' to shut down (3/60 s)"


class ProgressView:
    """`async with ProgressView(label, tty) as view:` then pass `view.update` as manage_vm's progress."""

    def __init__(self, label: str, tty: bool) -> None:
        self.label, self.tty = label, tty
        self.state: tuple[float, float | None, str] = (0.0, None, label)
        self.shown = False
        self._bar: Any = None
        self._task_id: Any = None
        self._timer: asyncio.Task[None] | None = None
        self._last_line = ("", 0.0)  # (step, when)
        self._started = time.monotonic()

    async def __aenter__(self) -> ProgressView:
        self._started = time.monotonic()
        self._timer = asyncio.create_task(self._after_delay())
        return self

    async def __aexit__(
        self, kind: type[BaseException] | None, error: BaseException | None, tb: TracebackType | None
    ) -> None:
        if self._timer is not None:
            self._timer.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._timer
        if self._bar is not None:
            self._bar.stop()

    async def _after_delay(self) -> None:
        await asyncio.sleep(DELAY)
        self.shown = True
        self._show()

    async def update(self, done: float, total: float | None, message: str) -> None:
        self.state = (done, total, message)
        if self.shown:
            self._show()

    def _show(self) -> None:
        done, total, message = self.state
        if self.tty:
            self._show_bar(done, total, message)
            return
        step, now = _TICK.sub("", message), time.monotonic()
        last_step, last_time = self._last_line
        if step != last_step or now - last_time >= PLAIN_EVERY:
            print(f"qemu-mcp: {self.label}: {message}", file=sys.stderr, flush=True)
            self._last_line = (step, now)

    def _show_bar(self, done: float, total: float | None, message: str) -> None:
        if self._bar is None:
            from rich.console import Console
            from rich.progress import BarColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

            self._bar = Progress(
                SpinnerColumn(),
                TextColumn("{task.description}"),
                BarColumn(),
                TimeElapsedColumn(),
                console=Console(stderr=True),
                transient=True,
            )
            self._bar.start()
            self._task_id = self._bar.add_task(message, total=total)
            self._bar.tasks[0].start_time = self._started  # elapsed counts from the call's start
        self._bar.update(self._task_id, completed=done, total=total, description=message)
