#!/usr/bin/env bash
# Record the raw output of the exact virsh commands qemu-mcp runs, for the parser tests.
#
# Writes fixtures/<os-release ID>-<VERSION_ID>/{virsh,hostio}-*.txt and a commands.txt index
# (file<TAB>exit status<TAB>command line). It captures raw output only: the <what>.expected.json
# next to each file is written and checked BY HAND against the raw text, never by the parsers
# (see REVIEWED.md there). After a re-capture, tests/parsers/test_fixtures.py shows every parse
# that changed; read the new raw file, correct its expected file by hand, and note it in REVIEWED.md.
# The plain-QEMU fixtures have their own script: scripts/capture_qemu_fixtures.sh.
#
# Needs: root (or libvirt group) with a working qemu:///system, qemu-img, python3 that can
# import qemu_mcp (it builds the monitor and hostio argv).
# Creates short-lived TCG guests named qmcp-cap-* and removes them (and their disks) on exit.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
# shellcheck disable=SC1091
. /etc/os-release
DEST="$ROOT/fixtures/${ID}-${VERSION_ID:-unknown}"
OUT=$(mktemp -d /tmp/qmcp-cap-out.XXXXXX) # moved to DEST only when everything succeeded
SYS=qemu:///system
TEST=test:///default
IMG=/var/lib/libvirt/images/qmcp-cap
# Fixed paths, names, UUIDs, MACs and marker: virsh echoes some of them (e.g. "defined
# from PATH"), so fixed values keep re-captures diffable.
XMLDIR=/tmp/qmcp-cap-xml
MARK='@@qmcp-c0ffee@@'
RUN=qmcp-cap-run
OFF=qmcp-cap-off
MON=qmcp-cap-mon # monitor_vm_status captures: a guest with a tap NIC (user-mode NICs have no counters)

# The product runs virsh with LC_ALL=C: state words, headers and errors are translated otherwise.
export LC_ALL=C

cleanup() { # must not touch errexit: it also runs at the start
    local d
    for d in "$RUN" "$OFF" "$MON"; do
        virsh -q -c "$SYS" destroy "$d" >/dev/null 2>&1 || true
        virsh -q -c "$SYS" undefine --nvram "$d" >/dev/null 2>&1 || true
    done
    rm -rf "$IMG" "$XMLDIR"
}
trap 'cleanup; rm -rf "$OUT"' EXIT
cleanup # leftovers from an interrupted run

mkdir -p "$IMG" "$XMLDIR"
printf '# file\texit status\targv (shell-quoted)\n' >"$OUT/commands.txt"

# Shell-quote only the words that need it, so commands.txt stays readable.
shq() {
    local out="" w
    for w in "$@"; do
        if [[ $w =~ ^[A-Za-z0-9_./:=@%+,-]+$ ]]; then out+=" $w"; else out+=" '${w//\'/\'\\\'\'}'"; fi
    done
    printf '%s' "${out# }"
}

# cap FILE CMD...: stdout -> FILE.txt; stderr -> FILE.stderr.txt when not empty.
# A non-zero exit is recorded, not fatal: batches with a failing command are captured on purpose.
cap() {
    local file=$1 rc=0
    shift
    "$@" >"$OUT/$file.txt" 2>"$OUT/$file.stderr.txt" || rc=$?
    [ -s "$OUT/$file.stderr.txt" ] || rm -f "$OUT/$file.stderr.txt"
    printf '%s.txt\t%s\t%s\n' "$file" "$rc" "$(shq "$@")" >>"$OUT/commands.txt"
}

# The product's argv: `env LC_ALL=C virsh -c URI 'one command string'` (even for one command).
VSH=(env LC_ALL=C virsh -c)
# Quote one word for virsh's command-string parser, as the product does.
vq() { printf "'%s'" "${1//\'/\'\\\'\'}"; }

# ---- real guests on qemu:///system (TCG: libvirt's qemu user cannot open /dev/kvm here)
qemu-img create -q -f qcow2 "$IMG/run.qcow2" 1G
qemu-img create -q -f raw "$IMG/run-data.raw" 64M
qemu-img create -q -f qcow2 "$IMG/off.qcow2" 1G

cat >"$XMLDIR/$RUN.xml" <<EOF
<domain type='qemu'>
  <name>$RUN</name>
  <uuid>0c3a1f52-7d1e-4b8e-9a61-1f2e3d4c5b01</uuid>
  <memory unit='MiB'>128</memory>
  <vcpu>1</vcpu>
  <os><type arch='x86_64' machine='q35'>hvm</type><boot dev='hd'/></os>
  <features><acpi/><apic/></features>
  <devices>
    <disk type='file' device='disk'>
      <driver name='qemu' type='qcow2'/><source file='$IMG/run.qcow2'/><target dev='vda' bus='virtio'/>
    </disk>
    <disk type='file' device='disk'>
      <driver name='qemu' type='raw'/><source file='$IMG/run-data.raw'/><target dev='vdb' bus='virtio'/>
    </disk>
    <disk type='file' device='cdrom'>
      <driver name='qemu' type='raw'/><target dev='sda' bus='sata'/><readonly/>
    </disk>
    <interface type='user'><mac address='52:54:00:c0:ff:01'/><model type='virtio'/></interface>
    <graphics type='vnc' port='-1' autoport='yes' listen='127.0.0.1'/>
    <serial type='pty'/>
    <console type='pty'/>
    <memballoon model='virtio'><stats period='2'/></memballoon>
  </devices>
</domain>
EOF

# Shut-off guest: 2 of 4 vCPUs, 192 of 256 MiB, UEFI loader + nvram, bridge NIC, title/description.
# Defining does not check that the bridge exists, so it need not.
cat >"$XMLDIR/$OFF.xml" <<EOF
<domain type='qemu'>
  <name>$OFF</name>
  <uuid>0c3a1f52-7d1e-4b8e-9a61-1f2e3d4c5b02</uuid>
  <title>capture: shut off</title>
  <description>qemu-mcp fixture guest &amp; friends</description>
  <memory unit='MiB'>256</memory>
  <currentMemory unit='MiB'>192</currentMemory>
  <vcpu current='2'>4</vcpu>
  <os>
    <type arch='x86_64' machine='q35'>hvm</type>
    <loader readonly='yes' type='pflash'>/usr/share/OVMF/OVMF_CODE_4M.fd</loader>
    <nvram template='/usr/share/OVMF/OVMF_VARS_4M.fd'>/var/lib/libvirt/qemu/nvram/${OFF}_VARS.fd</nvram>
  </os>
  <features><acpi/><apic/></features>
  <devices>
    <disk type='file' device='disk'>
      <driver name='qemu' type='qcow2'/><source file='$IMG/off.qcow2'/><target dev='sda' bus='sata'/>
    </disk>
    <interface type='bridge'>
      <mac address='52:54:00:c0:ff:02'/><source bridge='qmcpbr0'/><model type='e1000e'/>
    </interface>
    <graphics type='vnc' port='5999' autoport='no' listen='127.0.0.1'/>
  </devices>
</domain>
EOF

# Other domains on the host would land in the all-domain captures and make them churn;
# refuse unless told otherwise (QMCP_CAP_ALLOW_OTHERS=1).
only_ours() {
    local others
    others=$(virsh -q -c "$SYS" list --all --name | grep -v -e '^qmcp-cap-' -e '^$' || true)
    if [ -n "$others" ] && [ "${QMCP_CAP_ALLOW_OTHERS:-0}" != 1 ]; then
        echo "capture_fixtures: other domains exist on $SYS ($(echo "$others" | tr '\n' ' '))" >&2
        echo "capture_fixtures: remove them or set QMCP_CAP_ALLOW_OTHERS=1" >&2
        exit 1
    fi
}
only_ours

virsh -q -c "$SYS" define "$XMLDIR/$RUN.xml" >/dev/null
virsh -q -c "$SYS" define "$XMLDIR/$OFF.xml" >/dev/null
virsh -q -c "$SYS" start "$RUN" >/dev/null
sleep 3 # let cpu/block/balloon counters move

cap virsh-domstats-raw.qemu-system "${VSH[@]}" "$SYS" "domstats --raw"
cap "virsh-dumpxml-$RUN.qemu-system" "${VSH[@]}" "$SYS" "dumpxml --domain $RUN"
cap "virsh-dumpxml-$OFF.qemu-system" "${VSH[@]}" "$SYS" "dumpxml --domain $OFF"
cap virsh-nodeinfo.qemu-system "${VSH[@]}" "$SYS" nodeinfo
cap virsh-version.qemu-system "${VSH[@]}" "$SYS" version
cap virsh-version-daemon.qemu-system "${VSH[@]}" "$SYS" "version --daemon"
cap virsh-list-all.qemu-system "${VSH[@]}" "$SYS" "list --all"
cap virsh-list-all-name.qemu-system "${VSH[@]}" "$SYS" "list --all --name"
cap virsh-list-all-uuid.qemu-system "${VSH[@]}" "$SYS" "list --all --uuid"
only_ours # nobody started a domain while we captured
# One virsh process, several commands; the dumpxml in the middle fails on purpose.
cap virsh-batch.qemu-system "${VSH[@]}" "$SYS" \
    "list --all --name; echo $MARK; domstats --raw -- $RUN; echo $MARK; dumpxml --domain qmcp-cap-nosuch; echo $MARK; nodeinfo"

# ---- monitor_vm_status: the product's per-sample batch (built by qemu_mcp itself), taken twice
# 1 s apart with a 1 MiB read of vda by QEMU's qemu-io in between (counted in rd.bytes), then
# for a shut-off and a missing domain. Its tap NIC needs no bridge (type='ethernet').
cat >"$XMLDIR/$MON.xml" <<EOF
<domain type='qemu'>
  <name>$MON</name>
  <uuid>0c3a1f52-7d1e-4b8e-9a61-1f2e3d4c5b03</uuid>
  <memory unit='MiB'>128</memory>
  <vcpu>1</vcpu>
  <os><type arch='x86_64' machine='pc'>hvm</type><boot dev='hd'/></os>
  <devices>
    <disk type='file' device='disk'>
      <driver name='qemu' type='qcow2'/><source file='$IMG/mon.qcow2'/><target dev='vda' bus='virtio'/>
    </disk>
    <interface type='ethernet'>
      <mac address='52:54:00:c0:ff:03'/><target dev='qmcpcap0' managed='yes'/><model type='virtio'/>
    </interface>
    <memballoon model='virtio'><stats period='1'/></memballoon>
  </devices>
</domain>
EOF
qemu-img create -q -f qcow2 "$IMG/mon.qcow2" 64M
virsh -q -c "$SYS" define "$XMLDIR/$MON.xml" >/dev/null
virsh -q -c "$SYS" start "$MON" >/dev/null
sleep 2
monitor_batch() { # the exact virsh command string LibvirtSampler runs for domain $1
    (cd "$ROOT" && python3 -c 'import sys; from qemu_mcp.backends.libvirt import virsh as v
print(v.script([v.domstats_groups(sys.argv[1], ["cpu", "memory", "disk", "network"]), v.domid(sys.argv[1])], sys.argv[2]))' "$1" "$MARK")
}
cap virsh-monitor-sample1.qemu-system "${VSH[@]}" "$SYS" "$(monitor_batch "$MON")"
virsh -q -c "$SYS" qemu-monitor-command "$MON" --hmp \
    'qemu-io -d /machine/peripheral/virtio-disk0/virtio-backend "aio_read 0 1M"' >/dev/null
sleep 1
cap virsh-monitor-sample2.qemu-system "${VSH[@]}" "$SYS" "$(monitor_batch "$MON")"
cap virsh-monitor-off.qemu-system "${VSH[@]}" "$SYS" "$(monitor_batch "$OFF")"
cap virsh-monitor-nosuch.qemu-system "${VSH[@]}" "$SYS" "$(monitor_batch qmcp-cap-nosuch)"
virsh -q -c "$SYS" destroy "$MON" >/dev/null

# ---- host disks: the product's hostio script (qemu_mcp.host.iostat), via iostat and without
hostio_argv() { (cd "$ROOT" && python3 -c 'import sys; from qemu_mcp.host.iostat import host_io
print("\0".join(host_io(1, sys.argv[1])), end="")' "$1"); }
mapfile -d '' -t HOSTIO_AUTO < <(hostio_argv auto)
mapfile -d '' -t HOSTIO_DISKSTATS < <(hostio_argv diskstats)
io_load() { # direct I/O on a scratch file while a capture measures, so the counters move
    sleep 0.2
    dd if=/dev/zero of="$IMG/io.tmp" bs=1M count=32 oflag=direct status=none
    dd if="$IMG/io.tmp" of=/dev/null bs=1M iflag=direct status=none
}
io_load &
cap hostio-iostat.host "${HOSTIO_AUTO[@]}"
wait
io_load &
cap hostio-diskstats.host "${HOSTIO_DISKSTATS[@]}"
wait

# ---- libvirt's built-in test driver (state lives only as long as one virsh process)
cap virsh-domstats-raw.test-default "${VSH[@]}" "$TEST" "domstats --raw"
cap virsh-dumpxml-test.test-default "${VSH[@]}" "$TEST" "dumpxml --domain test"
cap virsh-nodeinfo.test-default "${VSH[@]}" "$TEST" nodeinfo
cap virsh-version.test-default "${VSH[@]}" "$TEST" version
cap virsh-version-daemon.test-default "${VSH[@]}" "$TEST" "version --daemon"
cap virsh-list-all.test-default "${VSH[@]}" "$TEST" "list --all"

# Odd names: quotes, semicolon, backslash, leading space, a state word inside the name,
# non-ASCII (incl. double-width CJK, which virsh pads by display width).
odd() { # odd FILE UUID NAME(XML-escaped)
    printf "<domain type='test'><name>%s</name><uuid>%s</uuid><memory unit='MiB'>128</memory>%s</domain>\n" \
        "$3" "$2" "<os><type>hvm</type></os>" >"$XMLDIR/$1.xml"
}
ODD1="it's a \"vm\"; with spaces"
ODD2="semi;colon 'q' back\\slash"
odd odd1 5e1f0000-0000-4000-8000-000000000001 "$ODD1"
odd odd2 5e1f0000-0000-4000-8000-000000000002 "$ODD2"
odd odd3 5e1f0000-0000-4000-8000-000000000003 " leading space"
odd odd4 5e1f0000-0000-4000-8000-000000000004 "x   shut off"
odd odd5 5e1f0000-0000-4000-8000-000000000005 "ünï cødé &amp; &lt;tag&gt;"
odd odd6 5e1f0000-0000-4000-8000-000000000006 "日本語 vm"
DEFINES="define $XMLDIR/odd1.xml; define $XMLDIR/odd2.xml; define $XMLDIR/odd3.xml; define $XMLDIR/odd4.xml; define $XMLDIR/odd5.xml; define $XMLDIR/odd6.xml"
# Setup starts by UUID; the reads address names quoted as the product quotes them
# (qemu_mcp.backends.libvirt.virsh.quote: sh-style single quotes), which virsh's parser accepts.
cap virsh-batch-oddnames.test-default "${VSH[@]}" "$TEST" \
    "$DEFINES; start 5e1f0000-0000-4000-8000-000000000001; start 5e1f0000-0000-4000-8000-000000000004; echo $MARK; list --all; echo $MARK; list --all --name; echo $MARK; list --all --uuid; echo $MARK; domstats --raw; echo $MARK; domstats --raw -- $(vq "$ODD1"); echo $MARK; dumpxml --domain $(vq "$ODD2"); echo $MARK; dumpxml --domain 5e1f0000-0000-4000-8000-000000000005"
# Under LC_ALL=C virsh's table prints each byte of a non-ASCII name as a literal \xff;
# with C.UTF-8 it prints the name. Captured both ways.
cap virsh-batch-oddnames-utf8.test-default env LC_ALL=C.UTF-8 virsh -c "$TEST" \
    "$DEFINES; start 5e1f0000-0000-4000-8000-000000000006; echo $MARK; list --all; echo $MARK; list --all --name; echo $MARK; domstats --raw --state"
# Batch behaviour: a failure in the middle (exit 0, batch goes on), a failure last (exit 1),
# and a parse error (nothing runs at all, exit 1).
cap virsh-batch-midfail.test-default "${VSH[@]}" "$TEST" \
    "list --all --name; echo $MARK; dumpxml --domain nosuch; echo $MARK; nodeinfo"
cap virsh-batch-lastfail.test-default "${VSH[@]}" "$TEST" \
    "list --all --name; echo $MARK; dumpxml --domain nosuch"
cap virsh-batch-parse-error.test-default "${VSH[@]}" "$TEST" \
    "list --all --name; echo $MARK; list --bogus; echo $MARK; nodeinfo"

# ---- into the fixture directory: only this script's files; expected files are left alone
mkdir -p "$DEST"
rm -f "$DEST"/virsh-*.txt "$DEST"/hostio-*.txt "$DEST/commands.txt"
cp "$OUT"/* "$DEST"/
echo "captured into $DEST; now check every changed parse by hand:"
echo "  git diff -- $DEST; python -m pytest tests/parsers/test_fixtures.py"
