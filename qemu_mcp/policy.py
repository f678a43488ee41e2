"""Policy: what this server may do, from hosts.yaml's `policy:` block (global) and each host's own
`policy:` key (overrides the global value key by key). Model, merge, and the checks that need no
host; ops/guard.py runs the ones that do (allowed_paths, max_concurrent_ops).

Every refusal is a PolicyDenied whose sentence names the key that refused and where it was set.
"""

from __future__ import annotations

import fnmatch
import posixpath
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator

from qemu_mcp import levels, validation
from qemu_mcp.errors import InvalidInput, PolicyDenied

LIBVIRT_IMAGES = "/var/lib/libvirt/images"
DEFAULT_MAX_CONCURRENT_OPS = 10
DEFAULT_BUSY_TIMEOUT = 60.0
# Keys a host's `policy:` may set; the rest are global only.
HOST_KEYS = ("read_only", "allowed_actions", "protected_vms", "allow_adhoc_hosts", "allow_password_args",
             "allowed_paths", "max_concurrent_ops")  # fmt: skip


class PolicySpec(BaseModel):
    """A `policy:` block as written. None = not set here (inherit the global value, or the default)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    read_only: bool | None = Field(None, description="mutating tools are hidden and refused")
    allowed_actions: tuple[str, ...] | None = Field(
        None, description="manage_vm actions (and snapshot-create/-revert/-delete) allowed (default all)"
    )
    protected_vms: tuple[str, ...] | None = Field(None, description="VM name globs no mutating action may touch")
    allow_adhoc_hosts: bool | None = Field(None, description="per-call host/ssh_* arguments (seed 004)")
    allow_password_args: bool | None = Field(None, description="per-call ssh_pwd (seed 004)")
    allowed_paths: tuple[str, ...] | None = Field(None, description="where disks and ISOs may be")
    max_concurrent_ops: int | None = Field(None, ge=1, le=1000, description="mutating actions at once")
    busy_timeout: float | None = Field(None, gt=0, le=3600, description="seconds a call waits for a slot")

    @field_validator("allowed_actions")
    @classmethod
    def _actions(cls, v: tuple[str, ...] | None) -> tuple[str, ...] | None:
        if v is None:
            return None
        unknown = [a for a in v if a not in levels.POLICY_ACTIONS]
        if unknown:
            raise ValueError(
                f"unknown action(s) {', '.join(map(repr, unknown))}: use {', '.join(levels.POLICY_ACTIONS)}"
            )
        return tuple(dict.fromkeys(v))

    @field_validator("protected_vms")
    @classmethod
    def _globs(cls, v: tuple[str, ...] | None) -> tuple[str, ...] | None:
        if v is not None and any(not g or not isinstance(g, str) for g in v):
            raise ValueError("protected_vms entries must be non-empty name globs such as 'prod-*'")
        return v

    @field_validator("allowed_paths")
    @classmethod
    def _paths(cls, v: tuple[str, ...] | None) -> tuple[str, ...] | None:
        if v is None:
            return None
        return tuple(_plain_dir(p) for p in v)


def _plain_dir(path: str) -> str:
    try:
        validation.abs_path(path, "allowed_paths entry")
    except InvalidInput as e:
        raise ValueError(str(e)) from None
    stripped = path.rstrip("/") or "/"
    if "//" in stripped or any(part in (".", "..") for part in stripped.split("/")):
        raise ValueError(f"allowed_paths entry {path!r} must be a plain absolute directory without '//', '.' or '..'")
    return stripped


@dataclass(frozen=True)
class Policy:
    """The effective policy for one host. `origin[key]` says where each value came from:
    'default', 'policy' (the global block) or "host 'NAME' policy"."""

    host: str
    read_only: bool = False
    allowed_actions: tuple[str, ...] | None = None  # None: every action
    protected_vms: tuple[str, ...] = ()
    allow_adhoc_hosts: bool = True
    allow_password_args: bool = True
    allowed_paths: tuple[str, ...] = ()
    max_concurrent_ops: int | None = None  # this host's own limit; the global one is separate
    global_max_concurrent_ops: int = DEFAULT_MAX_CONCURRENT_OPS
    busy_timeout: float = DEFAULT_BUSY_TIMEOUT
    origin: dict[str, str] = field(default_factory=dict, compare=False, hash=False)

    def where(self, key: str) -> str:
        origin = self.origin.get(key, "default")
        return "its default" if origin == "default" else f"set in {origin}"

    def deny(self, key: str, sentence: str) -> PolicyDenied:
        return PolicyDenied(f"{sentence} (refused by policy key `{key}`, {self.where(key)})")

    def as_dict(self) -> dict[str, Any]:
        return {
            "host": self.host,
            "read_only": self.read_only,
            "allowed_actions": list(self.allowed_actions) if self.allowed_actions is not None else "all",
            "protected_vms": list(self.protected_vms),
            "allow_adhoc_hosts": self.allow_adhoc_hosts,
            "allow_password_args": self.allow_password_args,
            "allowed_paths": list(self.allowed_paths),
            "max_concurrent_ops": self.max_concurrent_ops,
            "global_max_concurrent_ops": self.global_max_concurrent_ops,
            "busy_timeout": self.busy_timeout,
            "origin": dict(self.origin),
        }

    # ---- checks that need no host

    def check_action(
        self, action: str, vm: str, *, subject: str = "", token_read_only: bool = False, tool: str = levels.MANAGE
    ) -> None:
        """A mutating action of `tool` (manage_vm, manage_snapshot) on VM `vm`: read_only (token, then
        policy), allowed_actions, protected_vms."""
        where = f"{tool} {action} of VM '{vm}' on host '{self.host}'"
        if token_read_only:
            raise PolicyDenied(
                f"{where} is refused: the token of '{subject}' is read-only (refused by its `read_only` "
                "key under auth.tokens); only the read tools are available to it"
            )
        if self.read_only:
            raise self.deny("read_only", f"{where} is refused: this server is read-only for host '{self.host}'")
        if self.allowed_actions is not None and levels.policy_action(tool, action) not in self.allowed_actions:
            allowed = ", ".join(self.allowed_actions) or "none"
            raise self.deny("allowed_actions", f"{where} is refused: the allowed actions are {allowed}")
        pattern = self.protecting(vm)
        if pattern is not None:
            raise self.deny(
                "protected_vms",
                f"{where} is refused: VM '{vm}' matches the protected pattern '{pattern}', which no "
                "mutating action may touch",
            )

    def protecting(self, vm: str) -> str | None:
        return next((g for g in self.protected_vms if fnmatch.fnmatchcase(vm, g)), None)

    def outside(self, resolved: dict[str, str], roots: dict[str, str]) -> list[str]:
        """Which of the resolved paths lie outside every (resolved) allowed root: `what path` lines."""
        bad = []
        for what, path in resolved.items():
            if not any(_below(path, root) for root in roots.values()):
                bad.append(what)
        return bad


def _below(path: str, root: str) -> bool:
    path, root = posixpath.normpath(path), posixpath.normpath(root)
    return root == "/" or path == root or path.startswith(root + "/")


def effective(
    host_name: str, glob: PolicySpec, own: PolicySpec | None, vm_dir: str | None, image_dir: str | None = None
) -> Policy:
    """Merge: a key set on the host wins over the global block, which wins over the default.
    allowed_paths defaults to the host's vm_dir, its image_dir (when set) and libvirt's image directory."""
    values: dict[str, Any] = {}
    origin: dict[str, str] = {}
    for key in HOST_KEYS:
        if key == "max_concurrent_ops":
            continue
        for source, spec in ((f"host '{host_name}' policy", own), ("policy", glob)):
            if spec is not None and getattr(spec, key) is not None:
                values[key] = getattr(spec, key)
                origin[key] = source
                break
    if "allowed_paths" not in values:
        dirs = [d.rstrip("/") or "/" for d in (vm_dir, image_dir) if d]
        values["allowed_paths"] = tuple(dict.fromkeys([*dirs, LIBVIRT_IMAGES]))
    if own is not None and own.max_concurrent_ops is not None:
        values["max_concurrent_ops"] = own.max_concurrent_ops
        origin["max_concurrent_ops"] = f"host '{host_name}' policy"
    if glob.max_concurrent_ops is not None:
        values["global_max_concurrent_ops"] = glob.max_concurrent_ops
        origin["global_max_concurrent_ops"] = "policy"
    if glob.busy_timeout is not None:
        values["busy_timeout"] = glob.busy_timeout
        origin["busy_timeout"] = "policy"
    return Policy(host=host_name, origin=origin, **values)


def any_host_may_mutate(glob: PolicySpec, hosts: Iterable[PolicySpec | None]) -> bool:
    """False when every host (and every ad-hoc host) is read-only: tools/list then hides the mutating tools."""
    if not glob.read_only:
        return True
    return any(p is not None and p.read_only is False for p in hosts)
