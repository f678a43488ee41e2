"""Parse the lines of `virsh event --all --loop`.

virsh prints one line per event (libvirt 9.0, C locale)::

    event 'lifecycle' for domain 'NAME': Defined Updated
    event 'metadata-change' for domain 'NAME': type description, uri <null>

    event 'reboot' for domain 'NAME'

NAME is printed verbatim, quotes and all, so a name is only certain when the line has exactly
one `': ` after `for domain '`, or none and ends with the closing quote (names with `': ` in
them, or details with it, are not): otherwise the caller treats the line as concerning any domain.
"""

from __future__ import annotations

from dataclasses import dataclass

_EVENT = "event '"
_FOR = "' for domain '"
_END = "': "


@dataclass(frozen=True)
class DomainEvent:
    event: str  # e.g. lifecycle, metadata-change, device-added
    domain: str | None  # None: which domain is not certain from the line


def parse_event_line(line: str) -> DomainEvent | None:
    """The event a line reports; None when the line is no event line (an error, a notice)."""
    text = line.rstrip("\r\n")
    if not text.startswith(_EVENT) or _FOR not in text:
        return None
    event, _, rest = text[len(_EVENT) :].partition(_FOR)
    if "'" in event or not event:
        return None
    ends = rest.count(_END)
    if ends == 1:
        return DomainEvent(event, rest.partition(_END)[0])
    if ends == 0 and rest.endswith("'"):
        return DomainEvent(event, rest[:-1])  # a generic event: no detail
    return DomainEvent(event, None)
