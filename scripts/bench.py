"""Every listing anchor of issue 13, measured side by side in ONE run: medians and ratios.

    python scripts/bench.py [--vms 50] [--reps 15] [--cold-reps 5] [--samples 30] [--concurrent 200]

Needs root on a Debian/Ubuntu machine set up by `scripts/quickstart.sh` (libvirtd, sshd, iproute2,
python3-libvirt). It makes, and removes at the end whatever happens:
- a host in a network namespace with its own sshd (tests/rig/netns.py: the fault suite's hosts;
  its sessions read a ~/.bashrc without pyenv lines, so no rc file runs `pyenv init` per command),
  reached over a veth at 10.250.x.y; if that cannot be made, the rig's sshd on 127.0.0.1 (said so);
- `--vms` tiny shut-off domains on qemu:///system named qmcp-t<token>-bench-NN, plus the rig's
  two guests (one running, for the monitor). Other domains on the machine are listed too: every
  anchor lists the same set, and the table says how many there were.

Anchors (each a median over --reps warm listings unless said otherwise):
- libvirt RPC client: python3-libvirt over qemu+ssh:// (system Python, bench only), one kept
  connection, listAllDomains + getAllDomainStats + XMLDesc of each domain; the reference (1.00x).
- session floor: one kept SSH channel running qemu-mcp's session command (`stdbuf -oL virsh -q
  -c URI`), the batch list_vms sends when it reads every domain's XML (list x3, domstats, dumpxml
  of each), on ONE session, written and read to its end marker, nothing parsed (list_vms shares
  the dumpxml out over 3; with its XML cache warm it sends only list x3 and domstats).
- one-process floor: one SSH exec on a kept connection, one virsh process: list, domstats, dumpxml of each.
- one virsh process per VM: one SSH exec running a virsh process per command.
- one SSH connection per command (seed 004 as built): measured on --per-conn-vms VMs, extrapolated to all.
- list_vms in-process, warm (virsh sessions; domain XML kept while the host's libvirt event watch
  and domstats say it did not change: backends/libvirt/xml_cache.py), the same reading every
  domain's XML each call, with sessions off (one round trip per call, the pre-session path), and
  cold (a new Fleet per call: connect, open a session, two batches).
- list_vms through a real MCP client (the server as a stdio subprocess), warm; its result size;
  again without the Python SDK client's own check of each result against the output schema
  (jsonschema in pure Python: tens of ms for 50 VMs, a cost of that client, not of the server);
  that check of the same result timed alone in pydantic's schema shape and in the published flat
  one (frontends/mcp/schema_shape.py: $refs inlined, nullable anyOf as type lists).
- --concurrent list_vms calls at once through that client (no schema check): all answered?, p50/p99.
- monitor_vm_status on the running guest, interval 1 s, --samples samples: max |gap - 1 s|.
Goals: list_vms through MCP <= 1.5x the RPC client, in-process warm <= 1.1x.
Then the cold-start section (scripts/bench_cold.py): server start to first tools/list, CLI cold;
and the fleet section (scripts/bench_fleet.py): list_vms over --fan-hosts hosts against as many
OpenSSH clients started at once, and the server's RSS after listing --fleet-sizes inventory hosts.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import shlex
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import asyncssh  # noqa: E402
import bench_cold  # noqa: E402
import bench_fleet  # noqa: E402
import yaml  # noqa: E402

from qemu_mcp.backends.libvirt.event_watch import GRACE  # noqa: E402
from qemu_mcp.backends.libvirt.session import session_argv  # noqa: E402
from qemu_mcp.config import HostSpec, Inventory  # noqa: E402
from qemu_mcp.ops.fleet import Fleet, HostRef  # noqa: E402
from qemu_mcp.ops.monitor import monitor_vm  # noqa: E402
from qemu_mcp.ops.vms import list_vms  # noqa: E402
from scripts.bench_schema import schema_note  # noqa: E402
from tests.rig import create_guests, destroy_guests, ensure_libvirtd, keygen, run  # noqa: E402
from tests.rig import sshd as rig_sshd  # noqa: E402
from tests.rig.netns import netns_host  # noqa: E402

URI = "qemu:///system"
SYSTEM_PYTHON = "/usr/bin/python3"
NAME = "bench"


@dataclass
class Target:
    """Where the bench lists: the SSH host and how it was made."""

    spec: HostSpec
    where: str  # for the report
    note: str


@dataclass
class Row:
    what: str
    seconds: float | None
    note: str = ""


@dataclass
class Report:
    rows: list[Row] = field(default_factory=list)
    lines: list[str] = field(default_factory=list)

    def add(self, what: str, seconds: float | None, note: str = "") -> None:
        self.rows.append(Row(what, seconds, note))
        shown = "-" if seconds is None else f"{seconds * 1000:.1f} ms"
        print(f"  measured: {what}: {shown} {note}", file=sys.stderr, flush=True)


def median(values: list[float]) -> float:
    return statistics.median(values)


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


# ---- the machine: host, domains


@contextlib.contextmanager
def bench_host(work: Path, key: Path) -> Iterator[Target]:
    with contextlib.ExitStack() as stack:
        try:
            h = stack.enter_context(netns_host(work, key, virsh_wrapper=False))
        except Exception as e:  # any reason: the fallback below says why
            print(f"bench: no network-namespace host ({e}); using an sshd on 127.0.0.1", file=sys.stderr)
        else:
            yield Target(spec_for(h.address, h.host.port, key, h.host.known_hosts),
                         f"a network namespace host ({h.address}:{h.host.port}, over a veth)",
                         "its sshd's sessions read a ~/.bashrc without pyenv lines")  # fmt: skip
            return
        account = rig_sshd.PasswordAccount("root", "unused")
        bashrc = Path("/root/.bashrc")
        prelude = None
        if bashrc.is_file() and "pyenv" in bashrc.read_text(errors="replace"):
            clean = work / "bashrc"
            clean.write_text("".join(ln for ln in bashrc.read_text().splitlines(True) if "pyenv" not in ln))
            prelude = f"mount --bind {shlex.quote(str(clean))} /root/.bashrc"
        sshd = rig_sshd.start_sshd(work, "bench-sshd", key_path=key, account=account, prelude=prelude)
        stack.callback(sshd.stop)
        note = "NOT a namespace host (none could be made)" + (
            "; its sessions read a ~/.bashrc without pyenv lines" if prelude else ""
        )
        spec = spec_for("127.0.0.1", sshd.host.port, key, sshd.host.known_hosts)
        yield Target(spec, f"127.0.0.1:{sshd.host.port}", note)


def spec_for(address: str, port: int, key: Path, known_hosts: str) -> HostSpec:
    return HostSpec(name=NAME, address=address, port=port, user="root", key=str(key), known_hosts=known_hosts,
                    backend="libvirt", libvirt_uri=URI)  # fmt: skip


def define_domains(prefix: str, n: int, xml_dir: Path) -> list[str]:
    """n tiny shut-off domains (never started: their disk path does not exist); their UUIDs."""
    uuids = []
    for i in range(n):
        name = f"{prefix}bench-{i:02d}"
        xml = xml_dir / f"{name}.xml"
        xml.write_text(
            f"<domain type='qemu'><name>{name}</name><memory unit='MiB'>16</memory><vcpu>1</vcpu>"
            "<os><type arch='x86_64'>hvm</type></os><devices><disk type='file' device='disk'>"
            f"<source file='/var/lib/libvirt/images/{name}.qcow2'/><target dev='vda' bus='virtio'/></disk>"
            "<interface type='user'><model type='virtio'/></interface></devices></domain>"
        )
        run(["virsh", "-q", "-c", URI, "define", str(xml)])
        uuids.append(run(["virsh", "-q", "-c", URI, "domuuid", name]).stdout.strip())
    return uuids


def all_uuids() -> list[str]:
    out = run(["virsh", "-q", "-c", URI, "list", "--all", "--uuid"]).stdout
    return [u for u in out.split() if u]


# ---- warm anchors: each kept ready, then measured in turn, rep after rep (a load that comes
# and goes on the machine then weighs on all of them alike)


Timer = Callable[[], Awaitable[float]]


@dataclass
class Anchor:
    what: str
    note: str
    call: Callable[[], Awaitable[float]]  # one listing; its seconds
    reps: int | None = None  # fewer than --reps (slow anchors)
    times: list[float] = field(default_factory=list)


def stopwatch(work: Callable[[], Awaitable[object]]) -> Callable[[], Awaitable[float]]:
    async def call() -> float:
        start = time.perf_counter()
        await work()
        return time.perf_counter() - start

    return call


class RpcClient:
    """python3-libvirt over qemu+ssh:// in the system Python (scripts/bench_libvirt_client.py)."""

    async def start(self, s: HostSpec) -> None:
        uri = f"qemu+ssh://root@{s.address}:{s.port}/system?keyfile={s.key}&no_verify=1"
        script = str(ROOT / "scripts" / "bench_libvirt_client.py")
        self.proc = await asyncio.create_subprocess_exec(
            SYSTEM_PYTHON, script, uri, stdin=subprocess.PIPE, stdout=subprocess.PIPE
        )
        line = await self.proc.stdout.readline()  # type: ignore[union-attr]
        if not line:
            raise SystemExit("bench: the libvirt RPC client failed to connect (is python3-libvirt installed?)")
        self.connect_s = json.loads(line)["connect_s"]
        self.domains = 0

    async def listing(self) -> float:
        self.proc.stdin.write(b"go\n")  # type: ignore[union-attr]
        got = json.loads(await self.proc.stdout.readline())  # type: ignore[union-attr]
        self.domains = got["domains"]
        return float(got["seconds"])

    async def stop(self) -> None:
        self.proc.stdin.close()  # type: ignore[union-attr]
        await self.proc.wait()


def connect_options(s: HostSpec) -> dict[str, object]:
    return {"port": s.port, "username": "root", "client_keys": [s.key], "known_hosts": s.known_hosts}


FIXED = ["list --all --uuid", "list --all --uuid --autostart", "list --all --uuid --persistent",
         "domstats --raw --nowait"]  # fmt: skip


async def session_floor(conn: asyncssh.SSHClientConnection, uuids: list[str]) -> Callable[[], Awaitable[float]]:
    """The batch list_vms sends warm, on one session: markers after the fixed commands, the
    dumpxml back to back; read to its end marker, nothing parsed."""
    process = await conn.create_process(shlex.join(["env", "LC_ALL=C", *session_argv(URI)]))
    body = "; ".join(f"{c}; echo --xml '<m>'" for c in FIXED) + "; " + "; ".join(f"dumpxml {u}" for u in uuids)

    async def batch() -> None:
        process.stdin.write(f"{body}; echo --xml '<m>'\necho --xml '<end>'\n")
        await process.stdout.readuntil("&lt;end&gt;")

    await batch()
    return stopwatch(batch)


def one_process(conn: asyncssh.SSHClientConnection, uuids: list[str]) -> Callable[[], Awaitable[float]]:
    script = "; ".join([*(f"{c}; echo @@m@@" for c in FIXED), *(f"dumpxml --domain {u}" for u in uuids)])
    command = shlex.join(["virsh", "-c", URI, script])
    return stopwatch(lambda: conn.run(command))  # not checked: another user's domain may vanish meanwhile


def per_vm_processes(conn: asyncssh.SSHClientConnection, uuids: list[str]) -> Callable[[], Awaitable[float]]:
    v = f"virsh -c {URI}"
    commands = [*FIXED, *(f"dumpxml --domain {u}" for u in uuids)]
    script = "; ".join(f"{v} {c} >/dev/null 2>&1" for c in commands)
    return stopwatch(lambda: conn.run(script))


async def warm_fleet(
    t: Target, sessions: bool, stack: contextlib.AsyncExitStack, xml_cache: bool = True
) -> tuple[Timer, int]:
    fleet = Fleet(Inventory([t.spec]), virsh_sessions=sessions)
    stack.push_async_callback(fleet.close)
    for _ in range(2):
        data = await list_vms(fleet, HostRef(host=NAME))
        pool = fleet.sessions(t.spec)
        if pool is not None:
            pool.xml_cache.enabled = xml_cache
    return stopwatch(lambda: list_vms(fleet, HostRef(host=NAME))), data.vm_count


async def per_command_connection(t: Target, uuids: list[str], vms: int) -> float:
    """Seed 004: a new SSH connection per virsh call. `vms` of them measured, extrapolated to all."""
    commands = [*(c.split() for c in FIXED), *(["dumpxml", "--domain", u] for u in uuids[:vms])]
    start = time.perf_counter()
    for c in commands:
        async with asyncssh.connect(t.spec.address, **connect_options(t.spec)) as conn:  # type: ignore[arg-type]
            await conn.run(shlex.join(["virsh", "-c", URI, *c]))
    per_command = (time.perf_counter() - start) / len(commands)
    return per_command * (len(uuids) + len(FIXED))


async def cold(t: Target, reps: int) -> list[float]:
    times = []
    for _ in range(reps):
        fleet = Fleet(Inventory([t.spec]))
        start = time.perf_counter()
        await list_vms(fleet, HostRef(host=NAME))
        times.append(time.perf_counter() - start)
        await fleet.close()
    return times


@contextlib.asynccontextmanager
async def mcp_client(t: Target, work: Path) -> AsyncIterator[object]:
    from mcp import Client, StdioServerParameters

    config = work / "hosts.yaml"
    config.write_text(yaml.safe_dump({"hosts": [t.spec.model_dump(exclude_none=True)]}))
    params = StdioServerParameters(command=sys.executable, args=["-m", "qemu_mcp", "--config", str(config), "serve"],
                                   cwd=str(ROOT), env={**os.environ, "PYTHONPATH": str(ROOT)})  # fmt: skip
    async with Client(params) as client:
        yield client


async def mcp_warm(client) -> tuple[Timer, Timer, str, str]:  # type: ignore[no-untyped-def]
    """Warm calls with and without the Python SDK client's own check of each result against the
    tool's output schema (jsonschema, pure Python: its cost grows with the result), a note: the
    result's size and what that check costs, and a line: that check in pydantic's schema shape and
    in the published one (scripts/bench_schema.py)."""
    session = client.session
    check = session.validate_tool_result

    async def call() -> object:
        result = await client.call_tool("list_vms", {"host": NAME})
        assert not result.is_error, result
        return result

    async def unchecked() -> object:
        session.validate_tool_result = no_check
        try:
            return await call()
        finally:
            session.validate_tool_result = check

    for _ in range(2):
        result = await call()
    checks = []
    for _ in range(5):
        start = time.perf_counter()
        await check("list_vms", result)
        checks.append(time.perf_counter() - start)
    size = len(result.model_dump_json(by_alias=True, exclude_none=True)) / 1024
    note = f"result {size:.1f} KiB; the client's schema check {median(checks) * 1000:.1f} ms of it"
    return stopwatch(call), stopwatch(unchecked), note, schema_note(result.structured_content)


async def no_check(name: str, result: object) -> None:
    return None


async def concurrent(client, n: int, bench_uuids: list[str]) -> tuple[list[float], float, int]:  # type: ignore[no-untyped-def]
    """(each call's seconds, wall seconds, calls answered with every bench domain in them). The
    client's schema check is left out: n of them at ~20 ms of CPU each would measure the client."""
    client.session.validate_tool_result = no_check

    async def call() -> tuple[float, bool]:
        start = time.perf_counter()
        result = await client.call_tool("list_vms", {"host": NAME})
        listed = {v["uuid"] for v in (result.structured_content or {}).get("data", {}).get("vms", [])}
        return time.perf_counter() - start, (not result.is_error) and set(bench_uuids) <= listed

    start = time.perf_counter()
    got = await asyncio.gather(*(call() for _ in range(n)))
    return [g[0] for g in got], time.perf_counter() - start, sum(ok for _, ok in got)


async def jitter(t: Target, vm: str, samples: int) -> tuple[float, float]:
    """(max |gap - 1 s|, max lag) over `samples` samples at interval 1 s."""
    fleet = Fleet(Inventory([t.spec]))
    gaps: list[float] = []
    lags: list[float] = []

    async def progress(n: int, total: int | None, sample) -> None:  # type: ignore[no-untyped-def]
        gaps.append(sample.elapsed_s)
        lags.append(sample.lag_s)

    try:
        await monitor_vm(fleet, vm, HostRef(host=NAME), interval=1, count=samples, progress=progress)
    finally:
        await fleet.close()
    return max(abs(g - 1.0) for g in gaps), max(lags)


# ---- the run


async def interleaved(anchors: list[Anchor], reps: int) -> None:
    for rep in range(reps):
        for a in anchors:
            if rep < (a.reps or reps):
                a.times.append(await a.call())


async def warm_anchors(args: argparse.Namespace, t: Target, uuids: list[str], client, r: Report,
                       stack: contextlib.AsyncExitStack) -> int:  # type: ignore[no-untyped-def]  # fmt: skip
    rpc = RpcClient()
    await rpc.start(t.spec)
    stack.push_async_callback(rpc.stop)
    conn = await stack.enter_async_context(asyncssh.connect(t.spec.address, **connect_options(t.spec)))  # type: ignore[arg-type]
    sessions, count = await warm_fleet(t, True, stack)
    uncached, _ = await warm_fleet(t, True, stack, xml_cache=False)
    one_shot, _ = await warm_fleet(t, False, stack)
    mcp, mcp_unchecked, mcp_note, schema_line = await mcp_warm(client)
    anchors = [
        Anchor("libvirt RPC client (python3-libvirt, qemu+ssh://)",
               f"listAllDomains + getAllDomainStats + XMLDesc each; connect {rpc.connect_s * 1000:.0f} ms",
               rpc.listing),
        Anchor("session floor (raw virsh session batch)", "list_vms's warm batch on one session, unparsed",
               await session_floor(conn, uuids)),
        Anchor("one-process floor (one SSH exec, one virsh)", "list x3, domstats, dumpxml each",
               one_process(conn, uuids)),
        Anchor("one virsh process per VM (one SSH exec)", f"median of {min(args.reps, 5)}",
               per_vm_processes(conn, uuids), reps=min(args.reps, 5)),
        Anchor("list_vms in-process, warm (virsh sessions)", f"{count} VMs; XML kept while no event says it changed",
               sessions),
        Anchor("list_vms in-process, warm, XML read every call", "the same without the XML cache", uncached),
        Anchor("list_vms in-process, warm, sessions off", "one round trip per call (before sessions)", one_shot),
        Anchor("list_vms through an MCP client (stdio), warm", mcp_note, mcp),
        Anchor("  the same, without the client's schema check", "what the server and the stdio pipe cost",
               mcp_unchecked),
    ]  # fmt: skip
    await asyncio.sleep(GRACE + 0.5)  # the event watches (xml_cache.py) are trusted from now on
    for a in anchors:
        await a.call()  # fills the XML caches: what "warm" means for a host listed now and then
    await interleaved(anchors, args.reps)
    r.lines.append(f"domains listed: {rpc.domains} ({args.vms} bench domains, the rig's 2 guests, others here)")
    r.lines.append(schema_line)
    for a in anchors:
        r.add(a.what, median(a.times), a.note)
    return count


async def measure(args: argparse.Namespace, t: Target, work: Path, uuids: list[str], bench_uuids: list[str],
                  running_vm: str) -> Report:  # fmt: skip
    r = Report()
    async with mcp_client(t, work) as client, contextlib.AsyncExitStack() as stack:
        await warm_anchors(args, t, uuids, client, r, stack)
        r.add("list_vms in-process, cold (new Fleet)", median(await cold(t, args.cold_reps)),
              f"connect, open a session, 2 batches; median of {args.cold_reps}")  # fmt: skip
        per_conn = await per_command_connection(t, uuids, args.per_conn_vms)
        r.add("one SSH connection per command (seed 004)", per_conn,
              f"measured on {args.per_conn_vms} VMs, extrapolated to {len(uuids)}")  # fmt: skip
        each, wall, answered = await concurrent(client, args.concurrent, bench_uuids)
        r.add(f"{args.concurrent} concurrent list_vms via MCP: p50", percentile(each, 50),
              f"{answered}/{args.concurrent} answered, with every bench VM; all done in {wall:.2f} s; "
              "no client schema check")  # fmt: skip
        r.add(f"{args.concurrent} concurrent list_vms via MCP: p99", percentile(each, 99))
    worst, lag = await jitter(t, running_vm, args.samples)
    r.add(f"monitor jitter, max |gap - 1 s| over {args.samples} samples", worst, f"max lag {lag * 1000:.1f} ms")
    return r


def print_table(r: Report, t: Target, args: argparse.Namespace) -> None:
    base = r.rows[0].seconds or 1.0
    width = max(len(row.what) for row in r.rows)
    print(f"\nqemu-mcp bench: listing over SSH to {t.where}; {t.note}")
    u = os.uname()
    print(f"machine: {u.nodename}, {os.cpu_count()} CPUs, {u.release}; medians of {args.reps} warm calls")
    for line in r.lines:
        print(line)
    print(f"\n{'anchor':{width}}  {'median':>10}  {'ratio':>7}  note")
    for row in r.rows:
        ms = "-" if row.seconds is None else f"{row.seconds * 1000:8.1f} ms"
        ratio = "" if row.seconds is None or row.what.startswith(("monitor", f"{args.concurrent} ")) else \
            f"{row.seconds / base:6.2f}x"  # fmt: skip
        print(f"{row.what:{width}}  {ms:>10}  {ratio:>7}  {row.note}")
    by_name = {row.what: row.seconds or 0.0 for row in r.rows}
    mcp = by_name["list_vms through an MCP client (stdio), warm"] / base
    local = by_name["list_vms in-process, warm (virsh sessions)"] / base
    print(f"\ngoals: list_vms via MCP {mcp:.2f}x the RPC client (goal <= 1.5x: {'met' if mcp <= 1.5 else 'NOT met'}); "
          f"in-process {local:.2f}x (goal <= 1.1x: {'met' if local <= 1.1 else 'NOT met'})")  # fmt: skip
    print("notes: the RPC client skips host-key checks (no_verify=1, a throw-away host); ratios are to its median.")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--vms", type=int, default=50, help="bench domains to define (default 50)")
    p.add_argument("--reps", type=int, default=15, help="warm calls per anchor (default 15)")
    p.add_argument("--cold-reps", type=int, default=5, help="cold list_vms calls (default 5)")
    p.add_argument("--per-conn-vms", type=int, default=5, help="VMs the per-connection anchor measures (default 5)")
    p.add_argument("--concurrent", type=int, default=200, help="concurrent list_vms calls (default 200)")
    p.add_argument("--samples", type=int, default=30, help="monitor samples at 1 s (default 30: 30 s)")
    p.add_argument("--fan-hosts", type=int, default=20, help="hosts of the fan-out anchor (default 20)")
    p.add_argument("--fleet-sizes", default="100,1000", help="inventory sizes of the RSS anchor (default 100,1000)")
    args = p.parse_args()
    if os.geteuid() != 0:
        raise SystemExit("bench: run as root (network namespace, sshd, qemu:///system)")
    ensure_libvirtd()
    work = Path(tempfile.mkdtemp(prefix="qmcp-bench-"))
    work.chmod(0o755)
    key = work / "id_ed25519"
    keygen(key)
    guests = create_guests()
    try:
        bench_uuids = define_domains(guests.prefix, args.vms, work)
        with bench_host(work, key) as target:
            uuids = all_uuids()
            assert set(bench_uuids) <= set(uuids)
            report = asyncio.run(measure(args, target, work, uuids, bench_uuids, guests.running))
            print_table(report, target, args)
    finally:
        destroy_guests(guests)
        run(["rm", "-rf", str(work)])
    print(bench_cold.section())  # cold start: server to first tools/list, CLI cold (scripts/bench_cold.py)
    sizes = tuple(int(n) for n in args.fleet_sizes.split(",") if n)
    print(bench_fleet.section(args.fan_hosts, min(args.reps, 5), sizes))  # fan-out, RSS (scripts/bench_fleet.py)


if __name__ == "__main__":
    main()
