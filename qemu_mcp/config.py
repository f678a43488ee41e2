"""The inventory: hosts.yaml, the built-in hosts, and ad-hoc hosts named per call."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Literal, TypeVar

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from qemu_mcp import redaction, validation
from qemu_mcp.auth import AuthConfig, TokenStore
from qemu_mcp.errors import ConfigError, InvalidInput, NotFound
from qemu_mcp.policy import Policy, PolicySpec, effective

T = TypeVar("T")
DEFAULT_CONFIG = Path("~/.config/qemu-mcp/hosts.yaml")
CONFIG_ENV = "QEMU_MCP_CONFIG"
LOCAL = "local"
IDLE_CLOSE = 300.0  # seconds: an SSH connection unused this long is closed (reopened on demand)
MAX_PARALLEL_HOSTS = 64  # hosts a fleet-wide call works on at once (handshakes, commands, outputs)


class HostSpec(BaseModel):
    """One host as hosts.yaml describes it. `address` None or 'local' = run commands here, no SSH."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str
    address: str | None = None
    port: int = 22
    user: str | None = None
    key: str | None = Field(None, description="Private key path")
    password_env: str | None = Field(None, description="Name of an env var holding the SSH password")
    known_hosts: str | None = Field(None, description="known_hosts path; default ~/.ssh/known_hosts")
    backend: Literal["auto", "libvirt", "qemu"] = "auto"
    libvirt_uri: str = "qemu:///system"
    vm_dir: str = "/var/lib/qemu"
    # Base images (upload_image, list_images, create's `image` by bare name); default <vm_dir>/images.
    image_dir: str | None = None
    # manage_vm create: KVM when the host can really run KVM guests for the arch (probed), else TCG.
    accel: Literal["auto", "kvm", "tcg"] = "auto"
    connect_timeout: float = Field(10.0, gt=0)
    command_timeout: float = Field(120.0, gt=0)
    idle_close: float = Field(IDLE_CLOSE, gt=0, description="Seconds an unused SSH connection stays open")
    lock_timeout: float = Field(120.0, gt=0, description="Seconds a change waits while another process acts on the VM")
    monitor_max_duration: float = Field(3600.0, gt=0, description="Longest monitor_vm_status series, s")
    policy: PolicySpec | None = Field(None, description="Overrides of the global policy for this host")
    # Per-call password (seed 004's ssh_pwd). Never read from a file; excluded from dumps.
    password: str | None = Field(None, exclude=True, repr=False)

    @field_validator("name")
    @classmethod
    def _name(cls, v: str) -> str:
        return _as_value_error(validation.host_name, v)

    @field_validator("address")
    @classmethod
    def _address(cls, v: str | None) -> str | None:
        if v is None or v == LOCAL:
            return None
        return _as_value_error(validation.address, v)

    @field_validator("port")
    @classmethod
    def _port(cls, v: int) -> int:
        return _as_value_error(validation.port, v)

    @field_validator("user")
    @classmethod
    def _user(cls, v: str | None) -> str | None:
        return None if v is None else _as_value_error(validation.ssh_user, v)

    @field_validator("libvirt_uri")
    @classmethod
    def _uri(cls, v: str) -> str:
        return _as_value_error(validation.libvirt_uri, v)

    @field_validator("vm_dir")
    @classmethod
    def _vm_dir(cls, v: str) -> str:
        return _as_value_error(lambda s: validation.abs_path(s, "vm_dir"), v)

    @field_validator("image_dir")
    @classmethod
    def _image_dir(cls, v: str | None) -> str | None:
        if v is not None and (".." in v.split("/") or "," in v):
            raise ValueError(f"image_dir {v!r} must be a plain absolute path (no '..' or ',')")
        return None if v is None else _as_value_error(lambda s: validation.abs_path(s, "image_dir"), v)

    @property
    def images(self) -> str:
        """The host's image directory: image_dir, else <vm_dir>/images."""
        return (self.image_dir or self.vm_dir.rstrip("/") + "/images").rstrip("/") or "/"

    @field_validator("policy")
    @classmethod
    def _host_policy(cls, v: PolicySpec | None) -> PolicySpec | None:
        if v is not None and v.busy_timeout is not None:
            raise ValueError("busy_timeout applies to the whole server: set it in the top-level policy block")
        return v

    @field_validator("key", "known_hosts")
    @classmethod
    def _expand(cls, v: str | None) -> str | None:
        return None if v is None else os.path.expanduser(v)

    @model_validator(mode="after")
    def _password_env_set(self) -> HostSpec:
        if self.password_env is not None and not self.password_env.replace("_", "").isalnum():
            raise ValueError(f"password_env {self.password_env!r} is not an environment variable name")
        return self

    @property
    def is_local(self) -> bool:
        return self.address is None

    @property
    def display_address(self) -> str:
        return LOCAL if self.address is None else self.address

    def ssh_password(self) -> str | None:
        """The password to try, if any: per-call first, then the env var hosts.yaml names."""
        if self.password is not None:
            redaction.remember(self.password)
            return self.password
        if self.password_env:
            value = os.environ.get(self.password_env)
            if value is None:
                raise ConfigError(
                    f"host '{self.name}': password_env names ${self.password_env}, which is not set; "
                    "export it or use a key"
                )
            redaction.remember(value)
            return value
        return None


def _as_value_error(check: Callable[[T], T], value: T) -> T:
    # pydantic wants ValueError from validators; our checks raise InvalidInput with good text.
    try:
        return check(value)
    except InvalidInput as e:
        raise ValueError(str(e)) from None


BUILTIN_HOSTS = (
    HostSpec(name="local", libvirt_uri="qemu:///system"),
    HostSpec(name="demo", backend="libvirt", libvirt_uri="test:///default"),
)


class InventoryFile(BaseModel):
    model_config = ConfigDict(extra="forbid")
    hosts: list[HostSpec] = Field(default_factory=list)
    auth: AuthConfig = Field(default_factory=AuthConfig)
    policy: PolicySpec = Field(default_factory=PolicySpec)
    audit_log: str | None = Field(None, description="JSONL audit log (default ~/.local/state/qemu-mcp/audit.jsonl)")
    max_parallel_hosts: int = Field(
        MAX_PARALLEL_HOSTS, ge=1, description="Hosts a fleet-wide call works on at once, whole server"
    )


class Inventory:
    """Named hosts: those of hosts.yaml plus the built-ins (a file may redefine `local`, not `demo`)."""

    def __init__(
        self,
        hosts: list[HostSpec],
        source: str | None = None,
        auth: AuthConfig | None = None,
        policy: PolicySpec | None = None,
        audit_log: str | None = None,
        max_parallel_hosts: int = MAX_PARALLEL_HOSTS,
    ) -> None:
        self.source = source
        self.max_parallel_hosts = max_parallel_hosts
        self.auth = auth or AuthConfig()
        self.policy = policy or PolicySpec()
        self.audit_log = audit_log
        self._tokens: TokenStore | None = None
        self.hosts: dict[str, HostSpec] = {h.name: h for h in BUILTIN_HOSTS}
        self.file_hosts = tuple(hosts)
        for h in hosts:
            if h.name == "demo":
                raise ConfigError(f"{source}: host name 'demo' is reserved for the built-in demo host")
            self.hosts[h.name] = h

    @property
    def configured(self) -> list[HostSpec]:
        """Hosts a fleet-wide listing covers: the file's hosts, or `local` when the file names none."""
        return list(self.file_hosts) or [self.hosts["local"]]

    def policy_for(self, spec: HostSpec) -> Policy:
        """The effective policy of a host (an ad-hoc host has no `policy:` of its own: the global one)."""
        return effective(spec.name, self.policy, spec.policy, spec.vm_dir, spec.image_dir)

    def global_policy(self, host_name: str) -> Policy:
        """The policy of a host named per call, which has no hosts.yaml entry."""
        return effective(host_name, self.policy, None, None)

    def token_store(self) -> TokenStore:
        """The HTTP tokens (hashed), built once: the HTTP middleware and the tools share it."""
        if self._tokens is None:
            try:
                self._tokens = TokenStore(self.auth.tokens)
            except ValueError as e:
                raise ConfigError(str(e)) from None
        return self._tokens

    def get(self, name: str) -> HostSpec:
        try:
            return self.hosts[name]
        except KeyError:
            known = ", ".join(sorted(self.hosts))
            raise NotFound(
                f"host '{name}' is not in the inventory (known: {known}); add it to hosts.yaml "
                "or pass ssh_user with ssh_key/ssh_pwd to reach it ad hoc"
            ) from None


def config_path(explicit: str | None = None) -> Path:
    if explicit:
        return Path(explicit).expanduser()
    env = os.environ.get(CONFIG_ENV)
    if env:
        return Path(env).expanduser()
    return DEFAULT_CONFIG.expanduser()


def load_inventory(explicit: str | None = None) -> Inventory:
    """Load hosts.yaml; a missing default file is fine (built-ins only), a missing named file is not."""
    path = config_path(explicit)
    named = bool(explicit or os.environ.get(CONFIG_ENV))
    if not path.exists():
        if named:
            raise ConfigError(f"config file {path} does not exist (named by --config or ${CONFIG_ENV})")
        return Inventory([], source=None)
    try:
        raw = yaml.safe_load(path.read_text()) or {}
    except (OSError, yaml.YAMLError) as e:
        raise ConfigError(f"{path}: cannot read the config: {e}") from None
    if not isinstance(raw, dict):
        raise ConfigError(f"{path}: the top level must be a mapping with a 'hosts:' list")
    try:
        parsed = InventoryFile.model_validate(raw)
    except ValidationError as e:
        raise ConfigError(_explain(path, raw, e)) from None
    names = [h.name for h in parsed.hosts]
    dupes = sorted({n for n in names if names.count(n) > 1})
    if dupes:
        raise ConfigError(f"{path}: host names must be unique; repeated: {', '.join(dupes)}")
    return Inventory(
        parsed.hosts, source=str(path), auth=parsed.auth, policy=parsed.policy, audit_log=parsed.audit_log,
        max_parallel_hosts=parsed.max_parallel_hosts,
    )  # fmt: skip


def _explain(path: Path, raw: dict, err: ValidationError) -> str:
    lines = [f"{path}: invalid configuration"]
    for e in err.errors():
        loc = list(e["loc"])
        where = ".".join(str(p) for p in loc)
        if len(loc) >= 2 and loc[0] == "hosts" and isinstance(loc[1], int):
            hosts = raw.get("hosts") or []
            entry = hosts[loc[1]] if loc[1] < len(hosts) else {}
            hname = entry.get("name", f"#{loc[1] + 1}") if isinstance(entry, dict) else f"#{loc[1] + 1}"
            key = ".".join(str(p) for p in loc[2:]) or "(entry)"
            where = f"host '{hname}', key '{key}'"
        msg = e["msg"].removeprefix("Value error, ")
        lines.append(f"  {where}: {msg}")
    return "\n".join(lines)


def adhoc_host(
    address: str,
    *,
    port: int | None = None,
    user: str | None = None,
    password: str | None = None,
    key: str | None = None,
    base: HostSpec | None = None,
) -> HostSpec:
    """A host named per call (seed 004's host/ssh_* arguments), optionally on top of an inventory entry."""
    redaction.remember(password)
    fields: dict = dict(base.model_dump()) if base else {"name": _adhoc_name(address)}
    if base is None:
        fields["address"] = address
    if port is not None:
        fields["port"] = port
    if user is not None:
        fields["user"] = user
    if key is not None:
        fields["key"] = key
    try:
        return HostSpec(**fields, password=password)
    except ValidationError as e:
        raise InvalidInput("; ".join(x["msg"].removeprefix("Value error, ") for x in e.errors())) from None


def _adhoc_name(address: str) -> str:
    validation.address(address)
    return address if validation.HOST_NAME.fullmatch(address) else "adhoc-" + address.replace(":", "-")
