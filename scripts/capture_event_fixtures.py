#!/usr/bin/env python3
"""Record what qemu-mcp's libvirt event watch prints, for the event parser's fixture tests.

usage: capture_event_fixtures.py [FIXTURE_DIR]   (default: fixtures/<ID>-<VERSION_ID>); as root

Runs the watch command (backends/libvirt/event_watch.py: `virsh event --all --loop` in its sh
script) against qemu:///system, waits past its GRACE, then puts a throw-away domain whose name
has quotes in it through define, a description change, start, suspend, resume, destroy, rename
and undefine with virsh, closes the watch's stdin and waits for it to end (the script must end
virsh then). stdout goes, byte for byte, to virsh-event-watch.qemu-system.txt; argv, exit status
and the actions to commands-events.jsonl. The expected parse is written and checked by hand
(REVIEWED.md), never by this script.
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from qemu_mcp.backends.libvirt.event_watch import GRACE, watch_argv  # noqa: E402

URI = "qemu:///system"
NAME = "qmcp-cap-ev it's \"x\""
RENAMED = "qmcp-cap-ev2"
XML = (
    "<domain type='qemu'><name>qmcp-cap-ev it&apos;s &quot;x&quot;</name><memory unit='MiB'>32</memory>"
    "<os><type arch='x86_64'>hvm</type></os><devices><graphics type='vnc' port='-1' autoport='yes'"
    " listen='127.0.0.1'/></devices></domain>"
)


def virsh(*args: str) -> None:
    subprocess.run(["virsh", "-q", "-c", URI, *args], check=True, stdout=subprocess.DEVNULL)


def capture(out_dir: Path) -> None:
    argv = watch_argv(URI)
    env = {"LC_ALL": "C", "PATH": "/usr/sbin:/usr/bin:/sbin:/bin"}
    watch = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, env=env)
    time.sleep(GRACE)
    with tempfile.NamedTemporaryFile("w", suffix=".xml") as f:
        f.write(XML)
        f.flush()
        actions = [["define", f.name], ["desc", "--config", NAME, "captured"], ["start", NAME],
                   ["suspend", NAME], ["resume", NAME], ["destroy", NAME], ["domrename", NAME, RENAMED],
                   ["undefine", RENAMED]]  # fmt: skip
        for a in actions:
            virsh(*a)
    time.sleep(1)
    assert watch.stdin is not None and watch.stdout is not None
    watch.stdin.close()  # the script ends virsh when its stdin closes
    status = watch.wait(timeout=10)
    name = "virsh-event-watch.qemu-system.txt"
    (out_dir / name).write_bytes(watch.stdout.read())
    entry = {"file": name, "exit_status": status, "argv": argv, "actions": [["virsh", *a] for a in actions]}
    (out_dir / "commands-events.jsonl").write_text(json.dumps(entry) + "\n")
    print(f"wrote {out_dir / name} (exit status {status})")


def default_dir() -> Path:
    fields = dict(line.split("=", 1) for line in Path("/etc/os-release").read_text().splitlines() if "=" in line)
    return ROOT / "fixtures" / f"{fields['ID'].strip(chr(34))}-{fields['VERSION_ID'].strip(chr(34))}"


if __name__ == "__main__":
    capture(Path(sys.argv[1]) if len(sys.argv) > 1 else default_dir())
