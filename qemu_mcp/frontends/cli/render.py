"""Tables that fit the terminal (rich is imported only when one is drawn).

rich squeezes every column evenly when a table is too wide, down to one character per line. A
`FitTable` lays itself out for the width it is given instead, in this order until it fits: the
full boxed table; a compact one (no vertical rules) with as many columns as fit, the most useful
first (the others are dropped); and as a last resort every column folds. Free text (paths,
details) folds onto more lines, breaking after a space, `/`, `-`, `.` ... where it can, and is
never narrower than its longest unbreakable piece (up to WORD_CAP); names and short values keep
their natural width so they stay copy-pasteable; a `tail` column (a sparkline) keeps its newest end.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any, Literal

if TYPE_CHECKING:
    from rich.console import Console, ConsoleOptions, RenderResult
    from rich.table import Table
    from rich.text import Text

Kind = Literal["keep", "fold", "tail"]
WORD_CAP = 12  # a folding column may split a longer piece rather than grow past this
BREAK_AFTER = " /-_.,:=;"  # a folding line breaks after one of these when it can
FULL, COMPACT = "full", "compact"


@dataclass(frozen=True)
class Col:
    header: str
    kind: Kind = "keep"  # keep: natural width, no wrap; fold: may fold; tail: cropped from the left
    drop: int = 0  # when narrow, columns are added by increasing `drop` while they fit; 0: always shown
    min_width: int = 4  # fold/tail columns: never narrower than this
    justify: Literal["left", "right"] = "left"


def _text(cell: str) -> Text:
    from rich.text import Text

    return Text.from_markup(cell)


def _longest_piece(plain: str) -> int:
    return max((len(p) for p in re.split(f"(?<=[{re.escape(BREAK_AFTER)}\n])", plain)), default=0)


def _overhead(n: int, style: str) -> int:
    return 3 * n + 1 if style == FULL else 2 * (n - 1)


def cuts(plain: str, width: int) -> list[int]:
    """Where to end lines so none is wider than `width`: after the last BREAK_AFTER character that
    fits; a piece too long for a line is cut, its last two parts evenly (never a lone letter)."""
    found: list[int] = []
    start = 0
    breaks: list[int] = []  # positions after a break character on the current line
    for pos, ch in enumerate(plain):
        if ch == "\n":
            start, breaks = pos + 1, []
            continue
        if pos - start >= width:
            usable = [b for b in breaks if start < b <= pos]
            if usable:
                start = usable[-1]
            else:
                rest = len(re.split(f"[{re.escape(BREAK_AFTER)}\n]", plain[start:], maxsplit=1)[0])
                start += -(-rest // 2) if rest <= 2 * width else width
            while start < len(plain) and plain[start] == " ":  # the space stays at the end of the line
                start += 1
            found.append(start)
            breaks = [b for b in breaks if b > start]
        if ch in BREAK_AFTER:
            breaks.append(pos + 1)
    return found


def folded(cell: str, width: int) -> str | Text:
    """The cell with its lines broken to fit `width` (styles kept)."""
    text = _text(cell)
    at = cuts(text.plain, width)
    if not at:
        return cell
    from rich.text import Text

    lines = text.divide(at)
    for line in lines:
        line.rstrip()  # in place: the space a line broke after
    return Text("\n").join(lines)


class FitTable:
    """A rich renderable: the table, laid out for the width of wherever it is printed."""

    def __init__(self, cols: list[Col], rows: list[list[str]], title: str | None = None, **options: Any) -> None:
        self.cols, self.rows, self.title = cols, rows, title
        self.options: dict[str, Any] = options  # more of rich's Table(...) arguments
        plain = [[_text(cell).plain for cell in [c.header, *(r[i] for r in rows)]] for i, c in enumerate(cols)]
        self.natural = [max(len(line) for cell in cells for line in cell.split("\n")) for cells in plain]
        pieces = [max(_longest_piece(cell) for cell in cells) for cells in plain]
        self.least = [
            n if c.kind == "keep" else min(n, max(c.min_width, min(piece, WORD_CAP)))
            for c, n, piece in zip(cols, self.natural, pieces, strict=True)
        ]

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        yield self.table(options.max_width)

    def _fits(self, keep: list[int], style: str, width: int) -> bool:
        return sum(self.least[i] for i in keep) + _overhead(len(keep), style) <= width

    def layout(self, width: int) -> tuple[list[int], str, list[Col], list[int]]:
        """(indexes of the columns shown, box style, columns, least widths) for this width."""
        keep = list(range(len(self.cols)))
        if self._fits(keep, FULL, width):
            return keep, FULL, self.cols, self.least
        # Compact: the columns never dropped, then the others, most useful first, while they fit.
        keep = [i for i, c in enumerate(self.cols) if not c.drop]
        if not self._fits(keep, COMPACT, width):  # last resort: everything folds, to a few characters
            cols = [replace(c, kind="fold") if c.kind == "keep" else c for c in self.cols]
            return keep, COMPACT, cols, [min(n, 6) for n in self.natural]
        for i in sorted((i for i, c in enumerate(self.cols) if c.drop), key=lambda i: self.cols[i].drop):
            if self._fits(sorted([*keep, i]), COMPACT, width):
                keep = sorted([*keep, i])
        return keep, COMPACT, self.cols, self.least

    def _widths(self, keep: list[int], style: str, cols: list[Col], least: list[int], width: int) -> dict[int, int]:
        """Widths of the folding columns: each its least, then what the fixed ones leave shared out
        evenly (a column that needs less than its share passes the rest on)."""
        flexible = sorted((i for i in keep if cols[i].kind != "keep"), key=lambda i: self.natural[i] - least[i])
        widths = {i: least[i] for i in flexible}
        spare = width - _overhead(len(keep), style) - sum(self.natural[i] for i in keep if cols[i].kind == "keep")
        spare -= sum(widths.values())
        for k, i in enumerate(flexible):
            extra = max(0, min(self.natural[i] - least[i], spare // (len(flexible) - k)))
            widths[i] += extra
            spare -= extra
        return widths

    def table(self, width: int) -> Table:
        from rich import box
        from rich.table import Table

        keep, style, cols, least = self.layout(width)
        widths = self._widths(keep, style, cols, least, width)
        if style == FULL:
            t = Table(title=self.title, **self.options)
        else:
            compact: dict[str, Any] = {
                "box": box.SIMPLE_HEAD,
                "show_edge": False,
                "pad_edge": False,
                "padding": (0, 1, 0, 0),
            }
            t = Table(title=self.title, **self.options, **compact)
        for i in keep:
            c = cols[i]
            t.add_column(c.header, justify=c.justify, no_wrap=c.kind != "fold", overflow="fold", width=widths.get(i))
        for row in self.rows:
            t.add_row(*(_cell(row[i], cols[i].kind, widths.get(i)) for i in keep))
        return t


def escape(text: str) -> str:
    """Data shown as itself, never read as rich markup ("[redacted]" is not a style)."""
    from rich.markup import escape as rich_escape

    return rich_escape(text)


def _cell(cell: str, kind: Kind, width: int | None) -> str | Text:
    if width is None or kind == "keep":
        return cell
    if kind == "tail":
        return cell[-width:] if len(cell) > width else cell
    return folded(cell, width)


def vm_table(vms: list[Any], title: str) -> FitTable:
    """VMs as a table: names never fold (they must stay copy-pasteable) unless nothing else fits."""
    cols = [
        Col("host", kind="fold", drop=2, min_width=8),
        Col("name"),
        Col("status"),
        Col("arch", drop=3),
        Col("vcpus", drop=4, justify="right"),
        Col("memory MiB", drop=5, justify="right"),
        Col("disks", kind="fold", drop=6, min_width=10),
        Col("autostart", drop=7),
    ]
    colour = {"running": "green", "stopped": "dim", "paused": "yellow", "crashed": "red"}
    rows = []
    for v in vms:
        disks = ", ".join(f"{d.target}:{gib(d.capacity_bytes)}" for d in v.disks if d.device == "disk")
        c = colour.get(v.status, "white")
        rows.append(
            [
                v.host,
                v.name,
                f"[{c}]{v.state}[/]",
                v.arch or "",
                str(v.vcpus),
                str(v.memory),
                disks,
                {True: "yes", False: "no", None: "?"}[v.autostart],
            ]
        )
    return FitTable(cols, rows, title)


def hosts_table(hosts: list[Any]) -> FitTable:
    cols = [
        Col("name"),
        Col("address", kind="fold", drop=3, min_width=12),
        Col("user", drop=5),
        Col("backend", drop=4),
        Col("reachable"),
        Col("latency ms", drop=6, justify="right"),
        Col("error", kind="fold", drop=2, min_width=16),
    ]
    rows = [
        [
            h.name,
            h.address if h.port is None else f"{h.address}:{h.port}",
            h.user or "",
            h.backend,
            "yes" if h.reachable else "[red]no[/]",
            f"{h.latency_ms:.1f}" if h.latency_ms is not None else "",
            h.error or "",
        ]
        for h in hosts
    ]
    return FitTable(cols, rows, "hosts")


def gib(n: int | None) -> str:
    return "?" if n is None else f"{n / 2**30:.1f}G"
