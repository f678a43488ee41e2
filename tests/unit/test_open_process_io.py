"""Talking to a kept-open command (Runner.open_process) through LocalRunner: write, drain, read
as soon as something came, usable until it ends. The SSH implementation is checked the same way
in tests/integration/test_virsh_sessions.py."""

from __future__ import annotations

import pytest

from qemu_mcp.errors import HostError
from qemu_mcp.transport.local import LocalRunner


async def read_until(process, text: str) -> str:  # type: ignore[no-untyped-def]
    got = ""
    while text not in got:
        chunk = await process.read()
        assert chunk, f"ended before {text!r}: {got!r}"
        got += chunk
    return got


async def test_write_drain_read_and_the_end() -> None:
    async with LocalRunner().open_process(["cat"]) as process:
        assert process.usable()
        process.write("héllo, wörld ✓\n")  # multi-byte characters: a read may cut one, never garble it
        await process.drain()
        assert await read_until(process, "✓\n") == "héllo, wörld ✓\n"
        process.write("no newline yet")  # a prompt or a marker without a newline arrives at once
        await process.drain()
        assert await read_until(process, "yet") == "no newline yet"
        result = await process.end()
    assert result.exit_status == 0 and not process.usable()
    assert await process.read() == ""


async def test_a_command_that_ended_is_not_usable_and_writing_to_it_fails() -> None:
    async with LocalRunner().open_process(["sh", "-c", "echo bye; exit 3"]) as process:
        assert await read_until(process, "bye\n") == "bye\n"
        assert await process.read() == ""
        with pytest.raises(HostError, match="has ended"):
            for _ in range(100):  # the first writes may still fit in the pipe
                process.write("x" * 65536)
                await process.drain()
        result = await process.end()
    assert result.exit_status == 3 and not process.usable()


async def test_shared_does_not_matter_locally() -> None:
    async with LocalRunner().open_process(["true"], shared=True) as process:
        await process.end()
