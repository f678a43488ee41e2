"""Every invocation README.md documents, run as written, so the README cannot drift again.

Each command line of a ```sh block that runs qemu-mcp (`qemu-mcp`, `.venv/bin/qemu-mcp`,
`python -m qemu_mcp`) runs as a subprocess of this checkout with the rig's inventory: a hosts.yaml
whose `lab1` is the rig's sshd host (plus the built-in `demo` and `local`), named by
$QEMU_MCP_CONFIG and put in place of any `--config PATH`. The VM `web1` becomes a throwaway name
in a private area, the storage pool after `--pool` a started dir pool of that area; `--port 8000` a
free port. Commands must exit 0, or as EXPECTED says for the
few documented to refuse. `serve --http` runs until it listens; every JSON client configuration
(mcpServers entries) starts the stdio server and must answer tools/list through a real MCP
client. Any other line is in SKIPPED with the reason it cannot run here, so a new README command
fails this test until someone decides. Tables are printed at 80 columns and must fit.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import yaml
from mcp import Client, StdioServerParameters
from mcp.client.stdio import stdio_client

from tests.conftest import key_host
from tests.integration.manage_helpers import Area, exists, manage_area
from tests.rig import free_port, run
from tests.rig.libvirt import remove_pools

pytestmark = pytest.mark.integration
ROOT = Path(__file__).resolve().parents[2]
README = ROOT / "README.md"
WIDTH = 80

# README lines that cannot run in the test rig, and why.
SKIPPED = {
    "bash scripts/quickstart.sh demo": "installs apt packages and a virtualenv as root",
    "bash scripts/quickstart.sh test": "installs everything and runs this whole suite (CI runs it)",
    ".venv/bin/python -m pytest tests/unit tests/parsers -q": "runs part of this suite",
    ".venv/bin/python scripts/bench.py": "a benchmark that takes minutes (test_bench.py runs it tiny)",
    "bash scripts/capture_fixtures.sh": "rewrites the captured fixtures in the repository",
    "bash scripts/capture_qemu_fixtures.sh": "rewrites the captured fixtures in the repository",
    "bash scripts/capture_netpool_fixtures.sh": "rewrites the captured fixtures in the repository",
    ".venv/bin/python scripts/capture_session_fixtures.py": "rewrites the captured fixtures in the repository",
}
# "First VM you can log into": each step boots a guest or needs the one booted (minutes under TCG);
# tests/integration/test_first_vm.py runs these same commands (and their MCP calls) end to end.
FIRST_VM_REASON = "the first-VM walkthrough boots guests: test_first_vm.py runs the same commands"
FIRST_VM = [
    "qemu-mcp image upload debian-12-genericcloud-amd64.qcow2 --host lab1",
    "qemu-mcp vm create vm1 --host lab1 --arch x86_64 --memory 1G --image debian-12-genericcloud-amd64.qcow2"
    " --hostname vm1 --user me --authorized-key ~/.ssh/id_ed25519.pub --start --wait-for-ip 300",
    "qemu-mcp vm info vm1 --host lab1",
    "ssh -J root@192.0.2.10 -p 20417 me@127.0.0.1 hostname",
    "qemu-mcp vm stop vm1 --host lab1 --force --yes",
    "qemu-mcp vm clone vm1 vm2 --host lab1 --hostname vm2 --user me --authorized-key ~/.ssh/id_ed25519.pub",
    "qemu-mcp vm start vm2 --host lab1 --wait-for-ip 300",
    "qemu-mcp vm console vm2 --host lab1 --screenshot vm2.png",
    "qemu-mcp vm delete vm2 --host lab1 --force --yes",
    "qemu-mcp vm delete vm1 --host lab1 --yes",
]
SKIPPED_PROGRAMS = {  # first word of a line: installers that need root or the network
    "sudo": "needs root on the reader's machine",
    "apt": "installs system packages",
    "apt-get": "installs system packages",
    "pipx": "installs from the network (the wheel install test covers it)",
    "uv": "installs from the network (the wheel install test covers it)",
    "uvx": "installs from the network (the wheel install test covers it)",
    "pip": "installs from the network",
}


@dataclass(frozen=True)
class Expect:
    rc: int
    stderr: str  # a phrase of the documented refusal
    why: str
    replace: dict[str, str] = field(default_factory=dict)  # argument values the rig changes


# README lines documented to end non-zero, and how the rig runs them.
EXPECTED = {
    "qemu-mcp vm stop web1 --host lab1 --timeout 30": Expect(
        1, "force=true", "the rig's guests have no OS, so they ignore ACPI; 3 s instead of 30", {"30": "3"}
    ),
    "qemu-mcp vm delete web1 --host lab1 --force": Expect(1, "Re-run with --yes", "no terminal to ask on: refused"),
    "qemu-mcp vm delete web1 --host lab1 --yes": Expect(
        1, "overlays on its disks", "documented as refused while web1-clone builds on web1's disk"
    ),
}
# The README's local image file: a tiny qcow2 the rig makes (no download).
README_IMAGE = "debian-12-generic-amd64.qcow2"
WIDE_OUTPUT = ("--json", "--dry-run", "--xml")  # JSON and raw XML are not tables


@dataclass
class Command:
    line: str  # as the README has it, comment removed
    env: dict[str, str]
    args: list[str]  # after the program
    stdin: str | None = None


def blocks(kind: str) -> list[str]:
    return re.findall(rf"^```{kind}\n(.*?)^```", README.read_text(), flags=re.S | re.M)


def normal(raw: str) -> str:
    """A README line as this test keys it: comment removed, words quoted as a shell would need."""
    return " ".join(w if w == "|" else shlex.quote(w) for w in shlex.split(raw, comments=True))


def sh_lines() -> list[str]:
    return [line for block in blocks("sh") for line in map(normal, block.splitlines()) if line]


def parse(line: str) -> Command | None:
    """A qemu-mcp invocation (with leading VAR=value words, or `echo -n X |` for its stdin), else None."""
    stdin = None
    if m := re.fullmatch(r"echo -n (\S+) \| (.*)", line):
        stdin, line = shlex.split(m[1])[0], m[2]
    words = shlex.split(line)
    env = {}
    while words and re.fullmatch(r"[A-Z_][A-Z0-9_]*=.*", words[0]):
        key, _, value = words.pop(0).partition("=")
        env[key] = value
    if words[:1] in (["qemu-mcp"], [".venv/bin/qemu-mcp"]):
        return Command(line, env, words[1:], stdin)
    if len(words) > 2 and words[0] in ("python", "python3", ".venv/bin/python") and words[1:3] == ["-m", "qemu_mcp"]:
        return Command(line, env, words[3:], stdin)
    return None


def skip_reason(line: str) -> str | None:
    first_vm = FIRST_VM_REASON if line in {normal(x) for x in FIRST_VM} else None
    return SKIPPED.get(line) or first_vm or SKIPPED_PROGRAMS.get(line.split()[0])


def value_after(args: list[str], option: str, value: str) -> list[str]:
    """`args` with the value of every `option` replaced."""
    return [value if prev == option else a for prev, a in zip(["", *args[:-1]], args, strict=True)]


@dataclass
class Rig:
    config: str
    area: Area
    pool: str  # a started dir pool of the area, in place of the README's pool name
    local_image: str = ""  # README_IMAGE, made by the rig

    def args(self, command: Command) -> list[str]:
        expect = EXPECTED.get(command.line)
        args = [expect.replace.get(a, a) for a in command.args] if expect else list(command.args)
        names = {"web1": self.area.name("web1"), "web1-clone": self.area.name("web1-clone")}
        args = [names.get(a, a) for a in args]
        if args[:2] == ["image", "upload"]:
            args = [self.local_image if a == README_IMAGE else a for a in args]
        return value_after(value_after(args, "--config", self.config), "--pool", self.pool)

    def env(self, command: Command) -> dict[str, str]:
        return {**os.environ, "QEMU_MCP_CONFIG": self.config, "COLUMNS": str(WIDTH), **command.env}


@pytest.fixture(scope="module")
def rig(sshd_host, libvirtd_running, tmp_path_factory) -> Iterator[Rig]:  # type: ignore[no-untyped-def]
    tmp = tmp_path_factory.mktemp("readme")
    with manage_area() as area:
        lab1 = key_host(sshd_host, "lab1", vm_dir=area.dir).model_dump(exclude_none=True)
        config = tmp / "hosts.yaml"
        config.write_text(yaml.safe_dump({"hosts": [lab1], "audit_log": str(tmp / "audit.jsonl")}))
        pool, target = area.name("images"), Path(area.dir) / "images"
        target.mkdir()
        try:
            virsh = ["virsh", "-q", "-c", "qemu:///system"]
            run([*virsh, "pool-define-as", "--name", pool, "--type", "dir", "--target", str(target)])
            run([*virsh, "pool-start", "--pool", pool])
            local_image = tmp / README_IMAGE
            run(["qemu-img", "create", "-q", "-f", "qcow2", str(local_image), "64M"])
            yield Rig(str(config), area, pool, str(local_image))
        finally:
            remove_pools(area.prefix)


def run_cli(rig: Rig, command: Command) -> str | None:
    """None when it ran as documented, else what went wrong."""
    args = rig.args(command)
    if args[:1] == ["serve"]:
        return serve_http(rig, command, args) if "--http" in args else "stdio `serve` belongs in a JSON config"
    out = subprocess.run(
        [sys.executable, "-m", "qemu_mcp", *args],
        input=command.stdin,
        capture_output=True,
        text=True,
        timeout=180,
        cwd=ROOT,
        env=rig.env(command),
    )
    expect = EXPECTED.get(command.line, Expect(0, "", "succeeds"))
    if out.returncode != expect.rc or expect.stderr not in out.stderr:
        return f"exit {out.returncode} (expected {expect.rc}: {expect.why})\n{out.stdout[-2000:]}\n{out.stderr[-2000:]}"
    wide = [line for line in out.stdout.splitlines() if len(line) > WIDTH]
    if wide and not any(option in args for option in WIDE_OUTPUT):
        return f"output wider than {WIDTH} columns:\n" + "\n".join(wide)
    return None


def serve_http(rig: Rig, command: Command, args: list[str]) -> str | None:
    """Long-running: started with a free port, passes once it listens, then stopped."""
    port = free_port()
    args = value_after(args, "--port", str(port))
    with tempfile.TemporaryFile("w+") as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", "qemu_mcp", *args], stdout=log, stderr=log, cwd=ROOT, env=rig.env(command)
        )
        try:
            deadline = time.monotonic() + 30
            while time.monotonic() < deadline and proc.poll() is None:
                try:
                    socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                    return None
                except OSError:
                    time.sleep(0.1)
            log.seek(0)
            return f"did not listen on {port} (exit {proc.poll()}):\n{log.read()}"
        finally:
            proc.terminate()
            proc.wait(10)


def test_every_sh_command_line(rig: Rig) -> None:
    lines = sh_lines()
    assert len(lines) > 20
    ran, failures = [], []
    for line in lines:
        command = parse(line)
        if command is not None and line in {normal(x) for x in FIRST_VM}:
            continue
        if command is None:
            if skip_reason(line) is None:
                failures.append(f"{line}\n  neither a qemu-mcp command nor in SKIPPED (decide: run it, or skip it why)")
            continue
        problem = run_cli(rig, command)
        ran.append(command)
        if problem:
            failures.append(f"{line}\n  {problem}")
    assert not failures, "\n\n".join(failures)
    assert not exists(rig.area.name("web1"))  # the README's life of a VM ends with its delete
    # Every CLI command is shown by at least one runnable example.
    shown = {" ".join(a for a in c.args if re.fullmatch("[a-z]+", a))[:40] for c in ran}
    for needed in ("hosts list", "hosts check", "vm list", "vm info", "vm create", "vm start", "vm stop",
                   "vm reboot", "vm modify", "vm delete", "monitor", "net list", "pool list", "demo",
                   "policy show", "policy levels", "audit tail", "token new", "token hash", "serve",
                   "image upload", "image list", "vm clone"):  # fmt: skip
        assert any(needed in s for s in shown), f"no README example runs `qemu-mcp {needed}`"
    for action in ("create", "list", "revert", "delete"):
        assert any(f"vm snapshot {action}" in s for s in shown), f"no README example runs `vm snapshot {action}`"


def client_configs() -> list[tuple[str, dict[str, Any]]]:
    found = []
    for block in blocks("json"):
        for name, entry in json.loads(block).get("mcpServers", {}).items():
            found.append((name, entry))
    return found


def stdio_params(rig: Rig, entry: dict[str, Any]) -> StdioServerParameters:
    """The README's command, as this checkout: `.../qemu-mcp ARGS` and `python -m qemu_mcp ARGS`."""
    program, args = Path(entry["command"]).name, list(entry.get("args", []))
    if program == "uvx" and args[:1] == ["--from"] and "qemu-mcp" in args:
        # `uvx --from CLONE qemu-mcp ARGS` runs the clone's qemu-mcp (uv is not in the rig): this checkout's.
        program, args = "qemu-mcp", args[args.index("qemu-mcp") + 1 :]
    if program == "qemu-mcp":
        args = ["-m", "qemu_mcp", *args]
    elif not (program.startswith("python") and args[:2] == ["-m", "qemu_mcp"]):
        pytest.fail(f"client config runs {entry['command']!r}: teach this test how to run it, or skip it with a reason")
    args = value_after(args, "--config", rig.config)
    env = {**os.environ, "QEMU_MCP_CONFIG": rig.config, **entry.get("env", {})}
    return StdioServerParameters(command=sys.executable, args=args, env=env, cwd=ROOT)


async def test_every_json_client_config(rig: Rig, tmp_path: Path) -> None:
    configs = client_configs()
    assert configs
    for name, entry in configs:
        with (tmp_path / f"{name}.stderr").open("w+") as errlog:
            async with Client(stdio_client(stdio_params(rig, entry), errlog=errlog)) as client:
                tools = {t.name for t in (await client.list_tools()).tools}
                assert {"list_vms", "manage_vm", "host_info"} <= tools, name
                listed = await client.call_tool("list_vms", {"host": "lab1"})
                assert not listed.is_error, listed.content
            errlog.seek(0)
            assert errlog.read() == ""  # quiet by default
