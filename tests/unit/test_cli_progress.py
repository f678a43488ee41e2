"""manage_vm progress in the CLI: nothing for a call under a second; past that, plain lines off a
terminal (one per step, not one per tick) and a rich bar on one."""

from __future__ import annotations

import asyncio

import pytest

from qemu_mcp.frontends.cli import progress
from qemu_mcp.frontends.cli.progress import ProgressView


async def run(view: ProgressView, steps: list[tuple[float, float | None, str]], pause: float) -> None:
    async with view:
        for step in steps:
            await view.update(*step)
            await asyncio.sleep(pause)


@pytest.fixture(autouse=True)
def short_delay(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(progress, "DELAY", 0.05)


def test_quick_call_shows_nothing(capsys: pytest.CaptureFixture[str]) -> None:
    asyncio.run(run(ProgressView("stop web1", tty=False), [(0, 3, "shutting down")], 0.0))
    assert capsys.readouterr().err == ""


def test_plain_lines_per_step(capsys: pytest.CaptureFixture[str]) -> None:
    ticks = [(float(s), 60.0, f"waiting for 'web1' to shut down ({s}/60 s)") for s in range(5)]
    asyncio.run(run(ProgressView("stop web1", tty=False), [(0, None, "starting 'web1'"), *ticks], 0.03))
    err = capsys.readouterr().err
    lines = err.splitlines()
    assert lines and all(line.startswith("qemu-mcp: stop web1: ") for line in lines)
    assert len([line for line in lines if "waiting for 'web1' to shut down" in line]) == 1  # not one per tick
    assert "\x1b[" not in err


def test_bar_on_a_terminal() -> None:
    view = ProgressView("create web1", tty=True)
    asyncio.run(run(view, [(0, 4, "creating the disk image"), (2, 4, "defining the domain")], 0.08))
    assert view.shown and view._bar is not None and view._bar.tasks[0].description == "defining the domain"
