#!/usr/bin/env bash
# Start virtlogd and libvirtd by hand (no systemd here) and wait until qemu:///system answers.
# Idempotent: running daemons are left alone unless libvirtd must pick up the config below.
# libvirt's `default` network is neither started nor waited for: test guests use user-mode NICs.
set -euo pipefail

SUDO=
[ "$(id -u)" -eq 0 ] || SUDO=sudo
CONF=/etc/libvirt/libvirtd.conf
SOCK=/run/libvirt/libvirt-sock
MARK='# qemu-mcp: libvirt group uses the socket without polkit'
did=()

running() { # running NAME PIDFILE: is the daemon from PIDFILE alive and really NAME?
    local pid
    pid=$(cat "$2" 2>/dev/null) || return 1
    [ -n "$pid" ] && [ "$(cat "/proc/$pid/comm" 2>/dev/null)" = "$1" ]
}

# Without systemd there is no D-Bus, so polkit (Debian's default auth for the read-write
# socket) cannot answer and non-root members of group libvirt are refused. Let the group in.
if ! grep -qF "$MARK" "$CONF" && ! grep -qE '^\s*auth_unix_rw\s*=' "$CONF"; then
    printf '\n%s\nunix_sock_group = "libvirt"\nunix_sock_rw_perms = "0770"\nauth_unix_rw = "none"\n' \
        "$MARK" | $SUDO tee -a "$CONF" >/dev/null
    did+=("libvirtd.conf: group libvirt may use $SOCK")
fi

# A normal host (udev rule 'KVM' in systemd) gives /dev/kvm to group kvm, mode 0660. Without
# udev it may be root-only; libvirtd then finds KVM unusable for its qemu user and re-probes
# QEMU's capabilities on every call (virsh define: 90 s, virsh version: 4 s). Match a normal host.
if [ -c /dev/kvm ] && getent group kvm >/dev/null \
    && [ "$(stat -c '%G %a' /dev/kvm)" != "kvm 660" ]; then
    $SUDO chgrp kvm /dev/kvm && $SUDO chmod 660 /dev/kvm
    did+=("/dev/kvm: group kvm, mode 660")
fi

if ! running virtlogd /run/virtlogd.pid; then
    $SUDO virtlogd -d
    did+=("virtlogd started")
fi

# A libvirtd started before the config change still serves a root-only socket: restart it.
# Guests keep running across a libvirtd restart.
if running libvirtd /run/libvirtd.pid && grep -qF "$MARK" "$CONF" \
    && [ "$(stat -c %G "$SOCK" 2>/dev/null)" != libvirt ]; then
    pid=$(cat /run/libvirtd.pid)
    $SUDO kill "$pid"
    for _ in $(seq 100); do [ -e "/proc/$pid" ] || break; sleep 0.1; done
    if [ -e "/proc/$pid" ]; then
        echo "start-services: libvirtd (pid $pid) did not exit after SIGTERM" >&2
        exit 1
    fi
    did+=("libvirtd stopped for the new config")
fi

if ! running libvirtd /run/libvirtd.pid; then
    $SUDO libvirtd -d
    did+=("libvirtd started")
fi

# libvirtd -d returns before its sockets serve requests: bounded wait.
deadline=$((SECONDS + 60))
until out=$($SUDO virsh -c qemu:///system version 2>&1); do
    if [ "$SECONDS" -ge "$deadline" ]; then
        echo "start-services: qemu:///system does not answer after 60 s: $out" >&2
        exit 1
    fi
    sleep 0.5
done

[ "${#did[@]}" -gt 0 ] || did=("virtlogd and libvirtd already running")
version=$(sed -n 's/^Running hypervisor: //p' <<<"$out")
echo "start-services: $(IFS=';'; echo "${did[*]}" | sed 's/;/; /g'); qemu:///system answers (${version:-?})"
