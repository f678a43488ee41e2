"""The plain-QEMU backend's pure parts: vm.conf, the qemu argv, the script parsers, the running/stale
decision, the sampler's mapping; and its fixed sh scripts run here on fabricated VM directories."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest

from qemu_mcp.backends.accel import AccelVerdicts
from qemu_mcp.backends.base import CreatePlan
from qemu_mcp.backends.job import Job
from qemu_mcp.backends.qemu import scripts as qemu_host
from qemu_mcp.backends.qemu.argv import build_argv
from qemu_mcp.backends.qemu.manage import QemuBackend
from qemu_mcp.backends.qemu.read import build_vm
from qemu_mcp.backends.qemu.runtime import parse_runtime
from qemu_mcp.backends.qemu.sampler import counters_from_sample
from qemu_mcp.backends.qemu.vmconf import ConfDisk, ConfError, ConfNic, Home, VmConf, parse, render
from qemu_mcp.config import HostSpec, Inventory
from qemu_mcp.errors import InvalidInput
from qemu_mcp.ops.fleet import Fleet
from qemu_mcp.parsers.qemu_host import (
    FileFacts,
    RawSample,
    RawVm,
    listening_ports,
    parse_read,
    parse_stat,
)
from qemu_mcp.transport.local import LocalRunner
from tests.fakes import Answer, Call, FakeRunner

PROBE = "qmcp-kvm-probe"
UUID = "6a0526b8-68f4-4d75-ac11-8957f868540c"


def conf(**kw) -> VmConf:  # type: ignore[no-untyped-def]
    base = dict(
        name="web1", uuid=UUID, arch="x86_64", machine="q35", accel="tcg", memory_mib=512, vcpus=2,
        disks=(ConfDisk("vda", "/vms/web1/disk0.qcow2", "qcow2"),), iso="/iso/x,y.iso",
        nics=(ConfNic("user", "virtio-net-pci", "52:54:00:aa:bb:cc"),),
    )  # fmt: skip
    base.update(kw)
    return VmConf(**base)  # type: ignore[arg-type]


def test_vm_conf_round_trip_and_refusals() -> None:
    c = conf(extra={"x.note": "kept"})
    text = render(c)
    assert text.startswith("# qemu-mcp") and "memory_mib=512\n" in text
    assert "disk.0.path=/vms/web1/disk0.qcow2\n" in text
    assert parse(text) == c
    with pytest.raises(ValueError, match="control character"):
        render(conf(iso="/iso/a\nb.iso"))
    with pytest.raises(ConfError, match="uuid is missing"):
        parse("name=a\narch=x86_64\nmemory_mib=1\nvcpus=1\n")
    with pytest.raises(ConfError, match="disk entry 0"):
        parse(text.replace("disk.0.format=qcow2", "disk.0.format=vmdk"))
    with pytest.raises(ConfError, match="newer"):
        parse(text.replace("format=1", "format=2"))


def test_argv_x86_with_iso_tap_and_commas() -> None:
    home = Home("/srv/a,b", "web1")
    c = conf(nics=(ConfNic("user", "virtio-net-pci", "52:54:00:aa:bb:cc"), ConfNic("tap", "e1000", None, "tap7")))
    argv = build_argv(c, home, vnc_display=3)
    assert argv[0] == "qemu-system-x86_64" and argv[-1] == "-daemonize"
    words = " ".join(argv)
    assert "-name guest=web1,debug-threads=on -uuid " + UUID in words
    assert "-accel tcg" in words and "-cpu" not in argv and "-m 512M -smp 2" in words
    blockdevs = [json.loads(argv[i + 1]) for i, w in enumerate(argv) if w == "-blockdev"]
    assert {"driver": "file", "filename": "/iso/x,y.iso", "node-name": "cd0-file", "read-only": True} in blockdevs
    assert {"driver": "qcow2", "file": "vda-file", "node-name": "vda"} in blockdevs
    assert "ide-cd,drive=sda,id=sda,bus=ide.0,bootindex=0" in argv  # the ISO boots first
    assert "virtio-blk-pci,drive=vda,id=vda,bootindex=1" in argv
    assert "tap,id=net1,ifname=tap7,script=no,downscript=no" in argv and "e1000,netdev=net1,id=net1" in argv
    assert "socket,id=qmp,path=/srv/a,,b/web1/qmp.sock,server=on,wait=off" in argv  # ',' doubled
    assert argv[argv.index("-pidfile") + 1] == "/srv/a,b/web1/pid"  # not an option string: verbatim
    assert "-vnc" in argv and argv[argv.index("-vnc") + 1] == "127.0.0.1:3"
    rt = parse_runtime(argv)
    assert (rt.name, rt.uuid, rt.memory_mib, rt.vcpus, rt.accel, rt.vnc_display, rt.pidfile) == (
        "web1", UUID, 512, 2, "tcg", 3, "/srv/a,b/web1/pid")  # fmt: skip
    with pytest.raises(ValueError, match="ifname"):
        build_argv(conf(nics=(ConfNic("tap", ifname="x;rm"),)), home, vnc_display=0)


def test_argv_kvm_and_aarch64() -> None:
    home = Home("/vms", "arm")
    assert "-cpu host" in " ".join(build_argv(conf(accel="kvm"), home, vnc_display=None))
    with pytest.raises(ValueError, match="UEFI"):
        build_argv(conf(arch="aarch64", machine="virt"), home, vnc_display=0)
    arm = conf(arch="aarch64", machine="virt", firmware_code="/fw/CODE.fd", firmware_vars="/vms/arm/efivars.fd")
    argv = build_argv(arm, home, vnc_display=0)
    assert argv[0] == "qemu-system-aarch64" and "virt,pflash0=pflash0,pflash1=pflash1" in argv
    assert "cortex-a57" in argv and "scsi-cd,drive=sda,id=sda,bus=scsi0.0,bootindex=0" in argv
    assert "-display" not in argv and "usb-kbd,bus=usb.0" in argv


def test_parse_read_and_the_running_decision() -> None:
    m = "@@qmcp-abc@@"
    text = render(conf())
    home = Home("/vms", "web1")
    header = " ".join(str(b) for b in [81, 70, 73, 251, 0, 0, 0, 3] + [0] * 16 + list((64 << 20).to_bytes(8, "big")))
    argv = ["qemu-system-x86_64", "-uuid", UUID, "-pidfile", home.pidfile, "-m", "256M", "-smp", "2"]
    argv += ["-vnc", "127.0.0.1:4"]
    out = (
        f"{m} vm web1\n{m} conf\n{text}\n{m} socket\n{m} pid 4242\n{m} cmdline\n"
        + "\n".join(argv)
        + "\n"
        + f"{m} file 200704 392 512 {header}\n/vms/web1/disk0.qcow2\n"
        + f"{m} vm half\n{m} creating\n{render(conf(name='half'))}\n"
        + f"{m} vm gone\n{m} conf\n{render(conf(name='gone'))}\n{m} pid 77\n{m} cmdline\n{m} cleaned\n"
    )
    exists, raws = parse_read(out, m)
    assert exists and [r.name for r in raws] == ["web1", "half", "gone"]
    web1, half, gone = (build_vm(r, "/vms") for r in raws)
    assert web1.alive and web1.status == "running" and web1.vnc_port == 5904 and web1.socket
    assert web1.files["/vms/web1/disk0.qcow2"].capacity("qcow2") == 64 << 20
    assert any("memory 512 MiB" in n and "next start" in n for n in web1.notes)
    assert half.incomplete and half.state == "incomplete" and half.status == "stopped"
    assert not gone.alive and any("stale pidfile: pid 77 no longer exists" in n and "removed" in n for n in gone.notes)
    # A process with our pidfile path but another uuid is not this VM.
    other = RawVm("web1", conf=text, pid=5, cmdline=["qemu-system-x86_64", "-uuid", "x", "-pidfile", home.pidfile])
    assert not build_vm(other, "/vms").alive
    # Our uuid, the pidfile reached through another path (a symlinked vm_dir): still this VM.
    alias = RawVm("web1", conf=text, pid=5, cmdline=["/usr/bin/qemu-system-x86_64", "-uuid", UUID, "-pidfile",
                                                     "/srv/link/web1/pid"])  # fmt: skip
    assert build_vm(alias, "/vms").alive
    # Our uuid as an argument of a program that is not qemu: not this VM.
    assert not build_vm(RawVm("web1", conf=text, pid=5, cmdline=["grep", "-uuid", UUID]), "/vms").alive
    assert parse_read(f"{m} nodir\n", m) == (False, [])


def test_small_parsers() -> None:
    tcp = (
        "  sl  local_address rem_address   st\n"
        "   0: 0100007F:170C 00000000:0000 0A 00000000\n"
        "   1: 0100007F:1A0B 0100007F:D2F0 01 00000000\n"
    )
    assert listening_ports(tcp) == {0x170C}
    st = parse_stat("123 (CPU 0/TCG) S 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 999 20")
    assert st is not None and (st.comm, st.state, st.utime, st.stime, st.starttime) == ("CPU 0/TCG", "S", 11, 12, 999)
    assert parse_stat("9 (a) b) R 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 19 20").comm == "a) b"  # type: ignore[union-attr]
    assert FileFacts(100, 4096).capacity("raw") == 100 and FileFacts(100, 4096).capacity("qcow2") is None


def test_sampler_mapping() -> None:
    now = datetime.now(UTC)
    raw = RawSample(
        clk_tck=100, conf=render(conf(nics=(ConfNic("tap", ifname="tap7"),))), pid=4242,
        cmdline=["qemu-system-x86_64", "-m", "512M", "-smp", "2"],
        stat="4242 (qemu-system-x86) S 1 2 3 4 5 6 7 8 9 10 150 50 13 14 15 16 17 18 777 20",
        status="Name:\tqemu\nVmRSS:\t  2048 kB\n",
        tasks=["1 (CPU 0/TCG) S 1 2 3 4 5 6 7 8 9 10 30 10 1 1 1 1 1 1 1 1",
               "2 (CPU 1/TCG) S 1 2 3 4 5 6 7 8 9 10 20 0 1 1 1 1 1 1 1 1",
               "3 (worker) S 1 2 3 4 5 6 7 8 9 10 99 99 1 1 1 1 1 1 1 1"],
        taps={"tap7": [10, 1, 0, 0, 2000, 20, 0, 1]},
    )  # fmt: skip
    stats = {"rd_bytes": 5, "wr_bytes": 6, "rd_operations": 1, "wr_operations": 2}
    qmp = {"status": "running", "blockstats": [{"node-name": "vda", "stats": stats}]}
    c = counters_from_sample(raw, qmp, started=1.0, taken_at=1.1, wall=now)
    assert (c.state, c.run_id, c.vcpus) == ("running", "4242:777", 2)
    assert c.cpu_time_ns == 2 * 10**9 and c.cpu_user_ns == 15 * 10**8 and c.vcpu_time_ns == 6 * 10**8
    assert c.memory is not None and (c.memory.current, c.memory.rss) == (512 * 1024, 2048)
    assert [(d.name, d.path, d.rd_bytes, d.wr_reqs) for d in c.disks] == [("vda", "/vms/web1/disk0.qcow2", 5, 2)]
    tap = c.nets[0]
    assert (tap.name, tap.rx_bytes, tap.tx_bytes, tap.rx_drop) == ("tap7", 2000, 10, 1)  # the guest's view
    assert counters_from_sample(RawSample(conf=raw.conf), None, started=1, taken_at=1, wall=now).state == "shut off"
    assert counters_from_sample(RawSample(gone=True), None, started=1, taken_at=1, wall=now).state == "gone"


# ---- the fixed scripts, run here on fabricated directories


def _run(argv: list[str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(argv, capture_output=True, text=True, timeout=30)


@pytest.fixture
def sleeper():  # type: ignore[no-untyped-def]
    proc = subprocess.Popen(["sleep", "60"])
    yield proc
    proc.kill()
    proc.wait()


def test_read_script_cleans_only_stale_pidfiles(tmp_path: Path, sleeper) -> None:  # type: ignore[no-untyped-def]
    vm_dir = tmp_path / "vms"
    # "ours": a live process that looks like this VM's qemu (a python sleeping, started as
    # qemu-system-x86_64 with the VM's -uuid and -pidfile).
    ours = vm_dir / "ours"
    ours.mkdir(parents=True)
    (ours / "vm.conf").write_text(render(conf(name="ours")))
    argv = ["qemu-system-x86_64", "-c", "import time; time.sleep(60)", "-uuid", UUID, "-pidfile", str(ours / "pid")]
    fake = subprocess.Popen(argv, executable=sys.executable)
    try:
        (ours / "pid").write_text(f"{fake.pid}\n")
        stale = vm_dir / "stale"
        stale.mkdir()
        (stale / "vm.conf").write_text(render(conf(name="stale")))
        (stale / "pid").write_text(f"{sleeper.pid}\n")  # alive, but not this VM's qemu
        (vm_dir / "not-a-vm").mkdir()
        (vm_dir / "half").mkdir()
        (vm_dir / "half" / "creating").write_text(render(conf(name="half")))
        m = "@@qmcp-t@@"
        out = _run(qemu_host.read_vms(str(vm_dir), m, clean=True))
        assert out.returncode == 0, out.stderr
        _, raws = parse_read(out.stdout, m)
        by = {r.name: r for r in raws}
        assert sorted(by) == ["half", "ours", "stale"]
        assert by["ours"].cmdline and str(ours / "pid") in by["ours"].cmdline and not by["ours"].cleaned
        assert by["stale"].cleaned and not (stale / "pid").exists() and (ours / "pid").exists()
        assert sleeper.poll() is None
        assert by["half"].creating is not None and by["half"].conf is None
        # One VM by name; no cleaning without `clean`.
        (stale / "pid").write_text(f"{sleeper.pid}\n")
        out = _run(qemu_host.read_vms(str(vm_dir), m, ["stale"]))
        assert [r.name for r in parse_read(out.stdout, m)[1]] == ["stale"] and (stale / "pid").exists()
        # The kill script never signals a process that is not this VM's qemu ...
        assert _run(qemu_host.kill(Home(str(vm_dir), "stale"))).returncode == 0 and sleeper.poll() is None
        # ... and does kill the one that is, then removes its pidfile.
        assert _run(qemu_host.kill(Home(str(vm_dir), "ours"))).returncode == 0
        assert fake.wait(10) == -9 and not (ours / "pid").exists()
    finally:
        fake.kill()
        fake.wait()
    assert parse_read(_run(qemu_host.read_vms(str(tmp_path / "none"), "@@m@@")).stdout, "@@m@@") == (False, [])


def test_conf_writes_are_atomic_and_claim_is_exclusive(tmp_path: Path) -> None:
    home = Home(str(tmp_path), "web1")
    assert _run(qemu_host.claim(home, render(conf()))).returncode == 0
    assert (tmp_path / "web1" / "creating").read_text() == render(conf())
    again = _run(qemu_host.claim(home, "x"))
    assert again.returncode != 0 and "File exists" in again.stderr
    text = render(conf(memory_mib=1024))
    assert _run(qemu_host.write_conf(home, text)).returncode == 0
    assert sorted(os.listdir(home.dir)) == ["vm.conf"] and Path(home.conf).read_text() == text
    (Path(home.dir) / "disk0.qcow2").write_text("")
    assert _run(qemu_host.remove_dir_if_empty(home)).stdout.split() == ["disk0.qcow2", "vm.conf"]
    assert _run(qemu_host.remove_own_files(home)).returncode == 0
    assert os.listdir(home.dir) == ["disk0.qcow2"]


# ---- QemuBackend.prepare_create against scripted host answers


def scripted_host(machine: str = "x86_64", kvm: str = "usable", probe_ok: bool = True) -> FakeRunner:
    """A host whose check script finds `machine` and /dev/kvm `kvm`, and whose probe guest runs or not."""

    def answer(call: Call) -> Answer:
        if call.argv[3] == "qmcp-qemu-check":
            emulator = f"/usr/bin/qemu-system-{call.argv[4]}"
            return Answer(0, f"machine={machine}\nemulator={emulator}\nqemu_img=/usr/bin/qemu-img\nkvm={kvm}\n")
        if call.argv[3] == PROBE:
            if probe_ok:
                return Answer(0, '{"return": {"status": "running", "running": true}}\n')
            return Answer(134, "qemu: error: failed to set MSR 0x10a\n")
        raise AssertionError(call.argv)

    return FakeRunner(answer, host="lab")


def _backend(accel: str = "auto") -> QemuBackend:
    spec = HostSpec(name="lab", address="192.0.2.1", accel=accel, backend="qemu", vm_dir="/vms")  # type: ignore[arg-type]
    return QemuBackend(AccelVerdicts(), spec)


PLAN = CreatePlan("web1", "x86_64", 512, 1, "/vms/web1/disk0.qcow2", "qcow2", 1 << 30, None, False, "/vms", "/vms/web1")


async def test_kvm_only_when_the_probe_guest_runs() -> None:
    backend, host = _backend(), scripted_host()
    assert (await backend.prepare_create(Job(host, "lab"), PLAN)).accel == "kvm"
    assert (await backend.prepare_create(Job(host, "lab"), PLAN)).accel == "kvm" and host.count(PROBE) == 1  # kept
    backend, host = _backend(), scripted_host(probe_ok=False)
    job = Job(host, "lab")
    assert (await backend.prepare_create(job, PLAN)).accel == "qemu"
    assert any("failed to set MSR" in n for n in job.notes)
    for host in (scripted_host(kvm="no-access"), scripted_host(machine="aarch64")):
        job = Job(host, "lab")
        assert (await _backend().prepare_create(job, PLAN)).accel == "qemu" and host.count(PROBE) == 0
        assert any("/dev/kvm" in n or "KVM runs only aarch64" in n for n in job.notes)
    host = scripted_host()
    assert (await _backend("tcg").prepare_create(Job(host, "lab"), PLAN)).accel == "qemu" and host.count(PROBE) == 0
    with pytest.raises(InvalidInput, match="accel: kvm"):
        await _backend("kvm").prepare_create(Job(scripted_host(kvm="missing"), "lab"), PLAN)


async def test_socket_path_limit() -> None:
    spec = HostSpec(name="lab", backend="qemu", vm_dir="/" + "d" * 100)
    backend = QemuBackend(AccelVerdicts(), spec)
    with pytest.raises(InvalidInput, match="unix socket path"):
        await backend.prepare_create(Job(LocalRunner(), "lab"), PLAN)


async def test_vm_dir_on_every_action_picks_the_plain_qemu_dir_and_is_refused_on_libvirt() -> None:
    from qemu_mcp.ops.manage import actions, parse_request

    qemu = HostSpec(name="q", address="192.0.2.1", backend="qemu", vm_dir="/vms")
    lib = HostSpec(name="l", address="192.0.2.2", backend="libvirt")
    fleet = Fleet(Inventory([qemu, lib]))
    backend = await actions.backend_for(fleet, qemu, parse_request("web1", "start", vm_dir="/other/"))
    assert isinstance(backend, QemuBackend) and backend.vm_dir == "/other"
    assert (await actions.backend_for(fleet, qemu, parse_request("web1", "stop"))).vm_dir == "/vms"  # type: ignore[attr-defined]
    with pytest.raises(InvalidInput, match="vm_dir does not apply to action=start on host 'l'"):
        await actions.backend_for(fleet, lib, parse_request("web1", "start", vm_dir="/other"))
    create = parse_request("web1", "create", arch="x86_64", vm_dir="/o")
    assert (await actions.backend_for(fleet, lib, create)).kind == "libvirt"
