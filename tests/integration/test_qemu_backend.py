"""The plain-QEMU backend over SSH, on a host with qemu but no libvirt (virsh and libvirtd's socket
hidden) and no python, through an MCP session with `backend: auto`. After each step the host's
truth is read directly: the pidfile, /proc/<pid>/cmdline, the files, QMP query-status over the
socket with a plain socket client, qemu-img."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import socket
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from mcp import Client

from qemu_mcp.config import Inventory
from qemu_mcp.frontends.mcp.server import build_server
from qemu_mcp.ops.fleet import Fleet, HostRef
from qemu_mcp.ops.manage import manage_vm, parse_request
from qemu_mcp.ops.vms import list_vms
from qemu_mcp.policy import PolicySpec
from qemu_mcp.transport.ssh import SSHRunner
from tests.conftest import key_host
from tests.fakes import RecordingRunner
from tests.integration.manage_helpers import data, error, image_size, make_iso
from tests.integration.qemu_helpers import (
    QemuArea,
    arg_after,
    cmdline,
    qemu_area,
    qmp,
    running_qemu,
    stopped,
    vnc_banner,
    wait_for,
)
from tests.rig import ssh_exec

pytestmark = pytest.mark.integration
MIB = 1024**2
WAIT = 2  # seconds a graceful stop/reboot may take: a guest without an OS never does it


@pytest.fixture
def area() -> Iterator[QemuArea]:
    with qemu_area() as a:
        yield a


@pytest.fixture
def plain(qemu_only_sshd_host, area: QemuArea):  # type: ignore[no-untyped-def]
    """The qemu-only host as inventory host 'plain' (backend auto), VMs in the test's own vm_dir;
    disks and ISOs may be anywhere in the test's area."""
    policy = PolicySpec(allowed_paths=(area.root,))
    return key_host(qemu_only_sshd_host, name="plain", vm_dir=area.vm_dir, policy=policy)


class Progress:
    def __init__(self) -> None:
        self.events: list[tuple[float, float | None, str | None]] = []

    async def __call__(self, progress: float, total: float | None, message: str | None) -> None:
        self.events.append((progress, total, message))


async def manage(client: Client, progress: Progress | None = None, **args: Any) -> Any:
    return await client.call_tool("manage_vm", {"host": "plain", **args}, progress_callback=progress)


async def listed(client: Client, name: str, host: str = "plain") -> dict[str, Any]:
    vms = data(await client.call_tool("list_vms", {"host": host}))["vms"]
    found = [v for v in vms if v["name"] == name]
    assert len(found) == 1, vms
    return found[0]  # type: ignore[no-any-return]


@contextlib.contextmanager
def taken_vnc_display() -> Iterator[int]:
    """Listen on 127.0.0.1 at the lowest VNC port (5900+N) that is free now; yields N."""
    for n in range(100):
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", 5900 + n))
            except OSError:
                continue
            s.listen()
            yield n
            return
    raise AssertionError("no free VNC port")


async def test_full_life_cycle_over_ssh_on_a_host_without_libvirt(plain, area: QemuArea) -> None:  # type: ignore[no-untyped-def]
    name = "life"
    home = area.home(name)
    iso = make_iso(Path(area.root) / "tiny.iso")
    disk = str(home / "disk0.qcow2")
    async with Client(build_server(Inventory([plain]))) as client:
        # ---- the host: auto picks the plain-QEMU backend (virsh is missing there)
        info = data(await client.call_tool("host_info", {"host": "plain"}))
        assert info["backend"] == "qemu" and info["tools"]["virsh"] is None and "virsh" in info["missing"]
        assert info["vm_dir"] == area.vm_dir and info["tools"]["qemu_img"]

        # ---- dry run: the exact commands, nothing on the host
        plan = data(await manage(client, name=name, action="create", arch="x86_64", memory="128M", vcpus=1,
                                 disk="size=64M", iso=iso, start=True, dry_run=True))  # fmt: skip
        assert not Path(area.vm_dir).exists()
        changes = [c for c in plan["details"]["commands"] if c["changes_host"]]
        assert changes and not any(c["ran"] for c in changes)
        assert any(c["argv"][0] == "qemu-system-x86_64" and "-daemonize" in c["argv"] for c in changes)
        assert "memory_mib=128" in plan["details"]["config"]

        # ---- create (not started): the directory, vm.conf (no marker), the disk; no process
        progress = Progress()
        created = data(await manage(client, progress, name=name, action="create", arch="x86_64", memory="128M",
                                    vcpus=1, disk="size=64M", iso=iso))  # fmt: skip
        assert created["details"]["disks_created"] == [disk]
        assert sorted(p.name for p in home.iterdir()) == ["disk0.qcow2", "vm.conf"]
        conf = area.conf(name)
        assert (conf["name"], conf["arch"], conf["machine"], conf["memory_mib"], conf["vcpus"]) == (
            name, "x86_64", "q35", "128", "1")  # fmt: skip
        assert conf["iso"] == iso and conf["disk.0.path"] == disk and conf["nic.0.type"] == "user"
        # KVM only when a probe guest with the host CPU runs (it does not on most CI machines); else TCG, said so.
        notes = " ".join(created["details"]["notes"])
        assert conf["accel"] == "kvm" or (conf["accel"] == "tcg" and "using TCG" in notes)
        assert image_size(disk) == 64 * MIB and area.pid(name) is None and stopped(area, name)
        assert progress.events and progress.events[-1][0] == progress.events[-1][1]
        vm = await listed(client, name)
        assert (vm["status"], vm["state"], vm["memory"], vm["vcpus"]) == ("stopped", "stopped", 128, 1)
        assert {d["target"]: d["capacity_bytes"] for d in vm["disks"]} == {"sda": None, "vda": 64 * MIB}
        assert "already exists" in error(await manage(client, name=name, action="create", arch="x86_64"))

        # ---- start: a qemu process with this VM's command line; QMP says running; VNC answers on a
        # display nothing else listens on (we hold the lowest free one: it must be skipped)
        with taken_vnc_display() as busy:
            data(await manage(client, name=name, action="start"))
        pid, argv = running_qemu(area, name)
        assert arg_after(argv, "-vnc") != f"127.0.0.1:{busy}"
        assert arg_after(argv, "-accel") == conf["accel"] and arg_after(argv, "-m") == "128M" and "-daemonize" in argv
        assert qmp(home / "qmp.sock", "query-status")["status"] == "running"
        vm = await listed(client, name)
        assert vm["status"] == "running" and vm["domain_type"] == ("kvm" if conf["accel"] == "kvm" else "qemu")
        port = vm["graphics"][0]["port"]
        assert arg_after(argv, "-vnc") == f"127.0.0.1:{port - 5900}" and vnc_banner(port).startswith(b"RFB ")
        assert "is already running" in error(await manage(client, name=name, action="start"))
        detail = data(await client.call_tool("get_vm_info", {"host": "plain", "name": name}))
        assert detail["command_line"] == argv and f"uuid={conf['uuid']}" in detail["config"]

        # ---- reboot: graceful = powerdown + wait (a guest without an OS ignores it); force = reset
        msg = error(await manage(client, name=name, action="reboot", timeout=WAIT))
        assert f"did not reboot within {WAIT} s" in msg and "force=true" in msg
        assert running_qemu(area, name)[0] == pid
        data(await manage(client, name=name, action="reboot", force=True, confirm=True))
        assert running_qemu(area, name)[0] == pid and qmp(home / "qmp.sock", "query-status")["running"]

        # ---- stop: graceful times out with progress; force needs confirmation, then the process is gone
        progress = Progress()
        msg = error(await manage(client, progress, name=name, action="stop", timeout=WAIT))
        assert f"did not shut down within {WAIT} s" in msg and len(progress.events) >= 2
        assert "pass confirm=true" in error(await manage(client, name=name, action="stop", force=True))
        assert running_qemu(area, name)[0] == pid

        # ---- modify while running, not confirmed: vm.conf now, the process keeps its config; disk grows live
        d = data(await manage(client, name=name, action="modify", memory="256M", disk="size=128M"))["details"]
        assert d["restart_required"] and area.conf(name)["memory_mib"] == "256"
        assert running_qemu(area, name)[0] == pid and arg_after(cmdline(pid), "-m") == "128M"
        assert image_size(disk) == 128 * MIB  # QMP block_resize on the running guest
        vm = await listed(client, name)
        assert vm["memory"] == 128 and any("applies at its next start" in n for n in vm["notes"])

        data(await manage(client, name=name, action="stop", force=True, confirm=True))
        assert not Path(f"/proc/{pid}").exists() or not cmdline(pid)
        assert stopped(area, name)
        assert sorted(p.name for p in home.iterdir()) == ["disk0.qcow2", "serial.log", "vm.conf"]
        assert (await listed(client, name))["status"] == "stopped"
        assert "shrink" in error(await manage(client, name=name, action="modify", disk="size=64M"))

        # ---- modify stopped, start: the new config is on the command line
        data(await manage(client, name=name, action="modify", vcpus=2, disk="size=192M"))
        assert area.conf(name)["vcpus"] == "2" and image_size(disk) == 192 * MIB  # qemu-img resize
        data(await manage(client, name=name, action="start"))
        pid, argv = running_qemu(area, name)
        assert (arg_after(argv, "-m"), arg_after(argv, "-smp")) == ("256M", "2")
        # Confirmed (and forced: no OS for ACPI) modify restarts it: a new process with the new memory.
        d = data(await manage(client, name=name, action="modify", memory="192M", force=True, confirm=True))["details"]
        new_pid, argv = running_qemu(area, name)
        assert new_pid != pid and arg_after(argv, "-m") == "192M" and not d["restart_required"]

        # ---- delete: running needs force, then confirmation; the ISO stays, the VM's dir goes
        assert "force=true" in error(await manage(client, name=name, action="delete", confirm=True))
        assert "pass confirm=true" in error(await manage(client, name=name, action="delete", force=True))
        assert running_qemu(area, name)[0] == new_pid
        deleted = data(await manage(client, name=name, action="delete", force=True, confirm=True))["details"]
        assert deleted["disks_removed"] == [disk] and f"{iso} (cdrom: never deleted)" in deleted["disks_kept"]
    assert stopped(area, name) and not home.exists() and Path(iso).exists()
    assert os.listdir(area.vm_dir) == []


async def test_sigkilled_qemu_is_listed_stopped_with_a_stale_pid_note_and_starts_again(plain, area: QemuArea) -> None:  # type: ignore[no-untyped-def]
    name = "crash"
    home = area.home(name)
    async with Client(build_server(Inventory([plain]))) as client:
        data(await manage(client, name=name, action="create", arch="x86_64", memory="128M", disk="size=16M",
                          start=True))  # fmt: skip
        pid, _ = running_qemu(area, name)
        os.kill(pid, signal.SIGKILL)
        wait_for(lambda: not cmdline(pid), what="qemu to die")
        assert (home / "pid").exists()  # qemu had no chance to remove it

        vm = await listed(client, name)
        assert vm["status"] == "stopped"
        assert any(f"stale pidfile: pid {pid}" in n and "next manage_vm" in n for n in vm["notes"]), vm["notes"]
        assert (home / "pid").exists()  # reads never write: the listing only reports it
        info = data(await client.call_tool("get_vm_info", {"name": name, "host": "plain"}))
        assert info["status"] == "stopped" and (home / "pid").exists()

        data(await manage(client, name=name, action="start"))  # manage_vm's read removes it first
        new_pid, _ = running_qemu(area, name)
        assert new_pid != pid and qmp(home / "qmp.sock", "query-status")["status"] == "running"

        # A pidfile naming a live process that is not this VM's qemu (pid reuse) is stale too.
        data(await manage(client, name=name, action="stop", force=True, confirm=True))
        sleeper = subprocess.Popen(["sleep", "60"])
        try:
            (home / "pid").write_text(f"{sleeper.pid}\n")
            vm = await listed(client, name)
            assert vm["status"] == "stopped" and any("is not this VM's qemu" in n for n in vm["notes"])
            assert sleeper.poll() is None  # never signalled
            data(await manage(client, name=name, action="start"))
            assert running_qemu(area, name)[0] != sleeper.pid
        finally:
            sleeper.kill()
            sleeper.wait()
        data(await manage(client, name=name, action="delete", force=True, confirm=True))
    assert not home.exists()


# Runs manage_vm create in its own process and kills that process (os._exit: no undo, no cleanup)
# right after the disk image is made and before vm.conf is written: what a killed server leaves.
KILL_MID_CREATE = """
import asyncio, os, sys
from qemu_mcp.config import HostSpec, Inventory
from qemu_mcp.ops.fleet import Fleet, HostRef
from qemu_mcp.ops.manage import manage_vm, parse_request
from tests.fakes import RecordingRunner

def die_before_the_conf(call):
    if "qmcp-write-conf" in call.argv:
        os._exit(9)

spec = HostSpec.model_validate_json(sys.argv[1])
req = parse_request(sys.argv[2], "create", arch="x86_64", memory="128M", disk="size=16M")
fleet = Fleet(Inventory([spec]))
real = fleet.runner
fleet.runner = lambda s: RecordingRunner(real(s), die_before_the_conf)
asyncio.run(manage_vm(fleet, HostRef(host=spec.name), req))
"""


async def test_a_create_killed_midway_is_reported_and_delete_cleans_it(plain, area: QemuArea) -> None:  # type: ignore[no-untyped-def]
    name = "half"
    home = area.home(name)
    proc = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(KILL_MID_CREATE), plain.model_dump_json(), name],
        capture_output=True, text=True, timeout=120, cwd=Path(__file__).parents[2],
    )  # fmt: skip
    assert proc.returncode == 9, proc.stderr
    assert sorted(p.name for p in home.iterdir()) == ["creating", "disk0.qcow2"]

    async with Client(build_server(Inventory([plain]))) as client:
        vm = await listed(client, name)
        assert (vm["status"], vm["state"]) == ("stopped", "incomplete")
        assert any("creation was interrupted" in n for n in vm["notes"])
        assert "already exists" in error(await manage(client, name=name, action="create", arch="x86_64"))
        assert "never finished" in error(await manage(client, name=name, action="start"))
        deleted = data(await manage(client, name=name, action="delete", confirm=True))["details"]
        assert deleted["disks_removed"] == [str(home / "disk0.qcow2")]
        assert not home.exists()
        assert data(await client.call_tool("list_vms", {"host": "plain"}))["vms"] == []
        data(await manage(client, name=name, action="create", arch="x86_64", memory="128M", disk="size=16M"))
        assert sorted(p.name for p in home.iterdir()) == ["disk0.qcow2", "vm.conf"]


async def test_fleet_listing_with_a_libvirt_host_and_a_plain_qemu_host(  # type: ignore[no-untyped-def]
    sshd_host, plain, area: QemuArea, guests
) -> None:
    lib = key_host(sshd_host, name="lib")
    async with Client(build_server(Inventory([lib, plain]))) as client:
        data(await manage(client, name="q1", action="create", arch="x86_64", memory="128M", disk="size=16M",
                          start=True))  # fmt: skip
        data(await manage(client, name="q2", action="create", arch="x86_64", memory="128M", disk="size=16M"))
        everything = data(await client.call_tool("list_vms", {}))
        assert everything["errors"] == [] and everything["host"] == "lib, plain"
        by_host: dict[str, dict[str, str]] = {}
        for v in everything["vms"]:
            by_host.setdefault(v["host"], {})[v["name"]] = v["status"]
        assert by_host["plain"] == {"q1": "running", "q2": "stopped"}
        assert by_host["lib"][guests.running] == "running" and by_host["lib"][guests.stopped] == "stopped"
        assert not set(by_host["lib"]) & {"q1", "q2"}
        # Each host with its own backend; filters apply to both.
        hosts = {h["name"]: h["backend"] for h in data(await client.call_tool("list_hosts", {}))["hosts"]}
        assert hosts["lib"] == "libvirt" and hosts["plain"] == "qemu"
        running = data(await client.call_tool("list_vms", {"status": "running"}))["vms"]
        assert {("plain", "q1"), ("lib", guests.running)} <= {(v["host"], v["name"]) for v in running}
        assert not {v["name"] for v in running} & {"q2", guests.stopped}
        for n in ("q1", "q2"):
            data(await manage(client, name=n, action="delete", force=True, confirm=True))


async def test_monitor_a_plain_qemu_guest(plain, area: QemuArea) -> None:  # type: ignore[no-untyped-def]
    """monitor_vm_status: CPU from /proc, disk I/O from QMP query-blockstats, and a tap NIC's counters."""
    name = "mon"
    tap = f"qmcpt{os.getpid() % 100000}"
    subprocess.run(["ip", "tuntap", "add", "dev", tap, "mode", "tap"], check=True)
    try:
        subprocess.run(["ip", "link", "set", tap, "up"], check=True)
        async with Client(build_server(Inventory([plain]))) as client:
            data(await manage(client, name=name, action="create", arch="x86_64", memory="128M", vcpus=2,
                              disk="size=16M"))  # fmt: skip
            # A second NIC on a host tap device, added by hand while the VM is stopped (documented).
            with open(area.home(name) / "vm.conf", "a") as f:
                f.write(f"nic.1.type=tap\nnic.1.model=virtio-net-pci\nnic.1.ifname={tap}\n")
            data(await manage(client, name=name, action="start"))
            _, argv = running_qemu(area, name)
            assert f"tap,id=net1,ifname={tap},script=no,downscript=no" in argv

            async def read_disk_via_qemu() -> None:
                await asyncio.sleep(1.2)  # between the baseline and the first sample
                cmd = 'qemu-io -d /machine/peripheral/vda/virtio-backend "aio_read 0 1M"'
                await asyncio.to_thread(qmp, area.home(name) / "qmp.sock", "human-monitor-command",
                                        {"command-line": cmd})  # fmt: skip

            result, _ = await asyncio.gather(
                client.call_tool("monitor_vm_status", {"host": "plain", "name": name, "interval": 2, "count": 2}),
                read_disk_via_qemu(),
            )
            mon = data(result)
            assert mon["samples"] == 2 and mon["ended"] == "complete", mon
            cpu = mon["metrics_data"]["cpu"]
            assert all(c["vcpus"] == 2 and c["cpu_percent"] is not None and c["cpu_time_s"] > 0 for c in cpu)
            mem = mon["metrics_data"]["memory"][-1]
            assert mem["current_mib"] == 128 and mem["rss_mib"] and mem["rss_mib"] > 0
            disks = [{d["name"]: d for d in s["devices"]} for s in mon["metrics_data"]["disk"]]
            # 1 MiB read within the first 2 s interval (and nothing else reads: no OS).
            assert disks[0]["vda"]["rd_bytes_per_s"] >= MIB / 4 and disks[-1]["vda"]["capacity_bytes"] == 16 * MIB
            nets = mon["metrics_data"]["network"][-1]["interfaces"]
            assert [n["name"] for n in nets] == [tap] and nets[0]["rx_bytes"] is not None
            # The counters match the tap device's own (guest's rx = the host's tx).
            assert nets[0]["rx_bytes"] <= int(Path(f"/sys/class/net/{tap}/statistics/tx_bytes").read_text())

            # Stopped: the next series is refused with a clear error.
            data(await manage(client, name=name, action="stop", force=True, confirm=True))
            msg = error(await client.call_tool("monitor_vm_status", {"host": "plain", "name": name, "interval": 1}))
            assert "only running VMs can be monitored" in msg
            data(await manage(client, name=name, action="delete", confirm=True))
    finally:
        subprocess.run(["ip", "link", "delete", tap], check=False)


async def test_aarch64_guest_with_uefi_under_tcg(plain, area: QemuArea, qemu_only_sshd_host) -> None:  # type: ignore[no-untyped-def]
    if ssh_exec(qemu_only_sshd_host, "command -v qemu-system-aarch64").returncode != 0:
        raise AssertionError("the rig needs qemu-system-aarch64 (package qemu-system-arm)")
    name = "arm"
    async with Client(build_server(Inventory([plain]))) as client:
        data(await manage(client, name=name, action="create", arch="arm64", memory="256M", disk="size=16M",
                          start=True))  # fmt: skip
        _, argv = running_qemu(area, name)
        assert argv[0] == "qemu-system-aarch64" and arg_after(argv, "-cpu") == "cortex-a57"
        assert (area.home(name) / "efivars.fd").stat().st_size > 0
        assert qmp(area.home(name) / "qmp.sock", "query-status")["status"] == "running"
        data(await manage(client, name=name, action="delete", force=True, confirm=True))
    assert not area.home(name).exists()


async def test_listing_is_one_round_trip_once_the_backend_is_known(plain, area: QemuArea) -> None:  # type: ignore[no-untyped-def]
    """auto: the first call finds virsh missing (one command) and reads the VMs (one more); later
    calls read every VM, with its pidfile and /proc/<pid>/cmdline, in one command."""
    fleet = Fleet(Inventory([plain]))
    real = fleet.pool.get(plain)
    counting = RecordingRunner(real)
    fleet.pool._runners[plain] = counting  # type: ignore[assignment]
    try:
        for n in ("r1", "r2", "r3"):
            await manage_vm(fleet, HostRef(host="plain"), parse_request(
                n, "create", arch="x86_64", memory="128M", disk="size=16M", start=n != "r3"))  # fmt: skip
        counting.calls.clear()
        listed_ = await list_vms(fleet, HostRef(host="plain"))
        assert len(counting.calls) == 1 and fleet.known_backend(plain) == "qemu"
        assert {v.name: v.status for v in listed_.vms} == {"r1": "running", "r2": "running", "r3": "stopped"}
        # Two connections in all: the commands' one, and the one the creates' host locks were held on.
        assert isinstance(real, SSHRunner) and real.connects == 2
    finally:
        await fleet.close()


def test_cli_on_a_plain_qemu_host(plain, area: QemuArea, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """The CLI as a person runs it: create and start with --vm-dir, list with notes, info with vm.conf."""
    config = tmp_path / "hosts.yaml"
    config.write_text(yaml.safe_dump({"hosts": [plain.model_dump(mode="json", exclude_none=True)]}))

    def cli(*args: str) -> subprocess.CompletedProcess[str]:
        argv = [sys.executable, "-m", "qemu_mcp", "--config", str(config), *args]
        env = {**os.environ, "COLUMNS": "200"}
        return subprocess.run(argv, capture_output=True, text=True, timeout=120, env=env)

    made = cli("vm", "create", "c1", "--host", "plain", "--arch", "x86_64", "--memory", "128M", "--disk",
               "size=16M", "--start", "--json")  # fmt: skip
    assert made.returncode == 0, made.stderr
    pid, _ = running_qemu(area, "c1")
    os.kill(pid, signal.SIGKILL)
    wait_for(lambda: not cmdline(pid), what="qemu to die")
    table = cli("vm", "list", "--host", "plain")
    assert table.returncode == 0 and "c1" in table.stdout and f"stale pidfile: pid {pid}" in table.stdout
    info = cli("vm", "info", "c1", "--host", "plain", "--xml")
    assert info.returncode == 0 and "memory_mib=128" in info.stdout, info.stderr
    gone = cli("vm", "delete", "c1", "--host", "plain", "--yes", "--vm-dir", area.vm_dir)
    assert gone.returncode == 0 and not area.home("c1").exists(), gone.stderr


async def test_a_missing_vm_dir_is_reported_not_listed_as_no_vms(qemu_only_sshd_host, plain, area: QemuArea) -> None:  # type: ignore[no-untyped-def]
    gone = key_host(qemu_only_sshd_host, name="nodir", vm_dir=f"{area.root}/never-made")
    Path(area.vm_dir).mkdir(parents=True, exist_ok=True)  # 'plain' has its directory, with no VM in it
    async with Client(build_server(Inventory([plain, gone]))) as client:
        msg = error(await client.call_tool("list_vms", {"host": "nodir"}))
        assert f"{area.root}/never-made does not exist on host 'nodir'" in msg and "vm_dir" in msg
        listing = await client.call_tool("list_vms", {})  # every host: the others still listed
        fleet = listing.structured_content["data"]  # type: ignore[index]
        assert [e["host"] for e in fleet["errors"]] == ["nodir"], fleet["errors"]
    assert not Path(area.root, "never-made").exists()  # a read creates nothing
