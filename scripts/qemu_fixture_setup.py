"""The VMs and argv lists scripts/capture_qemu_fixtures.sh uses, built with qemu_mcp's own code.

usage:
  qemu_fixture_setup.py vms VM_DIR IMAGES      write the VM directories (vm.conf / creating marker)
  qemu_fixture_setup.py argv WHAT ARGS...      print an argv, NUL-separated, for `mapfile -d ''`
    start VM_DIR NAME DISPLAY                  the backend's qemu-system argv (build_argv)
    read VM_DIR MARK clean|keep [NAME...]      scripts.read_vms
    sample VM_DIR NAME MARK                    scripts.sample
    check ARCH | tcp                           scripts.check_host | scripts.tcp_listeners
    kill VM_DIR NAME                           scripts.kill (the VM's uuid from its vm.conf)
    img-info PATH FORMAT [--backing-chain]     host.qemu_img.info (+ --backing-chain after --output)
    img-snapshots PATH                         host.qemu_img.snapshot_list (qemu-img snapshot -l)
  qemu_fixture_setup.py stale-socket PATH      leave a unix socket file nobody listens on

Fixed names, UUIDs, MACs and dates keep re-captures diffable.
"""

from __future__ import annotations

import os
import socket
import sys
from pathlib import Path

from qemu_mcp.backends.qemu import scripts
from qemu_mcp.backends.qemu.argv import build_argv
from qemu_mcp.backends.qemu.vmconf import ConfDisk, ConfNic, Home, VmConf, parse, render
from qemu_mcp.host import qemu_img

CREATED = "2026-01-02T03:04:05+00:00"
UUID = "0c3a1f52-7d1e-4b8e-9a61-1f2e3d4c5c0{}"


def confs(vm_dir: str, images: str) -> dict[str, tuple[str, VmConf]]:
    """name -> (the file it is written to, its configuration)."""

    def conf(n: int, name: str, **more: object) -> VmConf:
        base = VmConf(
            name=name, uuid=UUID.format(n), arch="x86_64", machine="q35", accel="tcg", memory_mib=128, vcpus=1,
            created=CREATED,
        )  # fmt: skip
        return base.with_(**more)

    def own_disk(name: str) -> ConfDisk:  # where create puts a VM's disk
        return ConfDisk("vda", Home(vm_dir, name).file("disk0.qcow2"), "qcow2")

    # Runs: a qcow2 the create would make, a raw data disk it did not, a user-mode NIC, VNC.
    run_disks = (own_disk("fix-run"), ConfDisk("vdb", f"{images}/data.raw", "raw", owned=False))
    run_nics = (ConfNic("user", "virtio-net-pci", "52:54:00:c0:ff:11"),)
    # Stopped: a qcow2 overlay, an ISO that is not there, two tap NICs: qmcpfix0 does not exist,
    # "lo" stands in for a tap device (making one needs root and changes the host's network).
    off_disks = (ConfDisk("vda", f"{images}/overlay.qcow2", "qcow2", owned=False),)
    off_nics = (
        ConfNic("tap", "virtio-net-pci", "52:54:00:c0:ff:12", "qmcpfix0"),
        ConfNic("tap", "e1000", "52:54:00:c0:ff:13", "lo"),
    )
    off = conf(2, "fix-off", memory_mib=256, vcpus=2, display="none", iso=f"{images}/install.iso")
    return {
        "fix-run": ("vm.conf", conf(1, "fix-run", disks=run_disks, nics=run_nics)),
        "fix-off": ("vm.conf", off.with_(disks=off_disks, nics=off_nics)),
        # Killed qemu: pidfile of a process that is gone, socket left behind, disk image missing.
        "fix-stale": ("vm.conf", conf(3, "fix-stale", disks=(own_disk("fix-stale"),))),
        # The pidfile's number now belongs to another program.
        "fix-reused": ("vm.conf", conf(4, "fix-reused")),
        # An interrupted create: only the marker.
        "fix-new": ("creating", conf(5, "fix-new", disks=(own_disk("fix-new"),))),
    }


def write_vms(vm_dir: str, images: str) -> None:
    for name, (leaf, conf) in confs(vm_dir, images).items():
        home = Home(vm_dir, name)
        os.makedirs(home.dir, mode=0o755)
        Path(home.file(leaf)).write_text(render(conf))


def argv(what: str, args: list[str]) -> list[str]:
    if what == "start":
        vm_dir, name, display = args
        home = Home(vm_dir, name)
        return build_argv(parse(Path(home.conf).read_text()), home, vnc_display=int(display))
    if what == "read":
        vm_dir, mark, clean, *names = args
        return scripts.read_vms(vm_dir, mark, names, clean=clean == "clean")
    if what == "sample":
        vm_dir, name, mark = args
        return scripts.sample(Home(vm_dir, name), mark)
    if what == "check":
        return scripts.check_host(args[0])
    if what == "tcp":
        return scripts.tcp_listeners()
    if what == "kill":
        home = Home(*args)
        return scripts.kill(home, parse(Path(home.conf).read_text()).uuid)
    if what == "img-info":
        path, fmt, *chain = args
        words = qemu_img.info(path, fmt)
        return [*words[:3], *chain, *words[3:]] if chain else words
    if what == "img-snapshots":
        return qemu_img.snapshot_list(args[0])
    raise SystemExit(f"unknown argv {what!r}")


def stale_socket(path: str) -> None:
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
        s.bind(path)  # closed without listening: the file stays, nothing answers


def main(argv_: list[str]) -> int:
    command, *args = argv_
    if command == "vms":
        write_vms(*args)
    elif command == "argv":
        sys.stdout.write("\0".join(argv(args[0], args[1:])))
    elif command == "stale-socket":
        stale_socket(args[0])
    else:
        raise SystemExit(__doc__)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
