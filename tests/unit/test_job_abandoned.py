"""Job: a change abandoned by timeout names its step; rollback undoes it only once the probe sees
it, else says what may still appear; failures the person can fix on the host say what to do."""

from __future__ import annotations

import pytest

from qemu_mcp.backends import job as job_module
from qemu_mcp.backends.job import Job, Undo
from qemu_mcp.errors import CommandTimeout, HostUnreachable
from tests.fakes import Answer, Call, FakeRunner

UNDO = Undo("removing the definition of 'vm'", ["undefine", "u"], probe=["dominfo", "u"],
            leftover="the domain 'vm' (uuid u)")  # fmt: skip


def host(*, probe_seen_after: int | None, probe_fails: bool = False) -> FakeRunner:
    """define times out; the probe sees the domain from its `probe_seen_after`-th run on."""
    probes: list[Call] = []

    def answer(call: Call) -> Answer | None:
        if call.argv[0] == "define":
            raise CommandTimeout("command on host 'h' did not finish within 3 s and was abandoned", "h")
        if call.argv[0] == "dominfo":
            if probe_fails:
                raise HostUnreachable("connection to host 'h' was lost", "h")
            probes.append(call)
            seen = probe_seen_after is not None and len(probes) >= probe_seen_after
            return Answer(exit_status=0 if seen else 1)
        return None

    return FakeRunner(answer, host="h")


@pytest.fixture(autouse=True)
def fast_polls(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(job_module, "ABANDON_POLL", 0.01)


async def abandon(runner: FakeRunner, settle: float = 1.0) -> tuple[str, list[str], list[str]]:
    job = Job(runner, "h")
    job.settle = settle
    with pytest.raises(CommandTimeout) as raised:
        await job.change("defining 'vm'", ["define"], undo=UNDO)
    assert job.commands[-1].abandoned and job.commands[-1].ran
    done, failed = await job.rollback()
    return str(raised.value), done, failed


async def test_a_timed_out_change_names_its_step_and_what_to_do() -> None:
    message, _, _ = await abandon(host(probe_seen_after=1))
    assert message.startswith("step \"defining 'vm'\": command on host 'h' did not finish within 3 s")
    assert "command_timeout in hosts.yaml" in message


async def test_the_undo_runs_once_the_probe_sees_the_change() -> None:
    runner = host(probe_seen_after=3)
    _, done, failed = await abandon(runner)
    assert done == [UNDO.purpose] and failed == []
    assert runner.count("dominfo") == 3 and runner.argvs[-1] == ["undefine", "u"]


async def test_a_change_not_seen_within_settle_is_named_not_undone() -> None:
    runner = host(probe_seen_after=None)
    _, done, failed = await abandon(runner, settle=0.05)
    assert done == [] and runner.count("undefine") == 0
    assert len(failed) == 1 and "had not taken effect 0.05 s later" in failed[0]
    assert "the domain 'vm' (uuid u) may still appear on host 'h'" in failed[0]
    assert "manage_vm delete removes it" in failed[0]


async def test_a_probe_the_host_does_not_answer_is_never_taken_for_absence() -> None:
    runner = host(probe_seen_after=None, probe_fails=True)
    _, done, failed = await abandon(runner)
    assert done == [] and runner.count("undefine") == 0
    assert "could not be checked (the host did not answer)" in failed[0] and "(uuid u) may still appear" in failed[0]


async def test_a_full_file_system_says_what_to_do() -> None:
    def answer(call: Call) -> Answer:
        return Answer(exit_status=1, stderr="qemu-img: /v/x.qcow2: Could not write header: No space left on device")

    job = Job(FakeRunner(answer, host="h"), "h")
    with pytest.raises(Exception) as raised:
        await job.change("creating the disk image /v/x.qcow2", ["qemu-img", "create"])
    message = str(raised.value)
    assert "failed on host 'h' (qemu-img exit 1:" in message and "No space left on device" in message
    assert "free space on it, or choose another vm_dir or disk path" in message
