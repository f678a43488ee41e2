"""A peer-style libvirt RPC client for scripts/bench.py: one kept libvirt connection, then per
listing listAllDomains + getAllDomainStats + XMLDesc of each domain.

    /usr/bin/python3 scripts/bench_libvirt_client.py URI

Runs under the system Python with Debian's python3-libvirt (never a qemu-mcp dependency). It
connects, prints {"connect_s": ...}, then for every line read on stdin lists once and prints
{"seconds": ..., "domains": ...} (JSON, one line each), so the bench can interleave it with the
other anchors; it ends at the end of its input.
"""

from __future__ import annotations

import json
import sys
import time

import libvirt  # python3-libvirt


def listing(conn: libvirt.virConnect) -> int:
    domains = conn.listAllDomains(0)
    conn.getAllDomainStats(0)
    listed = 0
    for domain in domains:
        try:
            domain.XMLDesc(0)
        except libvirt.libvirtError as e:  # undefined meanwhile (other users of this libvirtd)
            if e.get_error_code() != libvirt.VIR_ERR_NO_DOMAIN:
                raise
        else:
            listed += 1
    return listed


def main(uri: str) -> None:
    libvirt.registerErrorHandler(lambda _ctx, _err: None, None)  # errors raise; do not print them too
    start = time.perf_counter()
    conn = libvirt.open(uri)
    print(json.dumps({"connect_s": time.perf_counter() - start}), flush=True)
    try:
        for _line in sys.stdin:
            start = time.perf_counter()
            count = listing(conn)
            print(json.dumps({"seconds": time.perf_counter() - start, "domains": count}), flush=True)
    finally:
        conn.close()


if __name__ == "__main__":
    main(sys.argv[1])
