"""`qemu-mcp policy show` (the effective policy per host) and `qemu-mcp audit tail` (the audit log).
No mcp import here."""

from __future__ import annotations

import argparse
import json
from datetime import datetime
from typing import Any

from qemu_mcp import levels
from qemu_mcp.audit import AuditLog, audit_path
from qemu_mcp.config import load_inventory
from qemu_mcp.frontends.cli.render import Col, FitTable, escape
from qemu_mcp.policy import Policy, any_host_may_mutate

ADHOC = "(ad-hoc)"  # a host named per call by address: the global policy


def add_parsers(sub: Any) -> None:
    policy = sub.add_parser("policy", help="the safety policy").add_subparsers(dest="policy_command", required=True)
    show = policy.add_parser("show", help="the effective policy of every host (global + per-host overrides)")
    show.add_argument("--json", action="store_true")
    show.set_defaults(run=_policy_show)
    lv = policy.add_parser("levels", help="every operation of every tool: safe, moderate or dangerous")
    lv.add_argument("--json", action="store_true")
    lv.set_defaults(run=_levels)

    audit = sub.add_parser("audit", help="the audit log of mutating actions").add_subparsers(
        dest="audit_command", required=True
    )
    tail = audit.add_parser("tail", help="the newest audit records")
    tail.add_argument("-n", type=int, default=20, help="how many records (default 20)")
    tail.add_argument("--json", action="store_true", help="the records as a JSON array")
    tail.set_defaults(run=_audit_tail)


def _policies(config: str | None) -> tuple[list[Policy], bool]:
    inv = load_inventory(config)
    hosts = [inv.policy_for(h) for h in inv.hosts.values()]
    hosts.append(inv.global_policy(ADHOC))
    return hosts, any_host_may_mutate(inv.policy, (h.policy for h in inv.hosts.values()))


def _policy_show(args: argparse.Namespace) -> int:
    policies, mutating_listed = _policies(args.config)
    if args.json:
        out = {"hosts": [p.as_dict() for p in policies], "mutating_tools_listed": mutating_listed}
        print(json.dumps(out, indent=2))
        return 0
    from rich.console import Console

    console = Console()
    console.print(policy_table(policies))
    g = policies[-1]
    console.print(
        f"whole server: at most {g.global_max_concurrent_ops} mutating action(s) at once "
        f"(max_concurrent_ops), a call waits up to {g.busy_timeout:g} s for a slot (busy_timeout); "
        f"{ADHOC} = a host named per call by address. Mutating tools are "
        + ("listed" if mutating_listed else "[bold]hidden[/] (read-only everywhere)"),
        highlight=False,
    )
    return 0


def _levels(args: argparse.Namespace) -> int:
    if args.json:
        rows = [{"operation": op.name, "level": op.level.value, "what": op.what} for op in levels.OPERATIONS]
        print(json.dumps(rows, indent=2))
        return 0
    from rich.console import Console

    Console().print(levels_table())
    return 0


def _audit_tail(args: argparse.Namespace) -> int:
    inv = load_inventory(args.config)
    log = AuditLog(audit_path(inv.audit_log))
    records = log.tail(10**6 if args.n > 0 else 0)
    actions = _pair(records)[-args.n :] if args.n > 0 else []
    if args.json:
        ids = {a["id"] for a in actions}
        print(json.dumps([r for r in records if r.get("id") in ids], indent=2, ensure_ascii=False))
        return 0
    from rich.console import Console

    t = audit_table(actions, f"audit log {log.path}: the last {len(actions)} action(s)")
    Console().print(t, highlight=False)
    return 0


def levels_table() -> FitTable:
    colour = {levels.SAFE: "green", levels.MODERATE: "yellow", levels.DANGEROUS: "red"}
    cols = [Col("operation", kind="fold", min_width=12), Col("level"), Col("what it does", kind="fold", min_width=16)]
    rows = [[op.name, f"[{colour[op.level]}]{op.level.value}[/]", op.what] for op in levels.OPERATIONS]
    return FitTable(cols, rows, "operation levels (dangerous ones always ask for confirmation)")


def audit_table(actions: list[dict[str, Any]], title: str) -> FitTable:
    """One row per action; on a narrow terminal the duration, host and who give way first."""
    cols = [
        Col("started"),
        Col("who", kind="fold", drop=3, min_width=8),
        Col("action"),
        Col("host", kind="fold", drop=4, min_width=8),
        Col("vm", kind="fold", min_width=8),
        Col("outcome"),
        Col("secs", drop=5, justify="right"),
        Col("detail", kind="fold", drop=2, min_width=16),
    ]
    colour = {"ok": "green", "refused": "yellow", "failed": "red", "cancelled": "magenta", "unfinished": "red"}
    rows = [
        [
            _short_time(a["time"]),
            escape(str(a.get("who", ""))),
            escape(str(a.get("action", ""))),
            escape(str(a.get("host", ""))),
            escape(str(a.get("vm") or "")),
            f"[{colour.get(a['outcome'], 'white')}]{escape(a['outcome'])}[/]",
            f"{a['duration_s']:.1f}" if isinstance(a.get("duration_s"), int | float) else "",
            escape(_clip(a["detail"])),
        ]
        for a in actions
    ]
    return FitTable(cols, rows, title)


def policy_table(policies: list[Policy]) -> FitTable:
    """The effective policy, one row per host; bold: set in hosts.yaml (the rest are defaults)."""

    def cell(p: Policy, key: str, text: str) -> str:
        return escape(text) if p.origin.get(key, "default") == "default" else f"[bold]{escape(text)}[/]"

    cols = [Col("host", kind="fold", min_width=8)] + [
        Col(h, kind="fold")
        for h in ("read only", "allowed actions", "protected VMs", "allowed paths", "ad-hoc hosts", "password args")
    ] + [Col("max ops", kind="fold")]  # fmt: skip
    rows = [
        [
            escape(p.host),
            cell(p, "read_only", "yes" if p.read_only else "no"),
            cell(p, "allowed_actions", "all" if p.allowed_actions is None else ", ".join(p.allowed_actions) or "none"),
            cell(p, "protected_vms", ", ".join(p.protected_vms) or "-"),
            cell(p, "allowed_paths", "\n".join(p.allowed_paths)),
            cell(p, "allow_adhoc_hosts", "allowed" if p.allow_adhoc_hosts else "refused"),
            cell(p, "allow_password_args", "allowed" if p.allow_password_args else "refused"),
            cell(p, "max_concurrent_ops", str(p.max_concurrent_ops) if p.max_concurrent_ops else "-"),
        ]
        for p in policies
    ]
    return FitTable(cols, rows, "effective policy (bold: set in hosts.yaml; the rest are defaults)")


def _pair(records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """One row per action: its intent merged with its end. No end record: 'unfinished' (still
    running, or the server died mid-action)."""
    actions: dict[str, dict[str, Any]] = {}
    for r in records:
        rid = str(r.get("id", ""))
        if r.get("event") == "intent":
            arguments = r.get("arguments") or {}
            shown = {k: v for k, v in arguments.items() if v not in (None, False) and k not in ("name", "action")}
            actions[rid] = {**r, "outcome": "unfinished", "detail": ", ".join(f"{k}={v}" for k, v in shown.items())}
        elif r.get("event") == "end":
            row = actions.setdefault(rid, {**r, "detail": ""})
            row.update(
                outcome=r.get("outcome", "?"),
                duration_s=r.get("duration_s"),
                host=r.get("host", row.get("host")),
                detail=r.get("error") or r.get("message") or row["detail"],
            )
    return list(actions.values())


def _clip(text: str, limit: int = 240) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _short_time(value: Any) -> str:
    try:
        return datetime.fromisoformat(str(value).replace("Z", "+00:00")).strftime("%m-%d %H:%M:%S")
    except ValueError:
        return str(value or "")
