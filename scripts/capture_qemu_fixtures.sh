#!/usr/bin/env bash
# Record the raw output of what the plain-QEMU backend runs and reads, for the parser tests:
# its host scripts (qemu_mcp.backends.qemu.scripts), `qemu-img info --output=json`, and QMP
# replies of a real qemu (scripts/qmp_session.py).
#
# Writes fixtures/<os-release ID>-<VERSION_ID>/{qemu,qmp}-*.txt (stdout) and commands-qemu.jsonl
# (one {"file", "exit_status", "argv"} per line: the exact argv, multi-line scripts included).
# It never writes *.expected.json: those are written and checked BY HAND against the raw text
# (see REVIEWED.md there). After a re-capture, tests/parsers/test_fixtures.py shows every parse
# that changed; read the new raw file, fix its expected file by hand, and note it in REVIEWED.md.
#
# Needs: sh, qemu-system-x86_64 (TCG), qemu-img, and a python that can import qemu_mcp
# ($PYTHON, default python3). No libvirt, no root needed. Starts one TCG guest (the backend's own
# argv, no OS: it sits in the BIOS) and a `sleep`, below $BASE; both are stopped on exit.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
PY=${PYTHON:-python3}
# shellcheck disable=SC1091
. /etc/os-release
DEST="$ROOT/fixtures/${ID}-${VERSION_ID:-unknown}"
OUT=$(mktemp -d /tmp/qmcp-capq-out.XXXXXX) # moved to DEST only when everything succeeded
# Fixed paths, marker and VNC display: they appear in the output, so re-captures stay diffable.
BASE=/tmp/qmcp-cap-qemu
VMS=$BASE/vms
IMG=$BASE/images
MARK='@@qmcp-c0ffee@@'
DISPLAY_NR=77 # VNC on 127.0.0.1:5977
SLEEPER=

export LC_ALL=C
export PYTHONPATH="$ROOT"
cd "$ROOT"

setup() { "$PY" "$ROOT/scripts/qemu_fixture_setup.py" "$@"; }
# argv WHAT ARGS...: fills the array ARGV with a command built by qemu_mcp (fails when it cannot).
argv() {
    mapfile -d '' -t ARGV < <(setup argv "$@")
    [ "${#ARGV[@]}" -gt 0 ] || { echo "capture_qemu_fixtures: no argv for: $*" >&2 && return 1; }
}

cleanup() { # must not touch errexit: it also runs at the start
    if [ -f "$VMS/fix-run/vm.conf" ]; then
        # the backend's own kill: only the process whose command line names that VM
        if argv kill "$VMS" fix-run 2>/dev/null; then "${ARGV[@]}" >/dev/null 2>&1 || true; fi
    fi
    [ -z "$SLEEPER" ] || kill "$SLEEPER" 2>/dev/null || true
    rm -rf "$BASE"
}
trap 'cleanup; rm -rf "$OUT"' EXIT
cleanup # leftovers from an interrupted run

# cap FILE CMD...: stdout -> FILE.txt, stderr -> FILE.stderr.txt when not empty, and one index
# line. A non-zero exit is recorded, not fatal.
cap() {
    local file=$1 rc=0
    shift
    "$@" >"$OUT/$file.txt" 2>"$OUT/$file.stderr.txt" || rc=$?
    [ -s "$OUT/$file.stderr.txt" ] || rm -f "$OUT/$file.stderr.txt"
    "$PY" -c 'import json, sys; print(json.dumps({"file": sys.argv[1], "exit_status": int(sys.argv[2]), "argv": sys.argv[3:]}))' \
        "$file.txt" "$rc" "$@" >"$OUT/$file.index.json"
}
# Run by its path (stdlib only, `#!/usr/bin/env python3`) so the index shows a portable argv.
QMP=(scripts/qmp_session.py)

# ---- images: a qcow2 for the running VM, a raw data disk, and a qcow2 overlay on a qcow2 base
mkdir -p "$VMS" "$IMG"
setup vms "$VMS" "$IMG"
qemu-img create -q -f qcow2 "$VMS/fix-run/disk0.qcow2" 1G
qemu-img create -q -f raw "$IMG/data.raw" 64M
printf 'QMCP raw fixture data 0123456789' | dd of="$IMG/data.raw" conv=notrunc status=none # a known header
qemu-img create -q -f qcow2 "$IMG/base.qcow2" 512M
qemu-img create -q -f qcow2 -b "$IMG/base.qcow2" -F qcow2 "$IMG/overlay.qcow2" 2G

# ---- the VM directories' states
# fix-run: started with the backend's argv (-daemonize; it writes fix-run/pid).
if (exec 3<>/dev/tcp/127.0.0.1/$((5900 + DISPLAY_NR))) 2>/dev/null; then
    echo "capture_qemu_fixtures: port $((5900 + DISPLAY_NR)) is in use; free it or change DISPLAY_NR" >&2
    exit 1
fi
argv start "$VMS" fix-run "$DISPLAY_NR"
"${ARGV[@]}"
# fix-stale: the pidfile names a process that has exited, and qemu's socket is left behind.
sh -c 'exit 0' &
GONE=$!
wait "$GONE"
echo "$GONE" >"$VMS/fix-stale/pid"
setup stale-socket "$VMS/fix-stale/qmp.sock"
# fix-reused: the pidfile's number belongs to another program now.
sleep 600 &
SLEEPER=$!
echo "$SLEEPER" >"$VMS/fix-reused/pid"
sleep 2 # let the guest's BIOS read its disks, so the block counters move

# ---- the listing (READ_SCRIPT): keep first (the clean read removes the stale pidfiles)
argv read "$VMS" "$MARK" keep
cap qemu-read-keep.vms "${ARGV[@]}"
argv read "$VMS" "$MARK" clean fix-run
cap qemu-read-one.vms "${ARGV[@]}"
argv read "$VMS" "$MARK" clean
cap qemu-read-clean.vms "${ARGV[@]}"
argv read "$BASE/nosuch" "$MARK" clean
cap qemu-read-nodir.vms "${ARGV[@]}"

# ---- monitor_vm_status: SAMPLE_SCRIPT and, at the same time, the sampler's QMP session
argv sample "$VMS" fix-run "$MARK"
cap qmp-sampler.fix-run "${QMP[@]}" "$VMS/fix-run/qmp.sock" qmp_capabilities query-status query-blockstats &
cap qemu-sample.fix-run "${ARGV[@]}"
wait $!
argv sample "$VMS" fix-off "$MARK"
cap qemu-sample.fix-off "${ARGV[@]}"
argv sample "$VMS" fix-new "$MARK" # no vm.conf: "gone"
cap qemu-sample.fix-new "${ARGV[@]}"

# ---- create's host check, and start's view of the TCP ports in use (the guest's VNC is one)
argv check x86_64
cap qemu-check.x86_64 "${ARGV[@]}"
argv tcp
cap qemu-tcp-listeners.host "${ARGV[@]}"

# ---- qemu-img info (-U: fix-run's qcow2 is held by the running guest)
argv img-info "$VMS/fix-run/disk0.qcow2" qcow2
cap qemu-img-info.qcow2 "${ARGV[@]}"
argv img-info "$IMG/data.raw" raw
cap qemu-img-info.raw "${ARGV[@]}"
argv img-info "$IMG/overlay.qcow2" qcow2
cap qemu-img-info.overlay "${ARGV[@]}"
argv img-info "$IMG/overlay.qcow2" qcow2 --backing-chain
cap qemu-img-info-chain.overlay "${ARGV[@]}"

# ---- QMP: what describe and manage_vm send, an error reply, and a quit (the guest ends here)
cap qmp-session.fix-run "${QMP[@]}" "$VMS/fix-run/qmp.sock" qmp_capabilities query-status query-block \
    stop query-status cont 'block_resize={"node-name": "vdb", "size": 134217728}' \
    'block_resize={"node-name": "nosuch", "size": 134217728}' system_reset system_powerdown

# ---- qemu-img snapshot -l, as manage_snapshot lists snapshots (TZ=UTC, as its script runs it): an
# image with snapshots taken while shut off (a tag with a space, two of one name, a 64-character
# tag), and fix-run's disk after a live QMP snapshot-save (memory state, no ICOUNT)
export TZ=UTC
qemu-img create -q -f qcow2 "$IMG/snaps.qcow2" 64M
for tag in before-upgrade 'two words' dup dup abcdefghijklmnopqrstuvwxyz0123456789abcdefghijklmnopqrstuvwxyz01; do
    qemu-img snapshot -c "$tag" "$IMG/snaps.qcow2"
done
argv img-snapshots "$IMG/snaps.qcow2"
cap qemu-img-snapshot-list.snaps "${ARGV[@]}"
"${QMP[@]}" "$VMS/fix-run/qmp.sock" qmp_capabilities \
    'snapshot-save={"job-id": "fix-snap", "tag": "live", "vmstate": "vda", "devices": ["vda"]}' >/dev/null
sleep 2 # the job concludes in well under a second for this guest
"${QMP[@]}" "$VMS/fix-run/qmp.sock" qmp_capabilities 'job-dismiss={"id": "fix-snap"}' >/dev/null
argv img-snapshots "$VMS/fix-run/disk0.qcow2"
cap qemu-img-snapshot-list.fix-run "${ARGV[@]}"

cap qmp-quit.fix-run "${QMP[@]}" "$VMS/fix-run/qmp.sock" qmp_capabilities quit

# ---- into the fixture directory: only this script's files; expected files are left alone
cat "$OUT"/*.index.json >"$OUT/commands-qemu.jsonl"
rm -f "$OUT"/*.index.json
mkdir -p "$DEST"
rm -f "$DEST"/qemu-*.txt "$DEST"/qmp-*.txt "$DEST/commands-qemu.jsonl"
cp "$OUT"/* "$DEST"/
echo "captured into $DEST; now check every changed parse by hand:"
echo "  git diff -- $DEST; python -m pytest tests/parsers/test_fixtures.py"
