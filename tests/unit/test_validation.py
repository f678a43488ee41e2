from __future__ import annotations

import pytest

from qemu_mcp import validation
from qemu_mcp.errors import InvalidInput


@pytest.mark.parametrize("name", ["web1", "a", "A.b_c-d", "x" * 64])
def test_new_vm_names_accepted(name: str) -> None:
    assert validation.new_vm_name(name) == name


@pytest.mark.parametrize("name", ["-x", ".hidden", "a b", "a;b", "x" * 65, "", "ü", "a/b"])
def test_new_vm_names_refused_with_reason(name: str) -> None:
    with pytest.raises(InvalidInput) as e:
        validation.new_vm_name(name)
    assert "VM name" in str(e.value)


def test_existing_names_may_hold_odd_characters() -> None:
    assert validation.vm_name("odd 'name'; x") == "odd 'name'; x"
    with pytest.raises(InvalidInput, match="starts with '-'"):
        validation.vm_name("-bad")
    with pytest.raises(InvalidInput, match="control character"):
        validation.vm_name("a\nb")


@pytest.mark.parametrize(
    ("given", "want"),
    [("x86_64", "x86_64"), ("arm64", "aarch64"), ("AArch64", "aarch64"), (None, None), ("", None)],
)
def test_arch_aliases(given: str | None, want: str | None) -> None:
    assert validation.arch(given) == want


def test_arch_refused() -> None:
    with pytest.raises(InvalidInput, match="x86_64 or aarch64"):
        validation.arch("sparc")


@pytest.mark.parametrize("addr", ["lab2", "10.0.0.1", "host.example.org", "::1", "fe80::1"])
def test_addresses(addr: str) -> None:
    assert validation.address(addr) == addr


@pytest.mark.parametrize("addr", ["-oProxyCommand=x", "a b", "$(id)", "a;b"])
def test_bad_addresses(addr: str) -> None:
    with pytest.raises(InvalidInput):
        validation.address(addr)
