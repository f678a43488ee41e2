"""Whether the user agreed to a dangerous step (levels.py), and how we know: shared by manage_vm
and the front-ends that ask (MCP elicitation, the CLI's --yes), which need it before they load
the operations."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Consent:
    """Whether the user agreed to a dangerous step, and how we know (for the error text)."""

    given: bool = False
    # confirm (confirm=true), elicitation (accepted), cli (--yes), declined, cancelled,
    # unavailable (the client cannot be asked), none (not asked)
    how: str = "none"
