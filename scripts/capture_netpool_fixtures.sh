#!/usr/bin/env bash
# Record the raw output of what list_networks and list_storage_pools run, for the parser tests:
# the libvirt scripts (qemu_mcp.backends.libvirt.scripts) on qemu:///system and
# the plain-QEMU ones (qemu_mcp.backends.qemu.bridges / storage), each built by qemu_mcp itself.
#
# Writes fixtures/<os-release ID>-<VERSION_ID>/{net,pool}-*.txt (stdout; stderr in *.stderr.txt
# when there is any) and commands-netpool.jsonl (one {"file", "exit_status", "argv"} per line).
# Its own prefixes and index: scripts/capture_fixtures.sh and capture_qemu_fixtures.sh rewrite
# theirs (virsh-*, hostio-*, qemu-*, qmp-*) without touching these. It never writes
# *.expected.json: those are written and checked BY HAND against the raw text (REVIEWED.md).
#
# Needs: root with a working qemu:///system (libvirt's network driver and dnsmasq), ip
# (iproute2), qemu-img, and a python that can import qemu_mcp ($PYTHON, default python3).
# Makes, and removes on exit: networks qmcp-cap-net{a,b,c} (isolated, 10.251.20x.0/24; only
# neta is started: its bridge has no guest, so no DHCP traffic), pools qmcp-cap-pool{a,b} (dir pools
# below $IMG), a domain qmcp-cap-pooluser (TCG, no OS) using two of poola's volumes, and a bridge
# qmcpcapbr9 with a tap device qmcpcaptap9 (no traffic). neta's two DHCP leases are written into
# libvirt's lease status file for its bridge, the file dnsmasq's lease helper keeps: no DHCP.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
# shellcheck disable=SC1091
DEST=$ROOT/fixtures/$(. /etc/os-release && echo "$ID-${VERSION_ID:-unknown}")
PY=${PYTHON:-python3}
OUT=$(mktemp -d /tmp/qmcp-capnp-out.XXXXXX) # moved to DEST only when everything succeeded
SYS=qemu:///system
IMG=/var/lib/libvirt/images/qmcp-cap-pools # libvirt's qemu user must reach the volumes
STORE=/tmp/qmcp-cap-store                   # a plain-QEMU host's vm_dir (image_dir: $STORE/vms/images)
XMLDIR=/tmp/qmcp-cap-netpool-xml
MARK='@@qmcp-c0ffee@@'
NETS=(qmcp-cap-neta qmcp-cap-netb qmcp-cap-netc)
POOLS=(qmcp-cap-poola qmcp-cap-poolb)
USER_VM=qmcp-cap-pooluser
BR=qmcpcapbr9
TAP=qmcpcaptap9
LEASES=/var/lib/libvirt/dnsmasq/qmcpcapbr1.status
EXPIRY=4102444800 # 2100-01-01 00:00:00 UTC: the leases never expire between re-captures

export LC_ALL=C TZ=UTC # virsh prints lease expiry times in local time
export PYTHONPATH="$ROOT"
V=(virsh -q -c "$SYS")

cleanup() { # must not touch errexit: it also runs at the start
    local n
    "${V[@]}" destroy "$USER_VM" >/dev/null 2>&1 || true
    "${V[@]}" undefine "$USER_VM" >/dev/null 2>&1 || true
    for n in "${POOLS[@]}"; do
        "${V[@]}" pool-destroy "$n" >/dev/null 2>&1 || true
        "${V[@]}" pool-undefine "$n" >/dev/null 2>&1 || true
    done
    for n in "${NETS[@]}"; do
        "${V[@]}" net-destroy "$n" >/dev/null 2>&1 || true
        "${V[@]}" net-undefine "$n" >/dev/null 2>&1 || true
    done
    ip link del "$TAP" >/dev/null 2>&1 || true
    ip link del "$BR" >/dev/null 2>&1 || true
    rm -rf "$IMG" "$STORE" "$XMLDIR" "$LEASES"
}
trap 'cleanup; rm -rf "$OUT"' EXIT
cleanup # leftovers from an interrupted run

# cap FILE CMD...: runs CMD; its stdout goes to FILE.txt, its stderr (if any) to FILE.stderr.txt, and
# {"file", "exit_status", "argv"} is appended to the index. A non-zero exit is recorded, not fatal.
cap() {
    "$PY" - "$OUT" "$@" <<'EOF'
import json, subprocess, sys
from pathlib import Path
out, name, argv = Path(sys.argv[1]), sys.argv[2], sys.argv[3:]
done = subprocess.run(argv, capture_output=True)
(out / f"{name}.txt").write_bytes(done.stdout)
if done.stderr:
    (out / f"{name}.stderr.txt").write_bytes(done.stderr)
with (out / "commands-netpool.jsonl").open("a") as index:
    index.write(json.dumps({"file": f"{name}.txt", "exit_status": done.returncode, "argv": argv}) + "\n")
EOF
}

# argv WHAT ARGS...: fills ARGV with the command qemu_mcp builds (the scripts take the marker).
argv() {
    mapfile -d '' -t ARGV < <("$PY" - "$@" <<'EOF'
import sys
from qemu_mcp.backends.libvirt import scripts as libvirt_scripts
from qemu_mcp.backends.qemu import bridges, storage
what, *args = sys.argv[1:]
built = {
    "networks": lambda: libvirt_scripts.list_networks(*args),
    "pools": lambda: libvirt_scripts.list_pools(*args),
    "pool": lambda: libvirt_scripts.describe_pool(*args),
    "bridges": lambda: bridges.bridges_argv(*args),
    "storage": lambda: storage.storage_argv(args[0], args[1], details=args[2] == "details"),
}[what]()
sys.stdout.write("\0".join(built))
EOF
    )
    [ "${#ARGV[@]}" -gt 0 ] || { echo "capture_netpool_fixtures: no argv for: $*" >&2 && return 1; }
}

# Other networks, pools or domains would land in the captures and make them churn; refuse
# unless told otherwise (QMCP_CAP_ALLOW_OTHERS=1). libvirt's own `default` network is expected.
only_ours() {
    local others
    others=$({
        "${V[@]}" net-list --all --name | grep -v -e '^qmcp-cap-' -e '^default$' -e '^$' || true
        "${V[@]}" pool-list --all --name | sed 's/ *$//' | grep -v -e '^qmcp-cap-' -e '^$' || true
        "${V[@]}" list --all --name | grep -v -e '^qmcp-cap-' -e '^$' || true
    })
    if [ -n "$others" ] && [ "${QMCP_CAP_ALLOW_OTHERS:-0}" != 1 ]; then
        echo "capture_netpool_fixtures: other networks, pools or domains exist: $(echo "$others" | tr '\n' ' ')" >&2
        echo "capture_netpool_fixtures: wait until they are gone, or set QMCP_CAP_ALLOW_OTHERS=1" >&2
        exit 1
    fi
}
only_ours

# ---- networks: active with DHCP (netmask form) and two leases; inactive with a prefix and IPv6;
# inactive forward mode 'bridge' (an existing host bridge, no addresses). Fixed UUIDs: diffable.
mkdir -p "$XMLDIR" "$IMG/a" "$IMG/b" "$STORE/vms/cap-a" "$STORE/vms/images"
network() { # network LETTER N XML...: defines qmcp-cap-net<LETTER>, UUID ...5d0<N>, the rest of its XML given
    local name=qmcp-cap-net$1 uuid=0c3a1f52-7d1e-4b8e-9a61-1f2e3d4c5d0$2
    shift 2
    printf '<network><name>%s</name><uuid>%s</uuid>%s</network>\n' "$name" "$uuid" "$*" >"$XMLDIR/$name.xml"
    "${V[@]}" net-define "$XMLDIR/$name.xml" >/dev/null
}
network a 1 "<bridge name='qmcpcapbr1' stp='on' delay='0'/><mac address='52:54:00:c0:ff:21'/>" \
    "<ip address='10.251.201.1' netmask='255.255.255.0'>" \
    "<dhcp><range start='10.251.201.100' end='10.251.201.150'/></dhcp></ip>"
network b 2 "<bridge name='qmcpcapbr2'/><mac address='52:54:00:c0:ff:22'/><ip address='10.251.202.1' prefix='24'/>" \
    "<ip family='ipv6' address='fd00:251:202::1' prefix='64'/>"
network c 3 "<forward mode='bridge'/><bridge name='qmcpcapbr3'/>"
"${V[@]}" net-start qmcp-cap-neta >/dev/null
printf '[{"ip-address": "10.251.201.101", "mac-address": "52:54:00:c0:ff:31", "hostname": "guest-one", "client-id": "01:52:54:00:c0:ff:31", "expiry-time": %s}, {"ip-address": "10.251.201.102", "mac-address": "52:54:00:c0:ff:32", "expiry-time": %s}]\n' \
    "$EXPIRY" "$EXPIRY" >"$LEASES"

argv networks "$SYS" "$MARK"
cap net-libvirt.qemu-system "${ARGV[@]}"

# ---- storage pools: poola (active) with a base image, an overlay whose name has a space, a raw
# disk and a volume whose name has a quote; poolb defined, never started.
for p in a b; do
    printf "<pool type='dir'><name>qmcp-cap-pool%s</name><uuid>%s</uuid><target><path>%s</path></target></pool>\n" \
        "$p" "0c3a1f52-7d1e-4b8e-9a61-1f2e3d4c5e0$([ $p = a ] && echo 1 || echo 2)" "$IMG/$p" >"$XMLDIR/pool$p.xml"
    "${V[@]}" pool-define "$XMLDIR/pool$p.xml" >/dev/null
done
"${V[@]}" pool-start qmcp-cap-poola >/dev/null
"${V[@]}" vol-create-as qmcp-cap-poola base.qcow2 64M --format qcow2 >/dev/null
"${V[@]}" vol-create-as qmcp-cap-poola "over lay.qcow2" 128M --format qcow2 \
    --backing-vol base.qcow2 --backing-vol-format qcow2 >/dev/null
"${V[@]}" vol-create-as qmcp-cap-poola data.raw 16M --format raw >/dev/null
"${V[@]}" vol-create-as qmcp-cap-poola "it's.raw" 1M --format raw >/dev/null

# The user of poola's volumes: vda the overlay (by path), vdb data.raw (as a pool volume). Running,
# so its live XML shows the overlay's backing chain.
printf '%s' "<domain type='qemu'><name>$USER_VM</name><uuid>0c3a1f52-7d1e-4b8e-9a61-1f2e3d4c5b04</uuid>" \
    "<memory unit='MiB'>64</memory><vcpu>1</vcpu><os><type arch='x86_64' machine='pc'>hvm</type></os><devices>" \
    "<disk type='file' device='disk'><driver name='qemu' type='qcow2'/>" \
    "<source file='$IMG/a/over lay.qcow2'/><target dev='vda' bus='virtio'/></disk>" \
    "<disk type='volume' device='disk'><driver name='qemu' type='raw'/>" \
    "<source pool='qmcp-cap-poola' volume='data.raw'/><target dev='vdb' bus='virtio'/></disk>" \
    "</devices></domain>" >"$XMLDIR/user.xml"
"${V[@]}" define "$XMLDIR/user.xml" >/dev/null
"${V[@]}" start "$USER_VM" >/dev/null
only_ours # nobody made a network, pool or domain while we set up

argv pools "$SYS" "$MARK"
cap pool-libvirt.qemu-system "${ARGV[@]}"
argv pool "$SYS" "$MARK" qmcp-cap-poola
cap pool-libvirt-detail.qmcp-cap-poola "${ARGV[@]}"
argv pool "$SYS" "$MARK" qmcp-cap-poolb
cap pool-libvirt-detail.qmcp-cap-poolb "${ARGV[@]}"
# A pool's UUID given as its name finds nothing: names are compared, never looked up by virsh.
argv pool "$SYS" "$MARK" 0c3a1f52-7d1e-4b8e-9a61-1f2e3d4c5e01
cap pool-libvirt-detail.uuid-as-name "${ARGV[@]}"
"${V[@]}" destroy "$USER_VM" >/dev/null

# ---- a plain-QEMU host: its bridges (qmcpcapbr9 with a tap, down; neta's bridge is up) ...
ip link add "$BR" type bridge
ip tuntap add dev "$TAP" mode tap
ip link set "$TAP" master "$BR"
ip addr add 10.251.209.1/24 dev "$BR"
argv bridges "$MARK"
cap net-bridges.host "${ARGV[@]}"

# ... and its directories: a VM whose disk is an overlay of a base image in image_dir and whose
# ISO is there too; a file named .qcow2 that is not qcow2; a file that is no image.
qemu-img create -q -f qcow2 "$STORE/vms/images/base.qcow2" 64M
qemu-img create -q -f qcow2 -b "$STORE/vms/images/base.qcow2" -F qcow2 "$STORE/vms/cap-a/disk0.qcow2" 1G
qemu-img create -q -f raw "$STORE/vms/images/tiny install.iso" 1M
qemu-img create -q -f raw "$STORE/vms/images/not-really.qcow2" 1M
echo notes >"$STORE/vms/images/README.txt"
"$PY" - "$STORE/vms" <<'EOF'
import sys
from qemu_mcp.backends.qemu.vmconf import ConfDisk, Home, VmConf, render
vm_dir = sys.argv[1]
home = Home(vm_dir, "cap-a")
conf = VmConf(name="cap-a", uuid="0c3a1f52-7d1e-4b8e-9a61-1f2e3d4c5c11", arch="x86_64", machine="q35", accel="tcg",
              memory_mib=128, vcpus=1, disks=(ConfDisk("vda", home.file("disk0.qcow2"), "qcow2"),),
              iso=f"{vm_dir}/images/tiny install.iso", created="2026-01-02T03:04:05+00:00")
open(home.conf, "w").write(render(conf))
EOF
argv storage "$STORE/vms" "$MARK" list
cap pool-qemu.vms "${ARGV[@]}"
argv storage "$STORE/vms" "$MARK" details
cap pool-qemu-detail.vms "${ARGV[@]}"
argv storage "$STORE/nosuch" "$MARK" list
cap pool-qemu.nosuch "${ARGV[@]}"

# ---- into the fixture directory: only this script's files; expected files are left alone
mkdir -p "$DEST"
rm -f "$DEST"/net-*.txt "$DEST"/pool-*.txt "$DEST/commands-netpool.jsonl"
cp "$OUT"/* "$DEST"/
echo "captured into $DEST; now check every changed parse by hand:"
echo "  git diff -- $DEST; python -m pytest tests/parsers/test_fixtures.py"
