#!/usr/bin/env bash
# Print the path of the Debian test image the guest tests boot, building it first when missing.
#   image=$(bash scripts/test-image.sh)
# Cached outside the repository, one file per version of scripts/build-test-image.sh (the name
# holds the sha256 of that script), in $QEMU_MCP_IMAGE_CACHE (default /var/cache/qemu-mcp).
# Concurrent callers wait for one build (flock). A new build removes the versions before it.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
build=$here/build-test-image.sh
cache=${QEMU_MCP_IMAGE_CACHE:-/var/cache/qemu-mcp}
image=$cache/test-image-$(sha256sum "$build" | cut -d' ' -f1).qcow2

if [ ! -s "$image" ]; then
    mkdir -p "$cache"
    exec 9>"$cache/test-image.lock"
    flock 9
    if [ ! -s "$image" ]; then
        echo "test-image: building $image (a minute or two)" >&2
        log=$cache/test-image-build.log
        start=$SECONDS
        if ! bash "$build" "$image" >"$log" 2>&1; then
            tail -n 30 "$log" >&2
            echo "test-image: the build failed; its log is $log" >&2
            exit 1
        fi
        echo "test-image: built in $((SECONDS - start)) s, $(du -h "$image" | cut -f1)" >&2
        for old in "$cache"/test-image-*.qcow2; do
            [ "$old" = "$image" ] || rm -f "$old"
        done
    fi
fi
echo "$image"
