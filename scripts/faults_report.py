#!/usr/bin/env python3
"""Print the fault-injection suite's table (tests/faults) from its JSON lines report.

    python scripts/faults_report.py [/tmp/qemu-mcp-faults.jsonl]

One row per fault: calls made, calls that ended in a clear error, data lost, leaks. The README's
safety section shows the latest output.
"""

from __future__ import annotations

import json
import os
import sys
from collections import OrderedDict


def main(path: str) -> int:
    rows: OrderedDict[str, dict[str, int]] = OrderedDict()
    with open(path) as f:
        for line in f:
            r = json.loads(line)
            row = rows.setdefault(r["fault"], {"cases": 0, "calls": 0, "clear_errors": 0, "data_lost": 0, "leaks": 0})
            row["cases"] += 1
            for key in ("calls", "clear_errors", "data_lost", "leaks"):
                row[key] += r[key]
    width = max([len("fault"), *(len(k) for k in rows)])
    print(f"| {'fault'.ljust(width)} | cases | calls | clear errors | data lost | leaks |")
    print(f"|{'-' * (width + 2)}|------:|------:|-------------:|----------:|------:|")
    for name, r in rows.items():
        print(
            f"| {name.ljust(width)} | {r['cases']:5} | {r['calls']:5} | {r['clear_errors']:12} "
            f"| {r['data_lost']:9} | {r['leaks']:5} |"
        )
    bad = sum(r["data_lost"] + r["leaks"] for r in rows.values())
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(
        main(
            sys.argv[1] if len(sys.argv) > 1 else os.environ.get("QEMU_MCP_FAULTS_REPORT", "/tmp/qemu-mcp-faults.jsonl")
        )
    )
