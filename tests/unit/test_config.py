from __future__ import annotations

from pathlib import Path

import pytest

from qemu_mcp.config import HostSpec, Inventory, load_inventory
from qemu_mcp.errors import ConfigError, InvalidInput, NotFound
from qemu_mcp.ops.fleet import Fleet, HostRef

REPO = Path(__file__).resolve().parents[2]


def write(tmp_path: Path, text: str) -> str:
    p = tmp_path / "hosts.yaml"
    p.write_text(text)
    return str(p)


def test_example_file_is_valid() -> None:
    inv = load_inventory(str(REPO / "hosts.example.yaml"))
    assert {"local", "demo"} <= set(inv.hosts)
    assert len(inv.file_hosts) >= 2


def test_defaults(tmp_path: Path) -> None:
    inv = load_inventory(write(tmp_path, "hosts:\n  - name: lab2\n    address: 10.0.0.2\n    user: root\n"))
    h = inv.get("lab2")
    assert (h.port, h.backend, h.libvirt_uri, h.vm_dir) == (22, "auto", "qemu:///system", "/var/lib/qemu")
    assert not h.is_local
    assert inv.configured == [h]


def test_env_var_names_the_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("QEMU_MCP_CONFIG", write(tmp_path, "hosts:\n  - name: envhost\n"))
    assert "envhost" in load_inventory().hosts


def test_errors_name_file_host_and_key(tmp_path: Path) -> None:
    path = write(tmp_path, "hosts:\n  - name: lab2\n    port: 99999\n  - name: lab3\n    colour: blue\n")
    with pytest.raises(ConfigError) as e:
        load_inventory(path)
    text = str(e.value)
    assert path in text
    assert "host 'lab2', key 'port'" in text
    assert "host 'lab3', key 'colour'" in text


def test_bad_values_are_explained(tmp_path: Path) -> None:
    for body, needle in [
        ("hosts:\n  - name: a\n    address: '-oProxyCommand=x'\n", "starts with '-'"),
        ("hosts:\n  - name: a\n    backend: xen\n", "key 'backend'"),
        ("hosts:\n  - name: a\n  - name: a\n", "unique"),
        ("hosts:\n  - name: demo\n", "reserved"),
        ("- just a list\n", "top level"),
        ("hosts: [\n", "cannot read"),
    ]:
        with pytest.raises(ConfigError, match=needle):
            load_inventory(write(tmp_path, body))


def test_missing_named_file_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="does not exist"):
        load_inventory(str(tmp_path / "nope.yaml"))


def test_password_env(monkeypatch: pytest.MonkeyPatch) -> None:
    spec = HostSpec(name="a", address="10.0.0.1", password_env="LAB_PW")
    monkeypatch.delenv("LAB_PW", raising=False)
    with pytest.raises(ConfigError, match=r"\$LAB_PW"):
        spec.ssh_password()
    monkeypatch.setenv("LAB_PW", "s3cret")
    assert spec.ssh_password() == "s3cret"
    assert "s3cret" not in repr(spec)


def test_resolve_rules() -> None:
    inv = Inventory([HostSpec(name="lab2", address="10.0.0.2", user="root")])
    fleet = Fleet(inv)
    assert fleet.resolve(HostRef()).name == "local"
    assert fleet.resolve(HostRef(host="localhost")).name == "local"
    assert fleet.resolve(HostRef(host="lab2")).address == "10.0.0.2"
    over = fleet.resolve(HostRef(host="lab2", ssh_port=2222))
    assert (over.name, over.port, over.user) == ("lab2", 2222, "root")
    adhoc = fleet.resolve(HostRef(host="10.9.9.9", ssh_user="admin", ssh_pwd="pw"))
    assert (adhoc.address, adhoc.user, adhoc.ssh_password()) == ("10.9.9.9", "admin", "pw")
    assert "pw" not in repr(adhoc) and "pw" not in str(adhoc.model_dump())
    with pytest.raises(NotFound, match="not in the inventory"):
        fleet.resolve(HostRef(host="elsewhere"))
    with pytest.raises(InvalidInput):
        fleet.resolve(HostRef(host="$(id)", ssh_user="root"))
    with pytest.raises(InvalidInput, match="absolute"):
        fleet.resolve(HostRef(host="10.9.9.9", ssh_user="root", ssh_key="id_rsa"))
