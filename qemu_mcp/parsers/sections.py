"""Split the stdout of one virsh process that ran several commands.

The product runs `virsh -c URI 'cmd1; echo MARK; cmd2; echo MARK; cmd3'`; virsh's echo
prints MARK and a newline, so sections are separated by lines that are exactly MARK.

What virsh 9.0 does with such a batch (see fixtures/*/virsh-batch-*.txt):
- a command that fails at run time (unknown domain, ...) writes "error: ..." to stderr and
  a lone "\\n" to stdout, and the batch goes on; the exit status is the LAST command's
  (0 if the last one succeeded, even after a failure in the middle);
- a command line that does not parse (unknown command or option) runs nothing at all:
  empty stdout, exit status 1.
So a failed command's section is whitespace only; it is returned as ''.
"""

from __future__ import annotations

import secrets


def new_marker() -> str:
    """A token no command output will contain by chance; printed between batched commands."""
    return f"@@qmcp-{secrets.token_hex(6)}@@"


def split_sections(stdout: str, marker: str, expected: int) -> list[str]:
    """Exactly `expected` sections; missing trailing ones are ''. ValueError if too many."""
    if not marker or "\n" in marker:
        raise ValueError("the section marker must be a non-empty single line")
    if expected < 1:
        raise ValueError("expected must be at least 1")
    sections: list[list[str]] = [[]]
    for line in stdout.splitlines(keepends=True):
        if line.rstrip("\r\n") == marker:
            sections.append([])
        else:
            sections[-1].append(line)
    if len(sections) > expected:
        raise ValueError(
            f"virsh batch output has {len(sections)} sections separated by {marker!r}, expected {expected}"
        )
    texts = ["".join(lines) for lines in sections]
    texts = [text if text.strip() else "" for text in texts]
    return texts + [""] * (expected - len(texts))
