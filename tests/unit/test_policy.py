"""Policy: hosts.yaml parsing and merging, every refusal naming its key, per-call host arguments,
allowed_paths with symlinks resolved by the host, max_concurrent_ops, and tools/list hiding."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest
import yaml
from mcp import Client

from qemu_mcp.auth import Principal
from qemu_mcp.backends.base import VmDisk
from qemu_mcp.config import HostSpec, Inventory, load_inventory
from qemu_mcp.errors import ConfigError, PolicyDenied
from qemu_mcp.frontends.mcp.server import build_server
from qemu_mcp.ops.fleet import Fleet, HostRef
from qemu_mcp.ops.manage import manage_vm, parse_request
from qemu_mcp.policy import PolicySpec
from tests.fake_clock import virtual_clock
from tests.fakes import FakeRunner
from tests.unit.test_manage_flows import FakeBackend, FlowHost, use_fakes, vm


def write(tmp_path: Path, data: dict[str, Any]) -> str:
    path = tmp_path / "hosts.yaml"
    path.write_text(yaml.safe_dump(data))
    return str(path)


def test_global_policy_with_host_overrides(tmp_path: Path) -> None:
    lab1 = {"name": "lab1", "address": "192.0.2.1", "vm_dir": "/data/vms",
            "policy": {"read_only": True, "max_concurrent_ops": 1}}  # fmt: skip
    lab2 = {"name": "lab2", "address": "192.0.2.2", "policy": {"protected_vms": [], "allowed_paths": ["/srv/"]}}
    glob = {"protected_vms": ["prod-*"], "allow_password_args": False, "max_concurrent_ops": 3}
    inv = load_inventory(write(tmp_path, {"policy": glob, "hosts": [lab1, lab2]}))
    lab1 = inv.policy_for(inv.get("lab1"))
    assert lab1.read_only and lab1.protected_vms == ("prod-*",) and not lab1.allow_password_args
    assert lab1.allowed_paths == ("/data/vms", "/var/lib/libvirt/images")  # the defaults follow vm_dir
    assert lab1.max_concurrent_ops == 1 and lab1.global_max_concurrent_ops == 3
    assert lab1.origin["read_only"] == "host 'lab1' policy" and lab1.origin["protected_vms"] == "policy"
    assert "allowed_paths" not in lab1.origin
    lab2 = inv.policy_for(inv.get("lab2"))
    assert lab2.protected_vms == () and lab2.allowed_paths == ("/srv",) and not lab2.read_only
    assert lab2.max_concurrent_ops is None  # a host limit is never inherited from the global one
    adhoc = inv.global_policy("198.51.100.7")
    assert adhoc.protected_vms == ("prod-*",) and adhoc.allowed_paths == ("/var/lib/libvirt/images",)


@pytest.mark.parametrize(
    ("data", "words"),
    [
        ({"policy": {"allowed_actions": ["start", "explode"]}}, ["policy.allowed_actions", "'explode'", "start, stop"]),
        ({"policy": {"max_concurrent_ops": 0}}, ["policy.max_concurrent_ops"]),
        ({"policy": {"allowed_paths": ["relative/dir"]}}, ["policy.allowed_paths", "absolute"]),
        ({"policy": {"allowed_paths": ["/a/../etc"]}}, ["'..'"]),
        ({"policy": {"read_only": "maybe"}}, ["policy.read_only"]),
        ({"policy": {"raed_only": True}}, ["policy.raed_only", "Extra inputs"]),
        ({"hosts": [{"name": "h", "policy": {"busy_timeout": 5}}]}, ["host 'h', key 'policy'", "the whole server"]),
        ({"hosts": [{"name": "h", "policy": {"protected_vms": [""]}}]}, ["host 'h'", "protected_vms"]),
    ],
)
def test_bad_policy_names_the_key(tmp_path: Path, data: dict[str, Any], words: list[str]) -> None:
    with pytest.raises(ConfigError) as err:
        load_inventory(write(tmp_path, data))
    for w in words:
        assert w in str(err.value), str(err.value)


def test_refusals_name_the_key() -> None:
    inv = Inventory(
        [HostSpec(name="h", address="192.0.2.1", policy=PolicySpec(allowed_actions=("start", "stop")))],
        policy=PolicySpec(protected_vms=("prod-*",)),
    )
    p = inv.policy_for(inv.get("h"))
    with pytest.raises(PolicyDenied, match=r"are start, stop \(refused by policy key `allowed_actions`, set in host"):
        p.check_action("delete", "web1")
    with pytest.raises(PolicyDenied, match=r"matches the protected pattern 'prod-\*'.*`protected_vms`, set in policy"):
        p.check_action("stop", "prod-db")
    p.check_action("stop", "web1")  # allowed, not protected
    with pytest.raises(PolicyDenied, match=r"the token of 'viewer' is read-only \(refused by its `read_only` key"):
        p.check_action("start", "web1", subject="viewer", token_read_only=True)
    ro = Inventory([], policy=PolicySpec(read_only=True)).global_policy("x")
    with pytest.raises(PolicyDenied, match=r"read-only for host 'x' \(refused by policy key `read_only`, set in"):
        ro.check_action("start", "web1")


def test_per_call_host_arguments(tmp_path: Path) -> None:
    lab = HostSpec(name="lab", address="192.0.2.1", policy=PolicySpec(allow_password_args=True))
    fleet = Fleet(Inventory([lab], policy=PolicySpec(allow_adhoc_hosts=False, allow_password_args=False)))
    with pytest.raises(PolicyDenied, match=r"'198.51.100.9' \(not in the inventory\) is refused.*`allow_adhoc_hosts`"):
        fleet.resolve(HostRef("198.51.100.9", ssh_user="root", ssh_key="/k"))
    with pytest.raises(PolicyDenied, match=r"ssh_pwd for host '198.51.100.9'.*`allow_password_args`, set in policy"):
        fleet.resolve(HostRef("198.51.100.9", ssh_user="root", ssh_pwd="pw"))
    with pytest.raises(PolicyDenied, match=r"ssh_user, ssh_key for host 'lab' refused.*`allow_adhoc_hosts`"):
        fleet.resolve(HostRef("lab", ssh_user="other", ssh_key="/k"))
    # lab allows passwords per call; the inventory entry itself always resolves.
    assert fleet.resolve(HostRef("lab", ssh_pwd="pw")).password == "pw"
    assert fleet.resolve(HostRef("lab")) == lab

    # The defaults (compatibility with seed 004): both allowed. An inventory host's address keeps its policy.
    guarded = HostSpec(name="g", address="192.0.2.5", policy=PolicySpec(protected_vms=("db*",)))
    fleet = Fleet(Inventory([guarded]))
    spec = fleet.resolve(HostRef("192.0.2.5", ssh_user="root", ssh_pwd="pw"))
    assert fleet.inventory.policy_for(spec).protected_vms == ("db*",)
    assert fleet.inventory.policy_for(fleet.resolve(HostRef("192.0.2.6", ssh_user="root"))).protected_vms == ()


@pytest.fixture
def paths(monkeypatch: pytest.MonkeyPatch) -> tuple[Fleet, FakeBackend, FakeRunner]:
    fleet = Fleet(Inventory([]))  # local: vm_dir /var/lib/qemu, allowed_paths default
    host = FlowHost(links={"/var/lib/qemu/escape": "/etc"})  # realpath as such a host would answer
    runner = FakeRunner(host)
    backend = FakeBackend(host=host)
    use_fakes(monkeypatch, fleet, backend, runner)
    return fleet, backend, runner


@pytest.mark.parametrize(
    ("kwargs", "refused"),
    [
        ({}, None),  # /var/lib/qemu/n.qcow2
        ({"disk": "path=/var/lib/libvirt/images/sub/n.qcow2"}, None),
        ({"disk": "path=/tmp/n.qcow2"}, "disk image /tmp/n.qcow2"),
        ({"disk": "path=/var/lib/qemu-other/n.qcow2"}, "disk image /var/lib/qemu-other/n.qcow2"),  # not a prefix match
        ({"vm_dir": "/var/lib/qemu/escape"}, "disk image /var/lib/qemu/escape/n.qcow2 (really /etc/n.qcow2)"),
        ({"iso": "/home/me/x.iso"}, "ISO /home/me/x.iso"),
    ],
)
async def test_allowed_paths_on_create(paths, kwargs: dict[str, Any], refused: str | None) -> None:  # type: ignore[no-untyped-def]
    fleet, backend, runner = paths
    req = parse_request("n", "create", arch="x86_64", dry_run=True, **kwargs)
    if refused is None:
        await manage_vm(fleet, HostRef(), req)
        return
    with pytest.raises(PolicyDenied) as err:
        await manage_vm(fleet, HostRef(), req)
    text = str(err.value)
    assert text.startswith(refused) and "is outside the allowed paths (/var/lib/qemu, /var/lib/libvirt/images)" in text
    assert "(refused by policy key `allowed_paths`, its default)" in text
    realpaths = [a for a in runner.argvs if a[0] == "realpath"]
    assert len(realpaths) == 1 and realpaths[0][-2:] == ["/var/lib/qemu", "/var/lib/libvirt/images"]  # one round trip
    assert all(a[0] in ("realpath", "sh") for a in runner.argvs) and not backend.calls  # nothing else ran


async def test_allowed_paths_on_modify(paths) -> None:  # type: ignore[no-untyped-def]
    fleet, backend, _ = paths
    backend.vms = {"old": vm("old", disks=(VmDisk("vda", "/srv/old.qcow2", "qcow2"),))}
    with pytest.raises(PolicyDenied, match=r"^disk image /srv/old.qcow2 on host 'local' is outside the allowed paths"):
        await manage_vm(fleet, HostRef(), parse_request("old", "modify", disk="size=40G"))
    # memory alone touches no path
    await manage_vm(fleet, HostRef(), parse_request("old", "modify", memory="1G"))


@virtual_clock
async def test_max_concurrent_ops(monkeypatch: pytest.MonkeyPatch) -> None:
    spec = HostSpec(name="h", policy=PolicySpec(max_concurrent_ops=1))
    fleet = Fleet(Inventory([spec], policy=PolicySpec(busy_timeout=0.3, max_concurrent_ops=2)))
    backend = FakeBackend(slow=0.6)
    backend.vms = {n: vm(n) for n in ("a", "b", "c", "d", "e")}
    use_fakes(monkeypatch, fleet, backend, FakeRunner(FlowHost()))

    async def start(name: str, host: str | None) -> str:
        try:
            await manage_vm(fleet, HostRef(host), parse_request(name, "start"))
            return "ok"
        except PolicyDenied as e:
            return str(e)

    # Host h allows 1 at once: the second call waits 0.3 s, then is told the host is busy.
    one, two = await asyncio.gather(start("a", "h"), start("b", "h"))
    assert one == "ok" and two.startswith("busy: host 'h' already runs 1 mutating action(s)")
    assert "waited 0.3 s (busy_timeout)" in two and "`max_concurrent_ops`, set in host 'h' policy" in two
    # The whole server allows 2: a third call on another host is busy too.
    results = await asyncio.gather(start("c", None), start("d", None), start("e", None))
    assert results.count("ok") == 2
    busy = next(r for r in results if r != "ok")
    assert busy.startswith("busy: this server already runs 2") and "`max_concurrent_ops`, set in policy" in busy


async def test_tools_list_hides_mutating_tools_when_read_only_everywhere() -> None:
    async def names(inv: Inventory) -> set[str]:
        async with Client(build_server(inv)) as c:
            return {t.name for t in (await c.list_tools()).tools}

    assert "manage_vm" in await names(Inventory([]))
    assert "manage_vm" not in await names(Inventory([], policy=PolicySpec(read_only=True)))
    # One host may still mutate: the tool stays listed (and the read-only hosts refuse it).
    rw = HostSpec(name="rw", address="192.0.2.3", policy=PolicySpec(read_only=False))
    assert "manage_vm" in await names(Inventory([rw], policy=PolicySpec(read_only=True)))


def test_principal_from_headers() -> None:
    from qemu_mcp.auth import TokenSpec, token_hash
    from qemu_mcp.config import AuthConfig
    from qemu_mcp.frontends.mcp.tools.common import ANONYMOUS_HTTP, principal_of

    fleet = Fleet(Inventory([]))
    assert principal_of(fleet, None).subject == "stdio"
    assert principal_of(fleet, {"host": "x"}) == ANONYMOUS_HTTP  # HTTP without tokens (loopback only)
    auth = AuthConfig(tokens=(TokenSpec(subject="ro", sha256=token_hash("t1"), read_only=True),))
    fleet = Fleet(Inventory([], auth=auth))
    assert principal_of(fleet, {"Authorization": "Bearer t1"}) == Principal(subject="ro", read_only=True)
    assert principal_of(fleet, {"X-API-Key": "t1"}).read_only


def test_policy_show_cli(tmp_path: Path) -> None:
    import json
    import os
    import subprocess
    import sys

    lab9 = {"name": "lab9", "address": "192.0.2.9", "policy": {"read_only": False, "max_concurrent_ops": 2}}
    config = write(tmp_path, {"policy": {"read_only": True, "allow_adhoc_hosts": False}, "hosts": [lab9]})
    cmd = [sys.executable, "-m", "qemu_mcp", "--config", config, "policy", "show"]
    env = {**os.environ, "COLUMNS": "200"}
    out = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=60)
    assert out.returncode == 0, out.stderr
    row = next(line for line in out.stdout.splitlines() if "lab9" in line)
    assert " no " in row and "refused" in row and " 2 " in row
    assert "(ad-hoc)" in out.stdout and "Mutating tools are listed" in out.stdout
    js = json.loads(subprocess.run([*cmd, "--json"], capture_output=True, text=True, env=env, timeout=60).stdout)
    hosts = {h["host"]: h for h in js["hosts"]}
    assert hosts["lab9"]["origin"]["read_only"] == "host 'lab9' policy" and hosts["local"]["read_only"] is True
    assert hosts["(ad-hoc)"]["allow_adhoc_hosts"] is False and js["mutating_tools_listed"] is True
