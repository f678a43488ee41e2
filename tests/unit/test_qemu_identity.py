"""One rule for "is this pid our VM's qemu", in Python and in sh: both get the same cases and must agree.

The sh side runs here for real: `ours` against live processes started with the case's argv (a
python sleeping, started under the case's program name), and the host scripts that use it
(read with clean, sample) against fabricated VM directories."""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from qemu_mcp.backends.qemu import scripts
from qemu_mcp.backends.qemu.identity import IDENTITY_SH, conf_uuid, is_vm_qemu
from qemu_mcp.backends.qemu.read import build_vm
from qemu_mcp.backends.qemu.vmconf import Home, VmConf, render
from qemu_mcp.parsers.qemu_host import parse_read, parse_sample

UUID = "6a0526b8-68f4-4d75-ac11-8957f868540c"
OTHER = "0b5e3c2a-1111-4222-8333-944455556666"
SLEEP = ["-c", "import time; time.sleep(60)"]
D = "/srv/v ms\\x/web1"  # a space and a backslash: neither may confuse the sh side

# (program, arguments after it, the VM's uuid or None, expected)
CASES = [
    ("qemu-system-x86_64", ["-uuid", UUID], UUID, True),
    ("/usr/bin/qemu-system-aarch64", ["-uuid", UUID, "-pidfile", "/elsewhere/pid"], UUID, True),
    ("qemu-system-x86_64", ["-uuid", OTHER, "-pidfile", f"{D}/pid"], UUID, False),  # our path, not our uuid
    ("qemu-system-x86_64", ["-pidfile", f"{D}/pid"], UUID, False),  # a uuid is known: it decides
    ("qemu-system-x86_64", ["-pidfile", f"{D}/pid"], None, True),
    ("qemu-system-x86_64", ["-pidfile", f"{D}/pid2"], None, False),
    ("qemu-system-x86_64", ["-pidfile", "/srv/link/web1/pid"], None, False),
    ("grep", ["-uuid", UUID], UUID, False),  # our uuid, but not a qemu
    ("/opt/qemu/bin/sleep", ["-uuid", UUID], UUID, False),  # the program's name counts, not its directory
    ("qemu-system-x86_64", ["-uuid", "", UUID], UUID, True),  # empty arguments do not count
    ("qemu-system-x86_64", ["-uuid", OTHER, "-uuid", UUID], UUID, False),  # the first -uuid counts
    ("qemu-system-x86_64", ["-uuid"], UUID, False),
    ("qemu-system-x86_64", ["-uuid", "1000"], "1e3", False),  # compared as text, never as numbers
    ("qemu", ["-pidfile", f"{D}/pid"], None, True),
]


def _ids() -> list[str]:
    return [f"{i}-{prog.rsplit('/', 1)[-1]}-{'uuid' if uuid else 'pidfile'}" for i, (prog, _a, uuid, _e) in
            enumerate(CASES)]  # fmt: skip


def sh_ours(pid: int, vm_dir: str, uuid: str | None) -> bool:
    script = IDENTITY_SH + "d=$1 u=$2 p=$3\nours"
    run = subprocess.run(["sh", "-c", script, "t", vm_dir, uuid or "", str(pid)], capture_output=True, timeout=30)
    assert run.returncode in (0, 1), run.stderr
    return run.returncode == 0


def proc_cmdline(pid: int) -> list[str]:
    """What the read script prints for the process: /proc/<pid>/cmdline, one argument per line."""
    try:
        return Path(f"/proc/{pid}/cmdline").read_text().split("\0")
    except OSError:
        return []


@pytest.fixture
def spawn() -> Iterator:  # type: ignore[type-arg]
    started: list[subprocess.Popen[bytes]] = []

    def start(program: str, *args: str) -> subprocess.Popen[bytes]:
        proc = subprocess.Popen([program, *SLEEP, *args], executable=sys.executable)
        started.append(proc)
        # Popen may return before the kernel shows the new command line (the vfork parent wakes mid-exec).
        deadline = time.monotonic() + 10
        while not any(proc_cmdline(proc.pid)) and time.monotonic() < deadline:
            time.sleep(0.01)
        return proc

    yield start
    for proc in started:
        proc.kill()
        proc.wait()


@pytest.mark.parametrize(("program", "args", "uuid", "expected"), CASES, ids=_ids())
def test_python_and_sh_agree(spawn, program: str, args: list[str], uuid: str | None, expected: bool) -> None:  # type: ignore[no-untyped-def]
    proc = spawn(program, *args)
    cmdline = proc_cmdline(proc.pid)
    assert cmdline[0] == program
    assert is_vm_qemu(cmdline, uuid=uuid, pidfile=f"{D}/pid") is expected
    assert sh_ours(proc.pid, D, uuid) is expected


def test_a_process_that_is_gone_is_nobody() -> None:
    proc = subprocess.Popen(["true"])
    proc.wait()
    assert is_vm_qemu(proc_cmdline(proc.pid), uuid=UUID, pidfile=f"{D}/pid") is False
    assert sh_ours(proc.pid, D, UUID) is False


def test_conf_uuid_reads_like_sed() -> None:
    conf = "# x\nname=a\n uuid=not-this\nuuid=first\nuuid=second\n"
    assert conf_uuid(conf, "uuid=creating\n") == "first"
    assert conf_uuid(None, "uuid=creating\n") == conf_uuid("name=a\n", "uuid=creating\n") == "creating"
    assert conf_uuid(None, None) is None


def _conf(name: str) -> VmConf:
    return VmConf(name=name, uuid=UUID, arch="x86_64", machine="q35", accel="tcg", memory_mib=64, vcpus=1)


def test_the_scripts_and_the_read_path_agree(tmp_path: Path, spawn) -> None:  # type: ignore[no-untyped-def]
    """read (with clean) removes exactly the pidfiles whose VM the read path reports stopped;
    sample reports a process exactly for the VMs the read path reports running."""
    vms = tmp_path / "vms"
    layouts = {  # name -> (file holding the configuration, its text, the argv of the pidfile's process)
        "ours": ("vm.conf", render(_conf("ours")), ["qemu-system-x86_64", "-uuid", UUID]),
        "other-uuid": ("vm.conf", render(_conf("other-uuid")), ["qemu-system-x86_64", "-uuid", OTHER]),
        "not-qemu": ("vm.conf", render(_conf("not-qemu")), ["sleepy", "-uuid", UUID]),
        "half": ("creating", render(_conf("half")), ["qemu-system-x86_64", "-uuid", UUID]),
        "unusable": ("vm.conf", f"uuid={UUID}\n", ["qemu-system-x86_64", "-uuid", UUID]),
        "no-uuid": ("vm.conf", "name=x\n", ["qemu-system-x86_64", "-pidfile", str(vms / "no-uuid" / "pid")]),
    }
    for name, (leaf, text, argv) in layouts.items():
        (vms / name).mkdir(parents=True)
        (vms / name / leaf).write_text(text)
        (vms / name / "pid").write_text(f"{spawn(argv[0], *argv[1:]).pid}\n")
    m = "@@qmcp-t@@"
    sampled = {
        name: parse_sample(_run(scripts.sample(Home(str(vms), name), m)), m).pid is not None
        for name, (leaf, _t, _a) in layouts.items()
        if leaf == "vm.conf"
    }
    _, raws = parse_read(_run(scripts.read_vms(str(vms), m, clean=True)), m)
    alive = {r.name: build_vm(r, str(vms)).alive for r in raws}
    assert alive == {"ours": True, "other-uuid": False, "not-qemu": False, "half": True, "unusable": True,
                     "no-uuid": True}  # fmt: skip
    assert {r.name: r.cleaned for r in raws} == {name: not running for name, running in alive.items()}
    assert sampled == {name: running for name, running in alive.items() if name in sampled}


def _run(argv: list[str]) -> str:
    run = subprocess.run(argv, capture_output=True, text=True, timeout=30)
    assert run.returncode == 0, run.stderr
    return run.stdout
