"""manage_vm input: sizes, the disk spec and the request, refused with sentences before any command."""

from __future__ import annotations

import pytest

from qemu_mcp import sizes
from qemu_mcp.errors import InvalidInput
from qemu_mcp.ops.manage import parse_request

GIB = 1024**3


@pytest.mark.parametrize(
    ("text", "mib"),
    [("2G", 2048), ("4096M", 4096), ("512MiB", 512), ("1.5G", 1536), ("1GiB", 1024), ("16m", 16), (" 3 G ", 3072)],
)
def test_memory_sizes(text: str, mib: int) -> None:
    assert sizes.memory_mib(text) == mib


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ("2048", "has no unit"),
        ("2GB", "ambiguous"),
        ("2 gigs", "unknown unit"),
        ("2X", "unknown unit"),
        ("-1G", "not a size"),
        ("", "must be a size"),
        ("1000K", "whole number of MiB"),
        ("8M", "out of range"),
        ("17T", "out of range"),
        ("0.1M", "not a whole number of bytes"),
        ("1e3M", "not a size"),
    ],
)
def test_memory_refusals(text: str, words: str) -> None:
    with pytest.raises(InvalidInput, match=words):
        sizes.memory_mib(text)


def test_disk_spec() -> None:
    assert sizes.parse_disk_spec("path=/data/vm/x.qcow2,size=20G") == sizes.DiskSpec("/data/vm/x.qcow2", 20 * GIB)
    assert sizes.parse_disk_spec("size=1G").path is None
    spec = sizes.parse_disk_spec(" path = /d/x.raw ")
    assert spec.path == "/d/x.raw" and spec.size_bytes is None and spec.format == "raw"
    assert sizes.parse_disk_spec("path=/d/x.img").format == "raw"
    assert sizes.parse_disk_spec("path=/d/x.QCOW2").format == "qcow2"


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ("20G", "not key=value"),
        ("path=/d/x.qcow2;size=2G", "image format is taken from the extension"),
        ("path=relative.qcow2", "absolute path"),
        ("path=/d/x.vmdk", "must end in .qcow2"),
        ("path=/d/../etc/x.qcow2", "'..'"),
        ("path=/d//x.qcow2", "'//'"),
        ("size=20G,size=30G", "given twice"),
        ("format=raw", "unknown key 'format'"),
        ("size=1000", "has no unit"),
        ("size=1048577B", "multiple of 512"),
        ("size=100T", "out of range"),
        ("path=/d/x\n.qcow2", "control character"),
        ("", "must look like"),
    ],
)
def test_disk_refusals(text: str, words: str) -> None:
    with pytest.raises(InvalidInput, match=words):
        sizes.parse_disk_spec(text)


def test_human() -> None:
    assert [sizes.human(n) for n in (GIB, 3 * 1024**2, 1536, 513)] == ["1G", "3M", "1536B", "513B"]
    assert sizes.human(2048) == "2K"


def test_create_defaults() -> None:
    req = parse_request("web1", "create", arch="arm64")
    assert (req.arch, req.memory_mib, req.vcpus, req.disk, req.timeout) == ("aarch64", 2048, 2, sizes.DiskSpec(), 60.0)


@pytest.mark.parametrize(
    ("name", "action", "kwargs", "words"),
    [
        ("web1", "create", {}, "create needs arch"),
        ("web1", "create", {"arch": "ppc64"}, "arch 'ppc64' is not supported"),
        ("-web", "create", {"arch": "x86_64"}, "starts with '-'"),
        ("web 1", "create", {"arch": "x86_64"}, "is not allowed"),
        ("w;b", "create", {"arch": "x86_64"}, "is not allowed"),
        ("x" * 65, "create", {"arch": "x86_64"}, "limit is 64"),
        ("web1", "create", {"arch": "x86_64", "vcpus": 0}, "vcpus 0 is out of range"),
        ("web1", "create", {"arch": "x86_64", "iso": "cd.iso"}, "absolute path"),
        ("web1", "create", {"arch": "x86_64", "vm_dir": "/a/../b"}, "plain absolute path"),
        ("web1", "destroy", {}, "action 'destroy' is not one of"),
        ("web1", "start", {"memory": "2G"}, "memory does not apply to action=start"),
        ("web1", "stop", {"arch": "x86_64"}, "arch does not apply"),
        ("web1", "modify", {"iso": "/x.iso"}, "iso does not apply"),
        ("web1", "modify", {}, "modify needs at least one of"),
        ("web1", "modify", {"disk": "path=/x.qcow2"}, "give its new size"),
        ("web1", "stop", {"timeout": 0}, "timeout 0 is out of range"),
        ("--help", "stop", {}, "starts with '-'"),
    ],
)
def test_request_refusals(name: str, action: str, kwargs: dict, words: str) -> None:
    with pytest.raises(InvalidInput, match=words):
        parse_request(name, action, **kwargs)


def test_existing_vm_names_may_be_odd() -> None:
    # Names we only act on (not create) may be any libvirt name that is safe as one argument.
    assert parse_request("odd name; it's", "start").name == "odd name; it's"
