#!/usr/bin/env python3
"""Record what an interactive virsh session prints, for the session parser's fixture tests.

usage: capture_session_fixtures.py [FIXTURE_DIR]   (default: fixtures/<ID>-<VERSION_ID>)

Runs qemu-mcp's session command (backends/libvirt/session.py: `sh -c 'exec stdbuf -oL virsh -q -c
"$1" 2>&1'`) on this machine against libvirt's test driver, feeds it the batches the read path
sends (parsers/virsh_session.batch_input, with fixed marker tokens so re-captures diff cleanly),
reads each one up to its end marker, then closes stdin and reads to the end. Each session's
stdout goes, byte for byte, to virsh-session-<case>.<uri>.txt, and its argv, exit status and
batches to commands-session.jsonl. The <what>.expected.json files are written and checked by hand
(see REVIEWED.md), never by this script.
"""

from __future__ import annotations

import contextlib
import json
import os
import select
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from qemu_mcp.backends.libvirt import virsh  # noqa: E402
from qemu_mcp.backends.libvirt.session import Command, command_line, session_argv  # noqa: E402
from qemu_mcp.backends.libvirt.session_read import xml_chain  # noqa: E402
from qemu_mcp.parsers.virsh_session import Markers, batch_input  # noqa: E402

TEST = "test:///default"
TEST_UUID = "6695eb01-f6a4-8304-79aa-97f2502e193f"  # the test driver's one domain, "test"
GONE_UUID = "0c3a1f52-7d1e-4b8e-9a61-1f2e3d4c5bff"  # no such domain
WAIT_S = 10

# A warm listing: the fixed commands, then the XML of the last listing's UUIDs back to back (one gone).
LISTING: list[Command] = [
    virsh.list_uuids(), virsh.list_uuids("--autostart"), virsh.list_uuids("--persistent"), virsh.domstats_all(),
    xml_chain([GONE_UUID, TEST_UUID]),
]  # fmt: skip
DESCRIBE = [virsh.dumpxml(TEST_UUID), virsh.domstats(TEST_UUID), virsh.dominfo(TEST_UUID)]
RESOLVE = [virsh.list_uuids("--name")]
SAMPLE = [virsh.domstats_groups(TEST_UUID, ["cpu", "memory", "disk", "network"]), virsh.domid(TEST_UUID)]
GONE_SAMPLE = [virsh.domstats_groups(GONE_UUID, ["cpu"]), virsh.domid(GONE_UUID)]
REFUSED = [virsh.list_uuids("--no-such-option"), virsh.list_uuids()]
# Two domains on a test-driver node of our own (one named with spaces), listed cold: the fixed
# commands first, then the XML of the UUIDs that listing printed.
NODE = "/tmp/qmcp-cap-session-node.xml"
NODE_UUIDS = ("0c3a1f52-7d1e-4b8e-9a61-1f2e3d4c5c01", "0c3a1f52-7d1e-4b8e-9a61-1f2e3d4c5c02")
NODE_XML = (
    "<node>"
    + "".join(
        f"<domain type='test'><name>{name}</name><uuid>{uuid}</uuid><memory unit='MiB'>{mib}</memory>"
        f"<vcpu>{vcpus}</vcpu><os><type arch='x86_64'>hvm</type></os></domain>"
        for name, uuid, mib, vcpus in (("alpha", NODE_UUIDS[0], 64, 1), ("beta two words", NODE_UUIDS[1], 96, 2))
    )
    + "</node>"
)
COLD_LISTING = LISTING[:4]
LISTED_XML: list[Command] = [xml_chain(NODE_UUIDS)]

# case file stem -> (argv prefix before the session argv, uri, batches)
CASES: dict[str, tuple[list[str], str, list[list[Command]]]] = {
    "virsh-session-reads.test-default": ([], TEST, [LISTING, DESCRIBE, RESOLVE, SAMPLE, GONE_SAMPLE]),
    "virsh-session-refused.test-default": ([], TEST, [REFUSED, RESOLVE]),
    "virsh-session-listing.test-node": ([], f"test://{NODE}", [COLD_LISTING, LISTED_XML, RESOLVE]),
    "virsh-session-noconnect.test-missing": ([], "test:///qmcp-no-such-file.xml", [RESOLVE]),
    "virsh-session-nostdbuf.test-default": (["env", "PATH=/qmcp-empty"], TEST, [RESOLVE]),
}


def read_until(proc: subprocess.Popen[bytes], end: bytes | None) -> tuple[bytes, bool]:
    """Bytes up to and including `end` (or to EOF when end is None); False if EOF came first."""
    assert proc.stdout is not None
    out = b""
    deadline = time.monotonic() + WAIT_S
    while end is None or end not in out:
        left = deadline - time.monotonic()
        if left <= 0:
            raise SystemExit(f"no {end!r} within {WAIT_S} s; got {out[-300:]!r}")
        ready, _, _ = select.select([proc.stdout], [], [], left)
        if not ready:
            continue
        chunk = os.read(proc.stdout.fileno(), 65536)
        if not chunk:
            return out, False
        out += chunk
    return out, True


def capture(stem: str, prefix: list[str], uri: str, batches: list[list[Command]], dest: Path) -> dict:
    argv = session_argv(uri)
    if prefix:  # a changed PATH: sh by its path, found whatever PATH says
        argv = [*prefix, "/bin/sh", *argv[1:]]
    env = {**os.environ, "LC_ALL": "C"}
    proc = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, env=env)
    assert proc.stdin is not None
    raw = b""
    sent = []
    for i, commands in enumerate(batches, 1):
        markers = Markers(f"qmcp-c0ffee-{i}")
        sent.append({"token": markers.token, "commands": [command_line(c) for c in commands]})
        try:
            proc.stdin.write(batch_input([command_line(c) for c in commands], markers).encode())
            proc.stdin.flush()
        except BrokenPipeError:
            break
        out, complete = read_until(proc, markers.end.encode())
        raw += out
        if not complete:
            break
    with contextlib.suppress(BrokenPipeError):
        proc.stdin.close()
    rest, _ = read_until(proc, None)
    raw += rest
    status = proc.wait(WAIT_S)
    (dest / f"{stem}.txt").write_bytes(raw)
    return {"file": f"{stem}.txt", "exit_status": status, "argv": argv, "batches": sent}


def main(args: list[str]) -> None:
    release = dict(line.split("=", 1) for line in Path("/etc/os-release").read_text().splitlines() if "=" in line)
    default = ROOT / "fixtures" / f"{release['ID']}-{release.get('VERSION_ID', 'unknown').strip(chr(34))}"
    dest = Path(args[0]) if args else default
    dest.mkdir(parents=True, exist_ok=True)
    Path(NODE).write_text(NODE_XML)
    entries = [capture(stem, prefix, uri, batches, dest) for stem, (prefix, uri, batches) in CASES.items()]
    with open(dest / "commands-session.jsonl", "w") as index:
        for entry in entries:
            index.write(json.dumps(entry) + "\n")
    print(f"captured {len(entries)} sessions into {dest}")


if __name__ == "__main__":
    main(sys.argv[1:])
