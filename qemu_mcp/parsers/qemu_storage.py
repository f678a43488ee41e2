"""Parse the plain-QEMU storage script's output (backends.qemu.storage): tagged sections. Pure.

    MARKER pool NAME        then the directory's path on the next line
    MARKER missing          the directory does not exist
    MARKER df               then df's header and row (parsers.df)
    MARKER image FORMAT     then the image's path (FORMAT: chosen by the file's extension)
    MARKER info             then `qemu-img info --output=json` of that image (details only)
    MARKER info-error       then what qemu-img said instead
    MARKER conf NAME        then the vm.conf of the VM NAME (details only)
"""

from __future__ import annotations

from dataclasses import dataclass, field

from qemu_mcp.parsers.sections import tagged_sections


@dataclass
class RawImage:
    path: str
    format: str
    info: str | None = None  # qemu-img's JSON
    error: str | None = None  # what qemu-img said when it failed


@dataclass
class RawDir:
    name: str
    path: str
    missing: bool = False
    df: str | None = None
    images: list[RawImage] = field(default_factory=list)


@dataclass
class RawStorage:
    dirs: list[RawDir] = field(default_factory=list)
    confs: dict[str, str] = field(default_factory=dict)  # VM name -> vm.conf text


def parse_storage(stdout: str, marker: str) -> RawStorage:
    out = RawStorage()
    for s in tagged_sections(stdout, marker):
        first = s.lines[0] if s.lines else ""
        if s.tag == "pool":
            out.dirs.append(RawDir(name=s.rest, path=first))
        elif s.tag == "conf":
            out.confs[s.rest] = s.text
        elif not out.dirs:
            continue  # nothing else comes before the first pool
        elif s.tag == "missing":
            out.dirs[-1].missing = True
        elif s.tag == "df":
            out.dirs[-1].df = s.text
        elif s.tag == "image" and first:
            out.dirs[-1].images.append(RawImage(path=first, format=s.rest))
        elif s.tag in ("info", "info-error") and out.dirs[-1].images:
            image = out.dirs[-1].images[-1]
            if s.tag == "info":
                image.info = s.text
            else:
                image.error = " ".join(s.text.split())
    return out
