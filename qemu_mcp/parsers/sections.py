"""Markers in command output, made and read in one place. Two shapes use them:

- separator lines: a command prints MARKER alone on a line between its parts (a virsh batch
  `cmd1; echo MARK; cmd2`, the host probe, the hostio script); `split_sections` cuts there;
- tagged lines: a host script prints `MARKER tag words...` lines, each followed by the lines that
  belong to it (the plain-QEMU read and sample scripts); `tagged_sections` reads them.

Markers are `@@qmcp-<token>@@`: a fresh random token per command (`new_marker`), or a fixed name
where captured fixtures depend on the exact text (`fixed_marker`).

What virsh 9.0 does with a batch (see fixtures/*/virsh-batch-*.txt):
- a command that fails at run time (unknown domain, ...) writes "error: ..." to stderr and
  a lone "\\n" to stdout, and the batch goes on; the exit status is the LAST command's
  (0 if the last one succeeded, even after a failure in the middle);
- a command line that does not parse (unknown command or option) runs nothing at all:
  empty stdout, exit status 1.
So a failed command's section is whitespace only; `split_sections` returns it as ''.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field


def fixed_marker(name: str) -> str:
    """A marker that stays the same from run to run (fixtures hold it)."""
    return script_marker(f"@@qmcp-{name}@@")


def new_marker() -> str:
    """A token no command output will contain by chance; printed between batched commands."""
    return fixed_marker(secrets.token_hex(6))


def script_marker(marker: str) -> str:
    """The marker, checked to be safe as a bare word in a script (letters, digits, '@' and '-')."""
    if not marker.replace("@", "").replace("-", "").isalnum():
        raise ValueError("marker must be letters, digits, '@' and '-'")
    return marker


def marked_sections(stdout: str, marker: str) -> list[str]:
    """The text between lines that are exactly `marker` (line ends kept), however many there are."""
    if not marker or "\n" in marker:
        raise ValueError("the section marker must be a non-empty single line")
    sections: list[list[str]] = [[]]
    for line in stdout.splitlines(keepends=True):
        if line.rstrip("\r\n") == marker:
            sections.append([])
        else:
            sections[-1].append(line)
    return ["".join(lines) for lines in sections]


def split_sections(stdout: str, marker: str, expected: int) -> list[str]:
    """Exactly `expected` sections; missing trailing ones are ''. ValueError if too many."""
    if expected < 1:
        raise ValueError("expected must be at least 1")
    texts = marked_sections(stdout, marker)
    if len(texts) > expected:
        raise ValueError(f"virsh batch output has {len(texts)} sections separated by {marker!r}, expected {expected}")
    texts = [text if text.strip() else "" for text in texts]
    return texts + [""] * (expected - len(texts))


@dataclass
class Tagged:
    """One `MARKER tag rest` line and the lines after it, up to the next tagged line."""

    tag: str
    rest: str  # the tag line after "tag " (words as printed, spacing kept)
    lines: list[str] = field(default_factory=list)

    @property
    def words(self) -> list[str]:
        return self.rest.split()

    @property
    def number(self) -> int | None:
        """The first word as a whole number, if it is one."""
        words = self.words
        return int(words[0]) if words and words[0].isdigit() else None

    @property
    def text(self) -> str:
        return "\n".join(self.lines)


def tagged_sections(stdout: str, marker: str) -> list[Tagged]:
    """The tagged sections in order; lines before the first tag belong to none and are dropped."""
    prefix = marker + " "
    found: list[Tagged] = []
    for line in stdout.splitlines():
        if line.startswith(prefix):
            tag, _, rest = line[len(prefix) :].partition(" ")
            found.append(Tagged(tag, rest))
        elif found:
            found[-1].lines.append(line)
    return found
