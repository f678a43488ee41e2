"""An interactive virsh session's transcript, cut into one output per command (pure).

A session is `virsh -q -c URI` reading commands on stdin, its stderr joined to its stdout
(backends/libvirt/session.py). A batch is sent as two lines:

    echo --xml '<T-begin>'; CMD1; echo --xml '<T>'; CMD2; echo --xml '<T>'; ... CMDn; echo --xml '<T>'
    echo --xml '<T-end>'

`echo --xml` prints `&lt;T&gt;`, a text the echoed input (virsh prints its prompt and every line
it reads when stdin is not a terminal) never contains, so markers are found wherever they are; in
quiet mode echo prints no newline, so a marker is followed at once by the next command's output.
What virsh 9.0 does in a session (fixtures/*/virsh-session-*.txt):
- a command that fails prints `error: ...` lines (stderr, flushed in order with stdout) and the
  batch goes on: the errors sit in that command's section;
- a line that does not parse (unknown command or option, bad quoting) runs nothing: no begin
  marker, its error lines, then the end line's marker (hence the separate end line);
- when virsh cannot connect to libvirt at the start, it prints its errors and exits.
"""

from __future__ import annotations

from dataclasses import dataclass

ERROR_PREFIX = "error:"


@dataclass(frozen=True)
class Markers:
    """The markers of one batch: `token` is letters, digits and '-' (checked)."""

    token: str

    def __post_init__(self) -> None:
        if not self.token or not self.token.replace("-", "").isalnum():
            raise ValueError("a session marker token is letters, digits and '-'")

    @property
    def begin(self) -> str:
        return f"&lt;{self.token}-begin&gt;"

    @property
    def after(self) -> str:
        """Printed after each command."""
        return f"&lt;{self.token}&gt;"

    @property
    def end(self) -> str:
        return f"&lt;{self.token}-end&gt;"

    def echo(self, which: str = "") -> str:
        """The virsh command printing a marker: which is '', 'begin' or 'end'."""
        name = f"{self.token}-{which}" if which else self.token
        return f"echo --xml '<{name}>'"


def batch_input(commands: list[str], markers: Markers) -> str:
    """The two lines that run `commands` (each a virsh command line, its words quoted for virsh)."""
    if not commands:
        raise ValueError("a batch has at least one command")
    if any("\n" in c or "\r" in c for c in commands):
        raise ValueError("a virsh command in a session batch cannot span lines")
    body = "; ".join(f"{c}; {markers.echo()}" for c in commands)
    return f"{markers.echo('begin')}; {body}\n{markers.echo('end')}\n"


@dataclass(frozen=True)
class CommandOutput:
    """One command's part of a batch: what it printed, without its trailing `error:` lines."""

    text: str
    errors: tuple[str, ...] = ()

    @property
    def ok(self) -> bool:
        return not self.errors


@dataclass(frozen=True)
class BatchOutput:
    """`outputs`: one per command, or None when virsh refused the line (`refused` says why).
    `stray`: `error:` lines printed outside any command (e.g. an asynchronous disconnect);
    `errors`: every `error:` line of the batch, wherever it was."""

    outputs: list[CommandOutput] | None
    refused: tuple[str, ...] = ()
    stray: tuple[str, ...] = ()
    errors: tuple[str, ...] = ()


class Garbled(ValueError):
    """The transcript does not have the shape a batch gives: the session cannot be trusted."""


def parse_batch(transcript: str, markers: Markers, count: int) -> BatchOutput:
    """Cut the transcript of one batch of `count` commands (read up to its end marker)."""
    end = transcript.find(markers.end)
    if end < 0:
        raise Garbled("the batch's end marker is missing")
    head = transcript[:end]
    begin = head.find(markers.begin)
    if begin < 0:
        refused = tuple(error_lines(head))
        return BatchOutput(None, refused=refused, errors=refused)
    parts = head[begin + len(markers.begin) :].split(markers.after)
    if len(parts) != count + 1:
        raise Garbled(f"the batch printed {len(parts) - 1} command markers, expected {count}")
    outputs = [command_output(p) for p in parts[:-1]]
    stray = tuple(error_lines(head[:begin] + parts[-1]))
    # Per section: a marker ends with no newline, so a command's first line follows it directly.
    errors = tuple(e for p in parts[:-1] for e in error_lines(p)) + stray
    return BatchOutput(outputs, stray=stray, errors=errors)


def command_output(section: str) -> CommandOutput:
    """Split the `error:` lines at the end of a command's section from what it printed before.
    Only trailing ones: a line of output (a domain's description in its XML, say) may start so."""
    lines = section.splitlines(keepends=True)
    cut = len(lines)
    while cut and (not lines[cut - 1].strip() or lines[cut - 1].startswith(ERROR_PREFIX)):
        cut -= 1
    errors = tuple(ln.rstrip("\r\n") for ln in lines[cut:] if ln.startswith(ERROR_PREFIX))
    return CommandOutput("".join(lines[:cut]) if errors else section, errors)


def error_lines(text: str) -> list[str]:
    return [ln.rstrip("\r") for ln in text.splitlines() if ln.startswith(ERROR_PREFIX)]


def xml_documents(text: str, root: str) -> tuple[list[str], list[str]]:
    """Cut the output of several `dumpxml` run back to back (no marker between them): each
    document runs from a line starting `<root` to the line `</root>` (libvirt indents everything
    inside, and escapes `<` in text and attributes). Returns (documents, the error lines of the
    commands that failed); Garbled if anything else is there."""
    documents: list[str] = []
    errors: list[str] = []
    current: list[str] | None = None
    for line in text.splitlines(keepends=True):
        bare = line.rstrip("\r\n")
        if current is not None:
            current.append(line)
            if bare == f"</{root}>":
                documents.append("".join(current))
                current = None
        elif bare.startswith(f"<{root}") and bare[len(root) + 1 : len(root) + 2] in (" ", ">"):
            current = [line]
        elif bare.startswith(ERROR_PREFIX):
            errors.append(bare)
        elif bare.strip():
            raise Garbled(f"unexpected text between {root} documents: {bare[:80]!r}")
    if current is not None:
        raise Garbled(f"a {root} document does not end")
    return documents, errors
