"""Side-by-side cost of listing N VMs over SSH, measured in one run (ratios, not absolute targets).

    python scripts/bench.py [N]

Starts a throw-away sshd on 127.0.0.1 (the test rig's) and a libvirt test-driver node with N domains,
then times: qemu-mcp's list_vms (one round trip: a fixed sh script running two virsh processes),
one virsh process per VM in one round trip, and one SSH connection per command
(what a naive `ssh host virsh ...` loop costs). Then the cold-start section (scripts/bench_cold.py).
"""

from __future__ import annotations

import asyncio
import shlex
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import asyncssh
import bench_cold

from qemu_mcp.config import Inventory
from qemu_mcp.ops.fleet import Fleet, HostRef
from qemu_mcp.ops.vms import list_vms
from tests.conftest import key_host
from tests.integration.test_scale import node_file
from tests.rig import sshd as rig_sshd


async def bench(n: int, host: rig_sshd.SshHost, uri: str) -> dict[str, float]:
    spec = key_host(host, libvirt_uri=uri)
    names = [f"scale-{i:03d}" for i in range(n)]
    opts = dict(port=host.port, username="root", client_keys=[host.key_path], known_hosts=host.known_hosts)
    out: dict[str, float] = {}

    fleet = Fleet(Inventory([spec]))
    await list_vms(fleet, HostRef(host="rig"))  # connect once, as a long-lived server would be
    t = time.perf_counter()
    data = await list_vms(fleet, HostRef(host="rig"))
    out["qemu-mcp list_vms (1 round trip)"] = time.perf_counter() - t
    assert data.vm_count == n
    await fleet.close()

    async with asyncssh.connect(host.address, **opts) as conn:  # type: ignore[arg-type]
        t = time.perf_counter()
        await conn.run("true", check=True)
        out["(floor: one SSH round trip running `true`)"] = time.perf_counter() - t
        script = "; ".join(f"virsh -c {shlex.quote(uri)} dumpxml {shlex.quote(x)} >/dev/null" for x in names)
        t = time.perf_counter()
        await conn.run(script, check=True)
        out["one virsh process per VM, one round trip"] = time.perf_counter() - t

    t = time.perf_counter()
    for x in names:
        async with asyncssh.connect(host.address, **opts) as conn:  # type: ignore[arg-type]
            await conn.run(shlex.join(["virsh", "-c", uri, "dumpxml", x]), check=True)
    out["new SSH connection per command"] = time.perf_counter() - t
    return out


def main() -> None:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 50
    work = Path(tempfile.mkdtemp(prefix="qmcp-bench-"))
    key = work / "id_ed25519"
    rig_sshd.keygen(key)
    account = rig_sshd.PasswordAccount("root", "unused")  # no password user needed here
    sshd = rig_sshd.start_sshd(work, "bench", key_path=key, account=account)
    try:
        results = asyncio.run(bench(n, sshd.host, f"test://{node_file(work, n)}"))
    finally:
        sshd.stop()
    base = results["qemu-mcp list_vms (1 round trip)"]
    print(f"listing {n} VMs over SSH (127.0.0.1):")
    for what, secs in results.items():
        print(f"  {what:45s} {secs * 1000:9.1f} ms   x{secs / base:6.1f}")
    print(bench_cold.section())  # cold start: server to first tools/list, CLI cold (scripts/bench_cold.py)


if __name__ == "__main__":
    main()
