"""Confirmation for dangerous steps: confirm=true, or ask the user through an elicitation.

Built on mcp 2.3's resolvers (`Annotated[ElicitationResult[ConfirmAnswer], Resolve(fn)]`), which
work on both protocol eras: before 2026-07-28 the question is a server-to-client request in the
middle of the call; from 2026-07-28 on the call returns InputRequired and the client retries
with the answer (the tool body runs once, after the answer). A resolver decides whether to ask:
it returns `ask(ctx, question)`. A client without form elicitation is not asked: the action then
fails with a sentence saying to pass confirm=true.
"""

from __future__ import annotations

from mcp.server.mcpserver import (
    AcceptedElicitation,
    CancelledElicitation,
    Context,
    DeclinedElicitation,
    Elicit,
    ElicitationResult,
)
from mcp_types.version import is_version_at_least
from pydantic import BaseModel, Field

from qemu_mcp.consent import Consent

# The first protocol revision where elicitation rides InputRequired instead of a mid-call request.
INPUT_REQUIRED_ERA = "2026-07-28"


class ConfirmAnswer(BaseModel):
    confirm: bool = Field(description="true to go ahead, false to leave everything as it is")


def can_elicit(ctx: Context) -> bool:
    """The client declared form elicitation, and this session can deliver the question."""
    try:
        caps = ctx.client_capabilities
        version = ctx.protocol_version
        session = ctx.request_context.session
    except ValueError:  # no request: e.g. MCPServer.call_tool() called directly
        return False
    elicitation = caps.elicitation if caps is not None else None
    if elicitation is None or (elicitation.form is None and elicitation.url is not None):
        return False
    if version is not None and is_version_at_least(version, INPUT_REQUIRED_ERA):
        return True
    # Handshake era: the question is a request to the client, which needs a back channel.
    return bool(getattr(session, "can_send_request", True))


def ask(ctx: Context, question: str | None) -> Elicit[ConfirmAnswer] | Consent:
    """What a confirmation resolver returns: no question -> nothing to confirm."""
    if question is None:
        return Consent(False, "none")
    if not can_elicit(ctx):
        return Consent(False, "unavailable")
    return Elicit(question + " Answer confirm=true to go ahead.", ConfirmAnswer)


def consent_from(outcome: ElicitationResult[ConfirmAnswer], confirm: bool) -> Consent:
    """The resolver's outcome (an answer, a refusal, or the resolver's own Consent) as a Consent."""
    if confirm:
        return Consent(True, "confirm")
    if isinstance(outcome, AcceptedElicitation):
        data = outcome.data
        if isinstance(data, Consent):
            return data
        if isinstance(data, ConfirmAnswer):
            return Consent(True, "elicitation") if data.confirm else Consent(False, "declined")
    if isinstance(outcome, DeclinedElicitation):
        return Consent(False, "declined")
    if isinstance(outcome, CancelledElicitation):
        return Consent(False, "cancelled")
    return Consent()
