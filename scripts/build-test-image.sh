#!/usr/bin/env bash
# Build a small bootable Debian 12 (bookworm) x86_64 cloud image for the tests:
#   bash scripts/build-test-image.sh OUT.qcow2
# Debian packages only (mmdebstrap from the Debian package registry, nothing else downloaded):
# the cloud kernel, systemd, cloud-init (NoCloud: a `cidata` seed ISO), qemu-guest-agent and
# openssh-server on one partitionless ext4 filesystem that extlinux boots, so the VM boots from
# its disk alone, as a real cloud image does. The kernel logs to the serial port (console=ttyS0).
# Needs root (mmdebstrap in root mode, a loop mount for extlinux). Idempotent: OUT is replaced
# atomically; loop device, mounts and the work directory are removed on every exit, failure too.
set -euo pipefail

out=${1:?usage: build-test-image.sh OUT.qcow2}
[ "$(id -u)" -eq 0 ] || { echo "build-test-image: needs root (mmdebstrap, loop mount)" >&2; exit 1; }
for tool in mmdebstrap extlinux mkfs.ext4 e2fsck dumpe2fs losetup qemu-img; do
    command -v "$tool" >/dev/null || { echo "build-test-image: $tool is missing" >&2; exit 1; }
done

FS_SIZE=2G
PACKAGES=(
    linux-image-cloud-amd64 initramfs-tools systemd-sysv udev kmod e2fsprogs dbus iproute2
    cloud-init qemu-guest-agent openssh-server sudo locales
)

work=$(mktemp -d "${TMPDIR:-/var/tmp}/qemu-mcp-image.XXXXXX")
mnt=$work/mnt
loop=
partial="$out.partial.$$"

cleanup() {
    local rc=$?
    trap - EXIT INT TERM
    if mountpoint -q "$mnt" 2>/dev/null; then
        umount -R "$mnt" || umount -R -l "$mnt" || true
    fi
    [ -z "$loop" ] || losetup -d "$loop" 2>/dev/null || true
    rm -rf "$work"
    rm -f "$partial"
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# One ext4 filesystem filling the whole disk: SeaBIOS runs extlinux's boot sector at sector 0.
uuid=$(cat /proc/sys/kernel/random/uuid)
truncate -s "$FS_SIZE" "$work/disk.raw"
mkfs.ext4 -q -L root -U "$uuid" -O ^orphan_file,^metadata_csum_seed "$work/disk.raw"
mkdir "$mnt"
loop=$(losetup --find --show "$work/disk.raw")
mount "$loop" "$mnt"

# Root mode writes straight into the mounted filesystem (lost+found is already there).
# No MIRROR: mmdebstrap's default Debian mirror, with bookworm-updates and -security.
mmdebstrap --mode=root --variant=apt --skip=check/empty --include="$(IFS=,; echo "${PACKAGES[*]}")" \
    --aptopt='APT::Install-Recommends "false"' --dpkgopt='path-exclude=/usr/share/doc/*' \
    --dpkgopt='path-exclude=/usr/share/man/*' --dpkgopt='path-exclude=/usr/share/locale/*' \
    --dpkgopt='path-include=/usr/share/locale/locale.alias' \
    bookworm "$mnt" </dev/null

cat >"$mnt/etc/fstab" <<EOF
UUID=$uuid / ext4 errors=remount-ro 0 1
EOF
echo debian >"$mnt/etc/hostname"
printf '127.0.0.1\tlocalhost\n127.0.1.1\tdebian\n::1\tlocalhost ip6-localhost ip6-loopback\n' >"$mnt/etc/hosts"

# cloud-init: only the NoCloud seed (never a network metadata service), network through networkd,
# C.UTF-8 unless the user-data names a locale (no locale-gen at each first boot).
cat >"$mnt/etc/cloud/cloud.cfg.d/90_qemu-mcp.cfg" <<'EOF'
datasource_list: [NoCloud, None]
locale: C.UTF-8
system_info:
  network:
    renderers: [networkd]
    activators: [networkd]
EOF
systemctl --root="$mnt" enable systemd-networkd.service >/dev/null 2>&1
# First boot must not wait for a person: systemd-firstboot would prompt on the console.
systemctl --root="$mnt" mask systemd-firstboot.service >/dev/null 2>&1

# Each VM gets its own SSH host keys (cloud-init makes them; ssh-keygen -A is the fallback)
# and its own machine-id (systemd makes it at first boot).
rm -f "$mnt"/etc/ssh/ssh_host_*
mkdir -p "$mnt/etc/systemd/system/ssh.service.d"
printf '[Service]\nExecStartPre=\nExecStartPre=/usr/bin/ssh-keygen -A\nExecStartPre=/usr/sbin/sshd -t\n' \
    >"$mnt/etc/systemd/system/ssh.service.d/host-keys.conf"
echo uninitialized >"$mnt/etc/machine-id"
rm -f "$mnt/var/lib/dbus/machine-id"
rm -rf "$mnt"/var/lib/cloud/* "$mnt"/var/log/*.log "$mnt"/var/cache/apt/*.bin "$mnt"/var/lib/apt/lists/*

# Blocks of deleted files (the downloaded .debs, ~100 MiB) would still land in the qcow2: punch
# them out. (sync first: ext4 frees the blocks of deleted files only when its journal commits.)
sync
fstrim "$mnt"

# The bootloader: extlinux in the filesystem's boot sector, the kernel on the serial console.
mkdir -p "$mnt/boot/extlinux"
cat >"$mnt/boot/extlinux/extlinux.conf" <<EOF
SERIAL 0 115200
DEFAULT debian
PROMPT 0
TIMEOUT 0
LABEL debian
    LINUX /vmlinuz
    INITRD /initrd.img
    APPEND root=UUID=$uuid ro console=tty0 console=ttyS0,115200n8
EOF
extlinux --install "$mnt/boot/extlinux"
sync
umount -R "$mnt"
blockdev --flushbufs "$loop"
losetup -d "$loop"
loop=
# The file can still hold an unreplayed journal (dumpe2fs showed needs_recovery), and the journal
# holds a copy of block 0 from before extlinux wrote its boot sector there: the guest's first
# mount replays it and zeroes sector 0, so the disk (and every clone or restart of it) boots only
# once. Replay it here with e2fsck, then put extlinux's boot sector back.
dd if="$work/disk.raw" of="$work/bootsect" bs=512 count=1 status=none
rc=0
e2fsck -fy "$work/disk.raw" >/dev/null 2>&1 || rc=$?
if [ "$rc" -ge 4 ]; then
    echo "build-test-image: e2fsck failed ($rc)" >&2
    exit 1
fi
dd if="$work/bootsect" of="$work/disk.raw" bs=512 count=1 conv=notrunc status=none
if dumpe2fs -h "$work/disk.raw" 2>/dev/null | grep -q needs_recovery; then
    echo "build-test-image: the filesystem still needs journal recovery" >&2
    exit 1
fi
# A zeroed sector 0 makes an image that silently boots nothing: check the boot signature.
if [ "$(od -An -tx1 -j510 -N2 "$work/disk.raw" | tr -d ' ')" != 55aa ]; then
    echo "build-test-image: extlinux's boot sector is missing from the image" >&2
    exit 1
fi
qemu-img convert -c -f raw -O qcow2 "$work/disk.raw" "$partial"
chmod 0644 "$partial"
mv -f "$partial" "$out"
echo "build-test-image: wrote $out ($(du -h "$out" | cut -f1))" >&2
