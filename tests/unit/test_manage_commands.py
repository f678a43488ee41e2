"""argv builders of manage_vm, run for real where they are shell or coreutils (no host needed)."""

from __future__ import annotations

import os
import stat
import subprocess
from pathlib import Path

import pytest

from qemu_mcp.backends.libvirt import virsh
from qemu_mcp.errors import InvalidInput
from qemu_mcp.host import fs, qemu_img
from qemu_mcp.parsers.path_status import parse_path_status
from qemu_mcp.parsers.qemu_img import virtual_size


def run(argv: list[str], umask: int | None = None) -> subprocess.CompletedProcess[str]:
    pre = (lambda: os.umask(umask)) if umask is not None else None
    return subprocess.run(argv, capture_output=True, text=True, preexec_fn=pre)


def test_path_status_reports_each_path_in_order(tmp_path: Path) -> None:
    (tmp_path / "f").write_text("x")
    (tmp_path / "d").mkdir()
    (tmp_path / "dangling").symlink_to(tmp_path / "nowhere")
    odd = tmp_path / "it's $(id) `x`; ok"
    odd.write_text("")
    paths = [str(tmp_path / n) for n in ("f", "d", "dangling", "missing")] + [str(odd)]
    out = run(fs.path_status(paths))
    assert out.returncode == 0, out.stderr
    kinds = ["file", "dir", "other", "missing", "file"]
    assert parse_path_status(out.stdout, paths) == dict(zip(paths, kinds, strict=True))


def test_reserve_never_overwrites(tmp_path: Path) -> None:
    target = tmp_path / "disk.qcow2"
    assert run(fs.reserve_file(str(target))).returncode == 0 and target.read_bytes() == b""
    target.write_text("precious")
    again = run(fs.reserve_file(str(target)))
    assert again.returncode != 0 and target.read_text() == "precious"


def test_make_dirs_mode_and_undo(tmp_path: Path) -> None:
    dirs = [str(tmp_path / "a"), str(tmp_path / "a" / "b")]
    assert run(fs.make_dirs(dirs), umask=0o077).returncode == 0
    for d in dirs:  # the qemu user must traverse them, whatever the caller's umask
        assert stat.S_IMODE(os.stat(d).st_mode) == 0o755
    assert run(fs.make_dirs(dirs)).returncode == 0  # idempotent: a racing create is fine
    (tmp_path / "a" / "keep").write_text("someone else's")
    assert run(fs.remove_empty_dirs(list(reversed(dirs)))).returncode == 0
    assert not (tmp_path / "a" / "b").exists() and (tmp_path / "a" / "keep").exists()


def test_remove_files_ignores_missing(tmp_path: Path) -> None:
    (tmp_path / "x.raw").write_text("")
    assert run(fs.remove_files([str(tmp_path / "x.raw"), str(tmp_path / "gone.raw")])).returncode == 0
    assert not (tmp_path / "x.raw").exists()


def test_qemu_img_create_info_resize(tmp_path: Path) -> None:
    for fmt, name in (("qcow2", "a.qcow2"), ("raw", "a.raw")):
        path = str(tmp_path / name)
        assert run(qemu_img.create(path, fmt, 2 * 1024**2)).returncode == 0
        assert virtual_size(run(qemu_img.info(path, fmt)).stdout) == 2 * 1024**2
        assert run(qemu_img.resize(path, fmt, 4 * 1024**2)).returncode == 0
        assert virtual_size(run(qemu_img.info(path, fmt)).stdout) == 4 * 1024**2
        # Shrinking needs --shrink, which the builder never passes.
        assert run(qemu_img.resize(path, fmt, 1024**2)).returncode != 0


def test_builders_refuse_option_like_or_relative_paths() -> None:
    with pytest.raises(InvalidInput):
        fs.remove_files(["-rf"])
    with pytest.raises(InvalidInput):
        qemu_img.create("disk.qcow2", "qcow2", 1024**2)
    with pytest.raises(InvalidInput):
        virsh.undefine("--all")
    with pytest.raises(ValueError):
        qemu_img.info("/x.vmdk", "vmdk")


def test_lifecycle_builders() -> None:
    vm = "6695eb01-f6a4-8304-79aa-97f2502e193f"
    assert virsh.undefine(vm) == [
        "undefine", "--domain", vm, "--managed-save", "--snapshots-metadata", "--nvram",
    ]  # fmt: skip
    assert virsh.blockresize(vm, "vda", 10 * 1024**3)[-1] == f"{10 * 1024**3}B"  # virsh's default unit is KiB
    assert virsh.set_max_vcpus_config(vm, 4)[-2:] == ["--config", "--maximum"]
    assert virsh.set_memory_config(vm, 262144)[4] == "262144KiB"
    assert virsh.wait_event(vm, "reboot", 0)[-1] == "1"
