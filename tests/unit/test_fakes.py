"""The test doubles themselves: FakeRunner answers and records, RecordingRunner passes through or
stands in, and the virtual clock moves only to the next timer."""

from __future__ import annotations

import asyncio
import time
import types

import pytest

from qemu_mcp.transport.local import LocalRunner
from tests.fake_clock import START, monotonic_follows_loop, virtual_clock
from tests.fakes import Answer, Call, FakeRunner, RecordingRunner


async def test_fake_runner_answers_through_its_handler_and_records_every_call() -> None:
    async def slow_no(call: Call) -> Answer:
        await asyncio.sleep(0)
        return Answer(1, "", "no\n")

    def handler(call: Call) -> Answer | str | None:
        answers: dict[str, Answer | str] = {"cat": "text\n", "false": Answer(1, stderr="no\n")}
        return answers.get(call.argv[0])

    runner = FakeRunner(handler, host="lab")
    assert (await runner.run(["cat"], stdin="text\n", timeout=5, read_only=True)).stdout == "text\n"
    failed = await runner.run(["false"])
    assert (failed.exit_status, failed.stderr, failed.host) == (1, "no\n", "lab")
    assert (await runner.run(["true", "x"])).ok  # None: success without output
    assert runner.calls[0] == Call(("cat",), "text\n", 5, True) and runner.argvs[2] == ["true", "x"]
    assert runner.count("x") == 1 and not runner.closed
    assert (await FakeRunner(slow_no).run(["virsh"])).exit_status == 1  # handlers may be async
    await runner.close()
    assert runner.closed


async def test_recording_runner_runs_for_real_unless_the_handler_answers() -> None:
    runner = RecordingRunner(LocalRunner(), lambda call: Answer(1, stderr="injected\n") if call.has("fail") else None)
    assert (await runner.run(["echo", "real"])).stdout == "real\n"
    injected = await runner.run(["echo", "fail"])
    assert injected.exit_status == 1 and injected.stderr == "injected\n" and injected.host == runner.inner.host
    assert runner.argvs == [["echo", "real"], ["echo", "fail"]]
    await runner.close()


@virtual_clock
async def test_virtual_clock_jumps_to_the_next_timer(monkeypatch: pytest.MonkeyPatch) -> None:
    loop = asyncio.get_running_loop()
    wall = time.monotonic()
    fired: list[float] = []
    loop.call_later(30, lambda: fired.append(loop.time()))
    await asyncio.sleep(3600)
    assert loop.time() == START + 3600 and fired == [START + 30]
    with pytest.raises(TimeoutError):
        async with asyncio.timeout(5):
            await asyncio.Event().wait()
    assert loop.time() == START + 3605 and time.monotonic() - wall < 5  # an hour went by in no time
    module = types.ModuleType("under_test")
    module.time = time  # type: ignore[attr-defined]
    monotonic_follows_loop(monkeypatch, module)
    assert module.time.monotonic() == loop.time() and module.time.time is time.time
