"""The virsh session pool (backends/libvirt/session.py) against a scripted virsh: what it does
when a session answers, hangs, dies, garbles, loses libvirt, or cannot be opened; how many it
keeps, and that it closes them. The real virsh is in tests/integration/test_virsh_sessions.py."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field

import pytest

from qemu_mcp.backends.libvirt.session import (
    Chain,
    JoinNext,
    SessionUnavailable,
    VirshSessions,
    command_line,
    session_argv,
)
from qemu_mcp.config import HostSpec
from qemu_mcp.errors import CommandTimeout, HostError, HostUnreachable
from qemu_mcp.transport.base import ChannelsBusy, CommandResult

SPEC = HostSpec(name="h1", address="192.0.2.1", backend="libvirt")
HANG = "hang"


@dataclass
class Ends:
    """The session prints `output` and exits with `status` instead of answering."""

    output: str = ""
    status: int = 0


Answer = Callable[[list[str]], "list[str] | str | Ends"]  # outputs per command, HANG, Ends, or a raw transcript


@dataclass
class FakeVirsh:
    """An OpenProcess playing `virsh -q` reading batches: `answer(commands)` decides what it prints."""

    answer: Answer
    delay: float = 0.0  # seconds before an answer comes
    status: int = 0
    chunks: asyncio.Queue[str | None] = field(default_factory=asyncio.Queue)
    ended: bool = False
    gone: bool = False
    batches: list[list[str]] = field(default_factory=list)

    def write(self, text: str) -> None:
        first = text.split("\n")[0]
        match = re.search(r"<(qmcp-[0-9a-f]+)-begin>", first)
        assert match, text
        token = match.group(1)
        commands = [c.removeprefix("; ") for c in first.split(f"; echo --xml '<{token}>'")[:-1]]
        commands[0] = commands[0].split("; ", 1)[1]
        self.batches.append(commands)
        got = self.answer(commands)
        if got == HANG:
            return
        if isinstance(got, Ends):
            self.chunks.put_nowait(got.output)
            self.status, self.gone = got.status, True
            self.chunks.put_nowait(None)
            return
        if isinstance(got, str):
            self.chunks.put_nowait(got.replace("TOKEN", token))
            return
        body = "".join(f"{out}&lt;{token}&gt;" for out in got)
        text = f"virsh # {first}\n&lt;{token}-begin&gt;{body}virsh # end\n&lt;{token}-end&gt;virsh # "
        asyncio.get_running_loop().call_later(self.delay, self.chunks.put_nowait, text)

    async def drain(self) -> None:
        if self.gone:
            raise HostError("the fake virsh has ended")

    async def read(self) -> str:
        chunk = await self.chunks.get()
        return "" if chunk is None else chunk

    async def readline(self) -> str:
        return await self.read()

    def usable(self) -> bool:
        return not (self.ended or self.gone)

    def busy(self) -> contextlib.nullcontext[None]:
        return contextlib.nullcontext()

    async def end(self) -> CommandResult:
        """Like a real process: what it printed that nobody read comes back with its exit status."""
        self.ended = True
        unread = []
        while not self.chunks.empty():
            unread.append(self.chunks.get_nowait() or "")
        return CommandResult(("sh",), self.status, "".join(unread), "", 0.0, SPEC.name)


def answering(*outputs: str) -> Answer:
    return lambda commands: [outputs[i] if i < len(outputs) else "" for i in range(len(commands))]


@dataclass
class FakeHost:
    """A runner whose kept-open commands are FakeVirsh sessions made by `make`."""

    make: Callable[[], FakeVirsh]
    host: str = SPEC.name
    opened: list[FakeVirsh] = field(default_factory=list)
    argvs: list[list[str]] = field(default_factory=list)
    open_error: Exception | None = None

    @contextlib.asynccontextmanager
    async def open_process(self, argv: list[str], *, shared: bool = False) -> AsyncIterator[FakeVirsh]:
        assert shared is True  # a session never waits for a channel, and its connection idle-closes
        self.argvs.append(argv)
        if self.open_error is not None:
            raise self.open_error
        process = self.make()
        self.opened.append(process)
        try:
            yield process
        finally:
            await process.end()


def pool(host: FakeHost, **kw: float) -> VirshSessions:
    return VirshSessions(host, SPEC, **kw)  # type: ignore[arg-type]


async def test_a_session_answers_batches_and_is_kept_for_the_next() -> None:
    host = FakeHost(lambda: FakeVirsh(answering("u1\nu2\n", "")))
    sessions = pool(host)
    outputs = await sessions.run([["list", "--all", "--uuid"], ["domid", "x y"]], 5)
    assert [o.text for o in outputs] == ["u1\nu2\n", ""]
    await sessions.run([["list", "--all", "--uuid"]], 5)
    assert len(host.opened) == 1 and sessions.batches == 2
    assert host.opened[0].batches[0] == ["list --all --uuid", "domid 'x y'"]  # words quoted for virsh
    assert host.argvs == [session_argv(SPEC.libvirt_uri)] and host.argvs[0][-1] == SPEC.libvirt_uri
    await sessions.close()
    assert host.opened[0].ended and sessions.open_sessions == 0


async def test_one_batch_at_a_time_per_session_and_at_most_size_sessions() -> None:
    async def slow(sessions: VirshSessions) -> None:
        await sessions.run([["uri"]], 5)

    host = FakeHost(lambda: FakeVirsh(answering("qemu:///system\n"), delay=0.02))
    sessions = pool(host, size=2)
    await asyncio.gather(*(slow(sessions) for _ in range(7)))
    assert len(host.opened) == 2 and sessions.batches == 7
    await sessions.close()


async def test_a_batch_that_times_out_fails_clearly_and_its_session_is_replaced() -> None:
    answers = iter([HANG, ["ok\n"]])
    host = FakeHost(lambda: FakeVirsh(lambda commands: next(answers)))
    sessions = pool(host)
    with pytest.raises(CommandTimeout, match=r"virsh session on host 'h1' did not answer within 0\.2 s \(uri"):
        await sessions.run([["uri"]], 0.2)
    await asyncio.sleep(0)
    assert host.opened[0].ended  # killed (in the background)
    assert [o.text for o in await sessions.run([["uri"]], 5)] == ["ok\n"]
    assert len(host.opened) == 2
    await sessions.close()


async def test_a_session_that_ended_sends_the_call_one_shot_and_a_new_one_is_opened() -> None:
    answers = iter([Ends("error: failed to connect to the hypervisor\n", 1), ["ok\n"]])
    host = FakeHost(lambda: FakeVirsh(lambda commands: next(answers)))
    sessions = pool(host)
    with pytest.raises(SessionUnavailable):
        await sessions.run([["uri"]], 5)
    assert sessions.disabled is None
    assert [o.text for o in await sessions.run([["uri"]], 5)] == ["ok\n"]
    await sessions.close()


async def test_a_host_without_stdbuf_gets_no_sessions_said_once_at_info(caplog: pytest.LogCaptureFixture) -> None:
    host = FakeHost(lambda: FakeVirsh(lambda commands: Ends("qemu-mcp-virsh: 1: exec: stdbuf: not found\n", 127)))
    sessions = pool(host)
    with caplog.at_level(logging.INFO, logger="qemu_mcp.backends.libvirt.session"):
        for _ in range(3):
            with pytest.raises(SessionUnavailable):
                await sessions.run([["uri"]], 5)
    assert len(host.opened) == 1 and sessions.disabled and "no stdbuf" in sessions.disabled
    said = [r for r in caplog.records if "stdbuf" in r.getMessage()]
    assert len(said) == 1 and said[0].levelno == logging.INFO
    await sessions.close()


@pytest.mark.parametrize(
    "answer",
    [
        answering("error: failed to connect to the hypervisor\nerror: Failed to connect socket\n"),
        answering("x\nerror: Disconnected from qemu:///system due to end of file\n"),
        lambda commands: "error: no valid connection\nvirsh # x\n&lt;TOKEN-begin&gt;1&lt;TOKEN&gt;v\n&lt;TOKEN-end&gt;",
        lambda commands: "&lt;TOKEN-begin&gt;1&lt;TOKEN&gt;&lt;TOKEN&gt;v\n&lt;TOKEN-end&gt;",  # a marker too many
    ],
    ids=["connect-failed", "disconnected", "stray-error", "garbled"],
)
async def test_a_session_that_lost_libvirt_or_garbles_is_replaced_and_the_call_runs_one_shot(answer: Answer) -> None:
    host = FakeHost(lambda: FakeVirsh(answer))
    sessions = pool(host)
    with pytest.raises(SessionUnavailable):
        await sessions.run([["uri"]], 5)
    await asyncio.sleep(0)
    assert host.opened[0].ended and sessions.open_sessions == 0
    await sessions.close()


async def test_a_refused_batch_runs_one_shot_and_the_session_lives_on() -> None:
    refused = "virsh # x\nerror: unknown command: 'frob'\nvirsh # y\n&lt;TOKEN-end&gt;virsh # "
    answers = iter([refused, ["ok\n"]])
    host = FakeHost(lambda: FakeVirsh(lambda commands: next(answers)))
    sessions = pool(host)
    with pytest.raises(SessionUnavailable, match="unknown command"):
        await sessions.run([["frob"]], 5)
    assert [o.text for o in await sessions.run([["uri"]], 5)] == ["ok\n"]
    assert len(host.opened) == 1
    await sessions.close()


async def test_sessions_unused_for_idle_close_are_closed() -> None:
    host = FakeHost(lambda: FakeVirsh(answering("ok\n")))
    sessions = pool(host, idle_close=0.05)
    await sessions.run([["uri"]], 5)
    await asyncio.sleep(0.3)
    assert sessions.open_sessions == 0 and host.opened[0].ended
    await sessions.run([["uri"]], 5)  # opened again on demand
    assert len(host.opened) == 2
    await sessions.close()


@pytest.mark.parametrize(
    ("error", "raised"),
    [
        (ChannelsBusy("every kept-open channel to host 'h1' is in use", "h1"), SessionUnavailable),
        (HostUnreachable("refused", "h1"), SessionUnavailable),  # one-shot retries it as it always did
        (HostUnreachable("did not answer within 3 s", "h1", silent=True), HostUnreachable),  # would only wait again
    ],
)
async def test_when_no_session_can_be_opened(error: Exception, raised: type[Exception]) -> None:
    host = FakeHost(lambda: FakeVirsh(answering()))
    host.open_error = error
    with pytest.raises(raised):
        await pool(host).run([["uri"]], 5)


async def test_batches_side_by_side_and_a_failure_among_them() -> None:
    host = FakeHost(lambda: FakeVirsh(lambda commands: [f"{c}\n" for c in commands], delay=0.02))
    sessions = pool(host)
    got = await sessions.run_many([[["uri"]], [Chain([["dumpxml", "a"], ["dumpxml", "b"]])], [["domid", "c"]]], 5)
    assert [[o.text for o in outputs] for outputs in got] == [["uri\n"], ["dumpxml a; dumpxml b\n"], ["domid c\n"]]
    assert len(host.opened) == 3
    host.opened[1].answer = lambda commands: HANG
    host.opened[2].answer = lambda commands: Ends()
    with pytest.raises((SessionUnavailable, CommandTimeout)):
        await sessions.run_many([[["a"]], [["b"]], [["c"]]], 0.3)
    await sessions.close()
    assert all(p.ended for p in host.opened)


def test_the_xml_of_many_domains_is_shared_out_over_the_sessions() -> None:
    sessions = pool(FakeHost(lambda: FakeVirsh(answering())), size=3)
    assert sessions.split([]) == []
    assert sessions.split(["a", "b"]) == [["a", "b"]]
    parts = sessions.split([str(i) for i in range(100)])
    assert len(parts) == 3 and sorted(u for part in parts for u in part) == sorted(str(i) for i in range(100))
    assert command_line(Chain([["dumpxml", "u1"], ["dumpxml", "u 2"]])) == "dumpxml u1; dumpxml 'u 2'"


class Runs:
    """Work for JoinNext: each run gets a number, waits for `gate`, and returns its number."""

    def __init__(self) -> None:
        self.started = 0
        self.gate = asyncio.Event()

    async def work(self) -> int:
        self.started += 1
        number = self.started
        await self.gate.wait()
        return number


async def test_concurrent_calls_join_the_next_run_never_one_already_running() -> None:
    runs, join = Runs(), JoinNext[int]()
    first = asyncio.create_task(join(runs.work))
    await asyncio.sleep(0)
    later = [asyncio.create_task(join(runs.work)) for _ in range(9)]
    await asyncio.sleep(0)
    assert runs.started == 1  # the joiners wait for the first run to end before theirs starts
    runs.gate.set()
    assert await first == 1 and await asyncio.gather(*later) == [2] * 9
    assert runs.started == 2
    assert await join(runs.work) == 3  # nothing running: a run of its own


async def test_a_joiner_giving_up_leaves_the_run_to_the_others_and_failures_reach_all() -> None:
    runs, join = Runs(), JoinNext[int]()
    first = asyncio.create_task(join(runs.work))
    await asyncio.sleep(0)
    quitter, stayer = asyncio.create_task(join(runs.work)), asyncio.create_task(join(runs.work))
    await asyncio.sleep(0)
    quitter.cancel()
    runs.gate.set()
    assert await first == 1 and await stayer == 2
    with pytest.raises(asyncio.CancelledError):
        await quitter

    async def failing() -> int:
        await asyncio.sleep(0.01)
        raise ValueError("boom")

    calls = [asyncio.create_task(join(failing)) for _ in range(3)]
    results = await asyncio.gather(*calls, return_exceptions=True)
    assert all(isinstance(r, ValueError) for r in results)


async def test_the_first_caller_giving_up_ends_its_run_and_the_next_still_comes() -> None:
    runs, join = Runs(), JoinNext[int]()
    first = asyncio.create_task(join(runs.work))
    await asyncio.sleep(0)
    joiner = asyncio.create_task(join(runs.work))
    await asyncio.sleep(0)
    first.cancel()
    runs.gate.set()
    assert await joiner == 2
    with pytest.raises(asyncio.CancelledError):
        await first
