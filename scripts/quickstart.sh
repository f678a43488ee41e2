#!/usr/bin/env bash
# Install qemu-mcp on a fresh Debian 12 / Ubuntu machine, then show the demo or run the checks.
#   bash scripts/quickstart.sh demo   # list the VMs of the built-in `demo` host (test:///default)
#   bash scripts/quickstart.sh test   # start libvirtd, then ruff, mypy and pytest (needs root)
# Idempotent: installed packages, the .venv and running daemons are reused.
set -euo pipefail

mode=${1:-}
case $mode in
    demo | test) ;;
    *) echo "usage: bash scripts/quickstart.sh demo|test" >&2; exit 2 ;;
esac

# The test rig starts sshd for root logins, adds a user and drives qemu:///system: it needs root.
if [ "$mode" = test ] && [ "$(id -u)" -ne 0 ]; then
    exec sudo -E bash "$0" "$@"
fi
cd "$(dirname "${BASH_SOURCE[0]}")/.."
SUDO=
[ "$(id -u)" -eq 0 ] || SUDO=sudo

# quiet CMD...: run CMD with its output hidden, unless it fails.
quiet() {
    local out
    if ! out=$("$@" 2>&1); then
        printf '%s\n' "$out" >&2
        echo "quickstart: failed: $*" >&2
        return 1
    fi
}

# ---- system packages (apt-get update only when something is missing)
# qemu-system-arm + qemu-efi-aarch64: aarch64 guests (TCG) with UEFI, which manage_vm's tests create.
# libxml2-utils: xmllint, which virt-xml-validate (libvirt-clients) runs but does not depend on.
# iproute2: ip netns/link/neigh, the fault suite's hosts in network namespaces (tests/rig/netns.py).
# mmdebstrap + extlinux: the Debian cloud image the guest tests boot (scripts/build-test-image.sh).
# python3-libvirt: scripts/bench.py's libvirt RPC client, in the system Python (never a qemu-mcp dependency).
# dnsmasq-base: DHCP on libvirt networks (guest leases; scripts/capture_address_fixtures.py).
packages=(libvirt-daemon-system libvirt-clients libxml2-utils qemu-system-x86 qemu-system-arm qemu-efi-aarch64
    qemu-utils openssh-server sysstat genisoimage iproute2 mmdebstrap extlinux python3-libvirt dnsmasq-base)
# Debian ships venv without ensurepip unless python3-venv is installed.
python3 -c 'import ensurepip, venv' 2>/dev/null || packages+=(python3 python3-venv)
missing=()
for p in "${packages[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if [ "${#missing[@]}" -gt 0 ]; then
    echo "quickstart: apt-get install ${missing[*]}"
    quiet $SUDO env DEBIAN_FRONTEND=noninteractive apt-get update -q
    quiet $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -q "${missing[@]}"
fi

# ---- Python environment
if ! python3 -c 'import sys; sys.exit(sys.version_info < (3, 11))'; then
    echo "quickstart: qemu-mcp needs Python >= 3.11, python3 is $(python3 -V 2>&1)" >&2
    exit 1
fi
[ -x .venv/bin/python ] || python3 -m venv .venv
echo "quickstart: pip install -e '.[dev]' into .venv"
quiet .venv/bin/pip install --disable-pip-version-check -q -e '.[dev]'

if [ "$mode" = demo ]; then
    exec .venv/bin/qemu-mcp demo
fi

# ---- test: external MCP checkers (Node 22, MCP Inspector, MCP conformance suite from the npm registry)
if ! [ -x .tools/node_modules/.bin/mcp-inspector ] || ! [ -x .tools/node_modules/.bin/conformance ] ||
    ! cmp -s tools-npm/package.json .tools/package.json; then
    command -v npm >/dev/null || quiet $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -q npm
    echo "quickstart: npm install (Node 22, MCP Inspector, MCP conformance suite) into .tools"
    mkdir -p .tools && cp tools-npm/package.json .tools/package.json
    quiet npm install --prefix .tools --no-audit --no-fund --loglevel=error
fi
bash scripts/start-services.sh
failed=()
step() {
    local name=$1
    shift
    echo "== $name"
    "$@" || failed+=("$name")
}
# The guest tests boot a real Debian cloud image: built once per version of its script, cached
# outside the repository. (If this fails, the guest tests try the build once more themselves.)
echo "== test image"
if QEMU_MCP_TEST_IMAGE=$(bash scripts/test-image.sh); then
    export QEMU_MCP_TEST_IMAGE
    echo "quickstart: test image $QEMU_MCP_TEST_IMAGE"
else
    failed+=("test image")
fi
step "ruff check" .venv/bin/ruff check .
step mypy .venv/bin/mypy
step pytest .venv/bin/python -m pytest -q -rs --ignore=tests/faults
# The fault-injection suite runs alone: some cases stop and restart libvirtd.
export QEMU_MCP_FAULTS_REPORT=${QEMU_MCP_FAULTS_REPORT:-/tmp/qemu-mcp-faults.jsonl}
rm -f "$QEMU_MCP_FAULTS_REPORT"
step faults .venv/bin/python -m pytest -q -rs tests/faults
[ -s "$QEMU_MCP_FAULTS_REPORT" ] && .venv/bin/python scripts/faults_report.py "$QEMU_MCP_FAULTS_REPORT" || true
if [ "${#failed[@]}" -gt 0 ]; then
    echo "quickstart: FAILED: ${failed[*]}" >&2
    exit 1
fi
echo "quickstart: all checks passed"
