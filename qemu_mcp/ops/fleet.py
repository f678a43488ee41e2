"""The Fleet: inventory + connection pool + what we learned about each host (its backend)."""

from __future__ import annotations

from dataclasses import dataclass

from qemu_mcp import validation
from qemu_mcp.config import HostSpec, Inventory, adhoc_host
from qemu_mcp.errors import InvalidInput, NotFound
from qemu_mcp.transport.base import Runner
from qemu_mcp.transport.pool import RunnerPool

LOCAL_ALIASES = ("localhost", "127.0.0.1", "::1")


@dataclass(frozen=True)
class HostRef:
    """How a call names its host: an inventory name, or an address with seed 004's ssh_* arguments."""

    host: str | None = None
    ssh_port: int | None = None
    ssh_user: str | None = None
    ssh_pwd: str | None = None
    ssh_key: str | None = None

    @property
    def has_ssh_args(self) -> bool:
        return any(v is not None for v in (self.ssh_port, self.ssh_user, self.ssh_pwd, self.ssh_key))


class Fleet:
    def __init__(self, inventory: Inventory, pool: RunnerPool | None = None) -> None:
        self.inventory = inventory
        self.pool = pool or RunnerPool()
        self._backends: dict[HostSpec, str] = {}

    def resolve(self, ref: HostRef | None = None) -> HostSpec:
        ref = ref or HostRef()
        if ref.ssh_key is not None:
            validation.abs_path(ref.ssh_key, "ssh_key")
        if ref.host in (None, "") and not ref.has_ssh_args:
            return self.inventory.get("local")
        if ref.host in (None, ""):
            raise InvalidInput(
                "ssh_* arguments need `host` (the address or inventory name of the remote host)"
            )
        assert ref.host is not None
        if ref.host in self.inventory.hosts:
            base = self.inventory.get(ref.host)
            if not ref.has_ssh_args:
                return base
            if base.is_local:
                raise InvalidInput(
                    f"host '{base.name}' runs commands locally; ssh_* arguments do not apply to it"
                )
            return adhoc_host(
                ref.host,
                port=ref.ssh_port,
                user=ref.ssh_user,
                password=ref.ssh_pwd,
                key=ref.ssh_key,
                base=base,
            )
        if ref.host in LOCAL_ALIASES and not ref.has_ssh_args:
            return self.inventory.get("local")
        if not ref.has_ssh_args:
            validation.address(ref.host)
            known = ", ".join(sorted(self.inventory.hosts))
            raise NotFound(
                f"host '{ref.host}' is not in the inventory (known: {known}); "
                "add it to hosts.yaml, or pass ssh_user (and ssh_key or ssh_pwd) to reach it ad hoc"
            )
        return adhoc_host(
            ref.host, port=ref.ssh_port, user=ref.ssh_user, password=ref.ssh_pwd, key=ref.ssh_key
        )

    def runner(self, spec: HostSpec) -> Runner:
        return self.pool.get(spec)

    def known_backend(self, spec: HostSpec) -> str | None:
        """The backend in use: configured, or learned by an earlier call; None while still unknown."""
        if spec.backend != "auto":
            return spec.backend
        return self._backends.get(spec)

    def learn_backend(self, spec: HostSpec, backend: str) -> None:
        self._backends[spec] = backend

    async def close(self) -> None:
        await self.pool.close()
