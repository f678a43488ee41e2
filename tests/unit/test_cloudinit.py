"""The cloud_init argument: what it accepts, the sentences it refuses with, the seed files it
makes, and the seed ISO read back with pycdlib (label, Rock Ridge and Joliet names, contents)."""

from __future__ import annotations

import io
import logging
from typing import Any

import pycdlib
import pytest
import yaml

from qemu_mcp.cloudinit import CloudInit, parse_cloud_init
from qemu_mcp.errors import InvalidInput
from qemu_mcp.nocloud import build_seed, cloud_config, nocloud_iso

KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIHf2mKx3u6y0n0WQ2ExampleKeyBody0123456789abc me@laptop"
HASH = "$6$rounds=4096$saltsalt$3MEaFIP5EE8SN6bVOrAQu6YGqyHcIHf3sPyGWz9UHNCaIxxTd0XbsGGhmo2mB0vR2y7YgfWlz2eGhFyNx5hBJ1"


def read_iso(data: bytes) -> tuple[pycdlib.PyCdlib, io.BytesIO]:
    iso = pycdlib.PyCdlib()
    fp = io.BytesIO(data)
    iso.open_fp(fp)
    return iso, fp


def iso_file(iso: pycdlib.PyCdlib, **path: str) -> bytes:
    out = io.BytesIO()
    iso.get_file_from_iso_fp(out, **path)
    return out.getvalue()


def test_the_seed_iso_reads_back_with_label_names_and_contents() -> None:
    ci = parse_cloud_init(
        {"hostname": "web1", "user": "alice", "ssh_authorized_keys": [KEY], "network_config": "version: 2\n"}
    )
    iso, _fp = read_iso(nocloud_iso(ci, instance_id="iid-test"))
    try:
        assert iso.pvd.volume_identifier.rstrip(b" ") == b"cidata"
        assert iso.joliet_vd is not None and iso.has_rock_ridge()
        rr_names = sorted(
            c.rock_ridge.name() for c in iso.list_children(rr_path="/") if not c.is_dot() and not c.is_dotdot()
        )
        assert rr_names == [b"meta-data", b"network-config", b"user-data"]
        joliet = sorted(c.file_identifier() for c in iso.list_children(joliet_path="/") if c.is_file())
        assert joliet == [
            "meta-data".encode("utf-16-be"),
            "network-config".encode("utf-16-be"),
            "user-data".encode("utf-16-be"),
        ]
        meta = yaml.safe_load(iso_file(iso, rr_path="/meta-data"))
        assert meta == {"instance-id": "iid-test", "local-hostname": "web1"}
        user_data = iso_file(iso, joliet_path="/user-data").decode()
        assert user_data.startswith("#cloud-config\n")
        users = yaml.safe_load(user_data)["users"]
        assert users == [
            {
                "name": "alice",
                "shell": "/bin/bash",
                "sudo": "ALL=(ALL) NOPASSWD:ALL",
                "lock_passwd": True,
                "ssh_authorized_keys": [KEY],
            }
        ]
        assert yaml.safe_load(iso_file(iso, rr_path="/network-config")) == {"version": 2}
    finally:
        iso.close()


def test_each_seed_has_a_fresh_instance_id() -> None:
    ci = CloudInit()
    ids = {yaml.safe_load(build_seed(ci).meta_data)["instance-id"] for _ in range(3)}
    assert len(ids) == 3


def test_without_network_config_no_file_is_written_so_cloud_init_falls_back_to_dhcp() -> None:
    iso, _fp = read_iso(nocloud_iso(CloudInit(hostname="a")))
    try:
        names = {c.rock_ridge.name() for c in iso.list_children(rr_path="/") if c.is_file()}
        assert names == {b"meta-data", b"user-data"}
    finally:
        iso.close()


def test_the_generated_cloud_config_holds_every_field() -> None:
    ci = parse_cloud_init(
        {
            "hostname": "db1.lab.example",
            "user": "ops",
            "ssh_authorized_keys": [KEY],
            "password_hash": HASH,
            "packages": ["nginx", "curl=7.88.1-10"],
            "runcmd": ["echo hi > /tmp/hi", ["touch", "/tmp/x y"]],
            "timezone": "Europe/Paris",
            "locale": "en_US.UTF-8",
        }
    )
    config = cloud_config(ci)
    assert config["hostname"] == "db1" and config["fqdn"] == "db1.lab.example"
    assert config["users"][0]["passwd"] == HASH and config["users"][0]["lock_passwd"] is False
    assert config["packages"] == ["nginx", "curl=7.88.1-10"]
    assert config["runcmd"] == ["echo hi > /tmp/hi", ["touch", "/tmp/x y"]]
    assert (config["timezone"], config["locale"]) == ("Europe/Paris", "en_US.UTF-8")
    # and it survives the YAML round trip cloud-init makes
    assert yaml.safe_load(build_seed(ci).user_data) == config


def test_keys_without_a_user_go_to_the_images_default_user() -> None:
    assert cloud_config(CloudInit(ssh_authorized_keys=[KEY])) == {"ssh_authorized_keys": [KEY]}


@pytest.mark.parametrize(
    "text",
    [
        "#cloud-config\nusers: []\nruncmd: [[echo, hi]]\n",
        "#cloud-config\n",
        "#!/bin/sh\necho hello > /tmp/x\n",
        "#include\nhttps://example.invalid/a\n",
        "Content-Type: multipart/mixed; boundary=x\n\n--x--\n",
    ],
)
def test_raw_user_data_replaces_the_generated_one_as_is(text: str) -> None:
    seed = build_seed(parse_cloud_init({"user_data": text, "hostname": "h1"}))
    assert seed.user_data == text.encode()
    assert yaml.safe_load(seed.meta_data)["local-hostname"] == "h1"


def refusal(value: dict[str, Any]) -> str:
    with pytest.raises(InvalidInput) as e:
        parse_cloud_init(value)
    return str(e.value)


@pytest.mark.parametrize(
    ("value", "sentence"),
    [
        ({"hostname": "bad_name"}, "hostname 'bad_name' is not a host name"),
        ({"hostname": "-x"}, "not a host name"),
        ({"user": "no spaces"}, "user 'no spaces' is not a valid user name"),
        ({"ssh_authorized_keys": ["~/.ssh/id_ed25519.pub"]}, "ssh_authorized_keys[0] looks like a file path"),
        ({"ssh_authorized_keys": ["-----BEGIN OPENSSH PRIVATE KEY-----"]}, "ssh_authorized_keys[0] is a private key"),
        ({"ssh_authorized_keys": [KEY, "hello"]}, "ssh_authorized_keys[1] is not a public key line"),
        ({"ssh_authorized_keys": [KEY + "\n" + KEY]}, "spans several lines"),
        ({"user": "u", "password_hash": "hunter2"}, "password_hash is not a crypt(3) hash"),
        ({"password_hash": HASH}, "password_hash needs user"),
        ({"packages": ["a b"]}, "package 'a b' is not a package name"),
        ({"runcmd": [""]}, "runcmd[0] is empty"),
        ({"runcmd": [[]]}, "runcmd[0] is empty"),
        ({"timezone": "Mars/Olympus Mons"}, "not a time zone name"),
        ({"locale": "english"}, "not a locale name"),
        (
            {"user_data": "#cloud-config\nusers: [\n"},
            "user_data starts with #cloud-config but is not valid YAML at line",
        ),
        ({"user_data": "#cloud-config\n- a\n- b\n"}, "is not a YAML mapping"),
        ({"user_data": "hello"}, "user_data must start with '#cloud-config'"),
        ({"user_data": "#!/bin/sh\n", "user": "x"}, "user_data replaces the user-data built from user"),
        ({"network_config": {"ethernets": {}}}, "network_config needs `version: 1` or `version: 2`"),
        ({"network_config": "version: [\n"}, "network_config is not valid YAML"),
        ({"hostnme": "x"}, "cloud_init has no field 'hostnme'; the fields are hostname, user"),
        ({"packages": "vim"}, "cloud_init.packages: Input should be a valid list"),
    ],
)
def test_refusals_are_sentences_naming_the_field(value: dict[str, Any], sentence: str) -> None:
    assert sentence in refusal(value)


def test_network_config_may_sit_under_a_network_key() -> None:
    ci = parse_cloud_init({"network_config": {"network": {"version": 1, "config": []}}})
    assert ci.network_config == {"version": 1, "config": []}


def test_secrets_stay_out_of_reprs_errors_and_logs(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    ci = parse_cloud_init({"user": "u", "password_hash": HASH})
    assert HASH not in repr(ci) and HASH not in str(ci)
    seed = build_seed(ci)
    assert HASH.encode() in seed.user_data and HASH not in repr(seed)
    raw = parse_cloud_init({"user_data": "#cloud-config\npassword: s3cr3t-value\n"})
    assert "s3cr3t-value" not in repr(raw)
    nocloud_iso(ci)
    assert HASH not in caplog.text
    # A refused hash is never quoted back.
    assert "notahash-secret" not in refusal({"user": "u", "password_hash": "notahash-secret"})
