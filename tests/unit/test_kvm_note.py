"""host_info says when KVM is unusable, why, and what to do."""

from __future__ import annotations

from qemu_mcp.ops.hosts import kvm_note


def test_usable_kvm_needs_no_note() -> None:
    assert kvm_note(True, "660 root kvm") is None


def test_no_device() -> None:
    assert "no /dev/kvm" in (kvm_note(False, None) or "")


def test_a_root_only_device_says_how_a_normal_host_has_it() -> None:
    note = kvm_note(False, "600 root root") or ""
    assert "mode 600" in note and "chgrp kvm /dev/kvm; chmod 660 /dev/kvm" in note and "re-probes" in note


def test_a_group_device_the_user_is_not_in() -> None:
    assert kvm_note(False, "660 root kvm") == (
        "the SSH user cannot open /dev/kvm (mode 660, group kvm): add it to group kvm"
    )
