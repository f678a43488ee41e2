"""KVM or TCG for a new VM, shared by the backends: `accel` in hosts.yaml, then a probe's verdict.

KVM only when a probe guest with the CPU a real guest gets really starts (a host may offer
/dev/kvm, or libvirt may report KVM, and still fail: containers, CI, a host CPU model KVM
refuses). The verdict is kept per host, backend and arch in `AccelVerdicts` (the Fleet holds
one for its life), and ten concurrent creates run one probe. `accel: tcg` skips the probe; `accel: kvm` insists on KVM.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from qemu_mcp.backends.job import Job
from qemu_mcp.config import HostSpec
from qemu_mcp.errors import InvalidInput
from qemu_mcp.locks import KeyedLocks

Probe = Callable[[], Awaitable[str]]


class AccelVerdicts:
    """Probe verdicts by (host, backend, arch): 'kvm', or why KVM guests do not run."""

    def __init__(self) -> None:
        self._verdicts: dict[tuple[HostSpec, str], str] = {}
        self._locks = KeyedLocks()

    async def verdict(self, spec: HostSpec, key: str, probe: Probe) -> str:
        """The kept verdict, or the probe's (one probe at a time per key)."""
        async with self._locks.hold((spec, key)):
            verdict = self._verdicts.get((spec, key))
            if verdict is None:
                verdict = await probe()
                self._verdicts[(spec, key)] = verdict
        return verdict


async def decide_accel(verdicts: AccelVerdicts, spec: HostSpec, job: Job, arch: str, kind: str, probe: Probe) -> str:
    """'kvm' or 'tcg'. `probe` returns 'kvm' when KVM guests start, else the reason they do not."""
    if spec.accel == "tcg":
        job.note("using TCG (emulation): the host is configured with accel: tcg")
        return "tcg"
    verdict = await verdicts.verdict(spec, f"accel:{kind}:{arch}", probe)
    if verdict == "kvm":
        return "kvm"
    if spec.accel == "kvm":
        raise InvalidInput(
            f"host '{spec.name}' is configured with accel: kvm, but KVM {arch} guests cannot run "
            f"there ({verdict}); set accel: auto or tcg"
        )
    job.note(f"using TCG (emulation, slower than KVM): {verdict}")
    return "tcg"
