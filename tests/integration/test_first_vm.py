"""Issue 11 end to end, "the first VM you can log into", on a libvirt rig host and a plain-QEMU rig
host over SSH, through a real MCP session (and the CLI on the plain-QEMU host): upload the cached
Debian test image, create a linked VM from it with cloud_init (hostname, user, a fresh key) and
start it with wait_for_ip, read `ssh` from get_vm_info, log in through the host's 127.0.0.1 forward
and check hostname and key; stop it, clone it with a new hostname, start the clone, log into it and
see the new hostname; delete both (clone first): the base image stays, nothing else does.

Two guest boots per backend under TCG (~90-160 s each on 2 shared cores). The rig's sshd hosts run
in this test's network namespace on 127.0.0.1, so a forward on the host's 127.0.0.1 is reached
directly; no test traffic goes to any guest address.

The clone half needs clone's own seed (cloud_init on clone, branch h11clone). Until it is merged,
`seed_for_clone` is a stub: then the clone half is reported as xfail (after cleaning up), and it
must pass once the stub is gone."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml
from mcp import Client

from qemu_mcp.config import HostSpec, Inventory
from qemu_mcp.frontends.mcp.server import build_server
from qemu_mcp.ops.manage import clone as clone_module
from tests.integration.guest_helpers import cached_test_image
from tests.integration.manage_helpers import Area, data
from tests.integration.qemu_helpers import QemuArea
from tests.integration.test_images import lib, lib_area, plain, q_area  # noqa: F401
from tests.integration.test_provision import Forwarded, guest_run, wait_for_login
from tests.rig import keygen

pytestmark = pytest.mark.integration

USER = "tester"
IMAGE = "debian-12-test.qcow2"
WAIT = 300
CLONE_SEED_STUB = "would be made" in (getattr(clone_module, "seed_for_clone", None).__doc__ or "")


@dataclass
class Flow:
    """One backend's run: the MCP client, its host, where its files are, the guest key."""

    client: Client
    host: str
    key: Path
    public_key: str
    tmp: Path
    serial: dict[str, Path]  # VM name -> its serial console log on the host

    async def call(self, tool: str, **args: Any) -> dict[str, Any]:
        return data(await self.client.call_tool(tool, {"host": self.host, **args}))

    async def manage(self, name: str, action: str, **args: Any) -> dict[str, Any]:
        return await self.call("manage_vm", name=name, action=action, **args)

    def cloud_init(self, hostname: str) -> dict[str, Any]:
        return {"hostname": hostname, "user": USER, "ssh_authorized_keys": [self.public_key]}

    async def log_in(self, name: str, hostname: str) -> int:
        """get_vm_info's ssh endpoint, then SSH through it: hostname and key as asked. The port."""
        ssh = (await self.call("get_vm_info", name=name))["ssh"]
        assert ssh is not None and ssh["address"] == "127.0.0.1", ssh
        # the guest user is not recorded on the host (yet): the line may say <user>
        assert re.fullmatch(rf"ssh -J \S+ -p {ssh['port']} ({USER}|<user>)@127\.0\.0\.1", ssh["command"]), ssh
        workdir = self.tmp / name  # its own known_hosts: a clone makes new host keys
        workdir.mkdir()
        fwd = Forwarded(workdir, int(ssh["port"]))
        print(f"{self.host}: {name} lets us in after {wait_for_login(fwd, self.key, self.serial[name]):.0f} s more")
        assert guest_run(fwd, self.key, "hostname").strip() == hostname
        assert self.public_key in guest_run(fwd, self.key, "cat ~/.ssh/authorized_keys")
        return fwd.ssh_port


async def create_half(flow: Flow, image: str, name: str, hostname: str) -> int:
    up = await flow.call("upload_image", local_path=image, name=IMAGE)
    assert up["format"] == "qcow2"
    made = await flow.manage(name, "create", arch="x86_64", memory="768M", vcpus=2, image=IMAGE, linked=True,
                             cloud_init=flow.cloud_init(hostname), start=True, wait_for_ip=WAIT)  # fmt: skip
    assert made["details"]["reachable"] is True, made["details"]
    port = await flow.log_in(name, hostname)
    await flow.manage(name, "stop", force=True, confirm=True)
    return port


async def clone_half(flow: Flow, source: str, name: str, hostname: str, source_port: int) -> None:
    await flow.manage(name, "clone", source=source, cloud_init=flow.cloud_init(hostname))
    started = await flow.manage(name, "start", wait_for_ip=WAIT)
    assert started["details"]["reachable"] is True, started["details"]
    assert await flow.log_in(name, hostname) != source_port  # its own forward
    console = await flow.call("vm_console", name=name, lines=400)
    assert any("Linux version" in line or "cloud-init" in line for line in console["lines"]), console


async def delete_both(flow: Flow, source: str, clone: str) -> None:
    names = {v["name"] for v in (await flow.call("list_vms"))["vms"]}
    for name in (clone, source):  # the clone builds on the source's disk: it goes first
        if name in names:
            await flow.manage(name, "delete", force=True, confirm=True)
    listed = await flow.call("list_images")
    [base] = [i for i in listed["images"] if i["name"] == IMAGE]
    assert base["used_by"] == [], base


async def run_flow(flow: Flow, source: str, clone: str) -> str | None:
    """The whole flow. While clone's seed is a stub, a failing clone half is returned (after the
    cleanup) as the reason to xfail, outside the MCP session (which would wrap the outcome)."""
    started = time.monotonic()
    clone_error: BaseException | None = None
    try:
        port = await create_half(flow, cached_test_image(), source, f"fv-{uuid.uuid4().hex[:8]}")
        print(f"{flow.host}: create half {time.monotonic() - started:.0f} s")
        try:
            await clone_half(flow, source, clone, f"fvc-{uuid.uuid4().hex[:8]}", port)
        except Exception as e:  # judged below, after the cleanup
            if not CLONE_SEED_STUB:
                raise
            clone_error = e
    finally:
        await delete_both(flow, source, clone)
    print(f"{flow.host}: whole flow {time.monotonic() - started:.0f} s")
    if clone_error is not None:
        return f"clone with cloud_init is not merged yet (h11clone): {clone_error!r}"[:400]
    return None


def pending(reason: str | None) -> None:
    if reason:
        pytest.xfail(reason)


@pytest.fixture
def guest_key(tmp_path: Path) -> tuple[Path, str]:
    return tmp_path / "id_ed25519", keygen(tmp_path / "id_ed25519", comment="qmcp-first-vm")


async def test_first_vm_on_libvirt(lib: HostSpec, lib_area: Area, guest_key, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]  # noqa: F811
    source, clone = lib_area.name("first"), lib_area.name("first-clone")
    logs = {n: Path(f"/var/log/libvirt/qemu/{n}-serial.log") for n in (source, clone)}
    try:
        async with Client(build_server(Inventory([lib]))) as client:
            reason = await run_flow(Flow(client, "lib", *guest_key, tmp_path, logs), source, clone)
        assert lib_area.snapshot() == ([], ["images", f"images/{IMAGE}"])
        assert not any(p.exists() for p in logs.values())
        pending(reason)
    finally:
        for name in (source, clone):
            Path(f"/var/log/libvirt/qemu/{name}.log").unlink(missing_ok=True)  # libvirt's own, not ours


async def test_first_vm_on_plain_qemu(plain: HostSpec, q_area: QemuArea, guest_key, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]  # noqa: F811
    source, clone = "first", "first-clone"
    logs = {n: q_area.home(n) / "serial.log" for n in (source, clone, "cli")}
    async with Client(build_server(Inventory([plain]))) as client:
        flow = Flow(client, "plain", *guest_key, tmp_path, logs)
        reason = await run_flow(flow, source, clone)
    vm_dir = Path(plain.vm_dir or "")
    assert sorted(str(p.relative_to(vm_dir)) for p in vm_dir.rglob("*")) == ["images", f"images/{IMAGE}"]
    pending(reason)


def test_first_vm_with_the_cli_on_plain_qemu(plain: HostSpec, q_area: QemuArea, guest_key, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]  # noqa: F811
    """The README's walkthrough, command by command (two boots): image upload; vm create --image
    --hostname --user --authorized-key --start --wait-for-ip; vm info (ssh); SSH in; vm stop; vm clone
    with a new hostname; vm start --wait-for-ip; SSH into the clone; vm console --screenshot; vm
    delete (the clone first); image list still shows the base image, nothing else is left."""
    key, public_key = guest_key
    config = tmp_path / "hosts.yaml"
    config.write_text(yaml.safe_dump({"hosts": [plain.model_dump(mode="json", exclude_none=True)]}))
    started = time.monotonic()
    guest = ["--user", USER, "--authorized-key", str(key) + ".pub"]

    def run(*args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
        argv = [sys.executable, "-m", "qemu_mcp", "--config", str(config), *args, "--host", "plain"]
        env = {**os.environ, "COLUMNS": "200"}
        out = subprocess.run(argv, capture_output=True, text=True, timeout=timeout, env=env)
        assert out.returncode == 0, f"{args}: {out.stderr}"
        return out

    def log_in(name: str, hostname: str) -> None:
        info = json.loads(run("vm", "info", name, "--json").stdout)
        jump, port = f"{plain.user}@{plain.address}:{plain.port}", info["ssh"]["port"]
        assert re.fullmatch(rf"ssh -J {jump} -p {port} ({USER}|<user>)@127\.0\.0\.1", info["ssh"]["command"]), info
        assert f"ssh: ssh -J {jump} -p {port} " in run("vm", "info", name).stdout  # the table's ssh line
        (tmp_path / name).mkdir()
        fwd = Forwarded(tmp_path / name, int(port))
        wait_for_login(fwd, key, q_area.home(name) / "serial.log")
        assert guest_run(fwd, key, "hostname").strip() == hostname
        assert public_key in guest_run(fwd, key, "cat ~/.ssh/authorized_keys")

    run("image", "upload", cached_test_image(), "--name", IMAGE)
    first, second = f"fcli-{uuid.uuid4().hex[:6]}", f"fcli2-{uuid.uuid4().hex[:6]}"
    try:
        made = run("vm", "create", "vm1", "--arch", "x86_64", "--memory", "768M", "--image", IMAGE,
                   "--hostname", first, *guest, "--start", "--wait-for-ip", str(WAIT), "--json",
                   timeout=WAIT + 120)  # fmt: skip
        assert json.loads(made.stdout)["data"]["details"]["reachable"] is True, made.stdout
        log_in("vm1", first)
        run("vm", "stop", "vm1", "--force", "--yes")
        run("vm", "clone", "vm1", "vm2", "--hostname", second, *guest)
        run("vm", "start", "vm2", "--wait-for-ip", str(WAIT), timeout=WAIT + 120)
        log_in("vm2", second)
        console = run("vm", "console", "vm2", "--screenshot", str(tmp_path / "vm2.png")).stdout
        assert "Linux version" in console or "cloud-init" in console, console[-2000:]
        assert (tmp_path / "vm2.png").read_bytes().startswith(b"\x89PNG")
    finally:
        listed = run("vm", "list", "--json").stdout
        for name, extra in (("vm2", ["--force"]), ("vm1", [])):
            if f'"{name}"' in listed:
                run("vm", "delete", name, *extra, "--yes")
    print(f"plain (CLI): whole flow {time.monotonic() - started:.0f} s")
    assert IMAGE in run("image", "list").stdout
    vm_dir = Path(plain.vm_dir or "")
    assert sorted(str(p.relative_to(vm_dir)) for p in vm_dir.rglob("*")) == ["images", f"images/{IMAGE}"]
