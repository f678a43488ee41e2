"""KVM or TCG for a new VM, shared by the backends: `accel` in hosts.yaml, then a probe's verdict.

KVM only when a probe guest with the CPU a real guest gets really starts (a host may offer
/dev/kvm, or libvirt may report KVM, and still fail: containers, CI, a host CPU model KVM
refuses). The verdict is kept per host, backend and arch for the life of the Fleet, and ten
concurrent creates run one probe. `accel: tcg` skips the probe; `accel: kvm` insists on KVM.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from qemu_mcp.config import HostSpec
from qemu_mcp.errors import InvalidInput
from qemu_mcp.ops.fleet import Fleet
from qemu_mcp.ops.manage.job import Job


async def decide_accel(
    fleet: Fleet, spec: HostSpec, job: Job, arch: str, kind: str, probe: Callable[[], Awaitable[str]]
) -> str:
    """'kvm' or 'tcg'. `probe` returns 'kvm' when KVM guests start, else the reason they do not."""
    if spec.accel == "tcg":
        job.note("using TCG (emulation): the host is configured with accel: tcg")
        return "tcg"
    key = (spec, f"accel:{kind}:{arch}")
    async with fleet.vm_locks.hold(("accel", *key)):
        verdict = fleet.host_facts.get(key)
        if verdict is None:
            verdict = await probe()
            fleet.host_facts[key] = verdict
    if verdict == "kvm":
        return "kvm"
    if spec.accel == "kvm":
        raise InvalidInput(
            f"host '{spec.name}' is configured with accel: kvm, but KVM {arch} guests cannot run "
            f"there ({verdict}); set accel: auto or tcg"
        )
    job.note(f"using TCG (emulation, slower than KVM): {verdict}")
    return "tcg"
