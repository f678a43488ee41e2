"""The virsh session fixtures (commands-session.jsonl) as the product reads them, as JSON.

Each entry is one session: its argv, exit status and the batches written to its stdin (marker
token and command lines). The view replays the transcript the way backends/libvirt/session.py
reads it: up to each batch's end marker, cut by parsers.virsh_session.parse_batch; each command's
output is shown as lines (text.split("\\n"): a last "" is a final newline), with its error lines
and, where the product has a parser for the command, that parse.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from qemu_mcp.backends.libvirt.session import no_stdbuf
from qemu_mcp.parsers.virsh_session import BatchOutput, CommandOutput, Markers, parse_batch, xml_documents

SESSION_INDEX = "commands-session.jsonl"
ParserFor = Callable[[str], Callable[[str], Any] | None]


def read_session_index(fixture_dir: Path) -> dict[str, dict[str, Any]]:
    """file name -> its entry ({file, exit_status, argv, batches: [{token, commands}]})."""
    index = fixture_dir / SESSION_INDEX
    if not index.exists():
        return {}
    entries = [json.loads(line) for line in index.read_text().splitlines() if line.strip()]
    return {e["file"]: e for e in entries}


def lines(text: str) -> list[str]:
    return text.split("\n") if text else []


def batch_view(commands: list[str], batch: BatchOutput, parser_for: ParserFor) -> dict[str, Any]:
    outputs = None
    if batch.outputs is not None:
        outputs = []
        for command, out in zip(commands, batch.outputs, strict=True):
            parser = parser_for(command)
            if "; " in command:  # a Chain of dumpxml: its documents, each parsed
                parsed: Any = chain_view(out, parser)
            else:
                parsed = parser(out.text) if parser and out.ok and out.text.strip() else None
            outputs.append({"lines": lines(out.text), "errors": list(out.errors), "parsed": parsed})
    return {"commands": commands, "outputs": outputs, "refused": list(batch.refused), "stray": list(batch.stray)}


def chain_view(out: CommandOutput, parser: Callable[[str], Any] | None) -> dict[str, Any]:
    documents, errors = xml_documents(out.text + "".join(f"{e}\n" for e in out.errors), "domain")
    return {"documents": [parser(d) if parser else d for d in documents], "errors": errors}


def session_view(text: str, entry: dict[str, Any], parser_for: ParserFor) -> dict[str, Any]:
    """Every batch that got to its end marker, then what the session printed after the last one."""
    batches = []
    rest = text
    for sent in entry["batches"]:
        markers = Markers(sent["token"])
        end = rest.find(markers.end)
        if end < 0:
            break
        cut = end + len(markers.end)
        batch = parse_batch(rest[:cut], markers, len(sent["commands"]))
        batches.append(batch_view(sent["commands"], batch, parser_for))
        rest = rest[cut:]
    status = entry["exit_status"]
    return {"batches": batches, "after": lines(rest), "exit_status": status, "no_stdbuf": no_stdbuf(text, status)}
