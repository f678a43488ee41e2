"""The Python SDK client's check of one list_vms result against its output schema, timed in
pydantic's shape (what the SDK would publish) and in the published one (frontends/mcp/
schema_shape.py flat_schema). scripts/bench.py reports it; alone, on a captured result:

    python scripts/bench_schema.py [fixtures/debian-12/mcp/list_vms.local-50.json] [--reps 30]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from jsonschema import exceptions  # noqa: E402
from jsonschema.validators import validator_for  # noqa: E402
from mcp.server.mcpserver import MCPServer  # noqa: E402
from referencing import Registry  # noqa: E402

from qemu_mcp.frontends.mcp.schema_shape import flat_schema  # noqa: E402
from qemu_mcp.frontends.mcp.tools.read import list_vms  # noqa: E402


def list_vms_schemas() -> tuple[dict[str, Any], dict[str, Any]]:
    """(pydantic's output schema for list_vms, the published one)."""
    # its default level, INFO through rich, would log every SSH channel the rest of the bench opens
    raw = MCPServer("raw", log_level="WARNING")
    raw.add_tool(list_vms)
    tool = raw._tool_manager.get_tool("list_vms")
    assert tool is not None and tool.output_schema is not None
    return tool.output_schema, flat_schema(tool.output_schema)


def check_ms(schema: dict[str, Any], instance: Any, reps: int) -> float:
    """Median ms of the SDK client's check (mcp/client/session.py validate_tool_result): a
    validator compiled once (check_schema, empty registry), then iter_errors + best_match."""
    cls = validator_for(schema)
    cls.check_schema(schema)
    validator = cls(schema, registry=Registry())
    times = []
    for _ in range(reps):
        start = time.perf_counter()
        error = exceptions.best_match(validator.iter_errors(instance))
        times.append(time.perf_counter() - start)
        assert error is None, error
    return statistics.median(times) * 1000


def schema_note(instance: Any, reps: int = 15) -> str:
    """One line for the bench: both shapes, interleaved so a load that comes and goes hits both."""
    original, published = list_vms_schemas()
    before, after = [], []
    for _ in range(3):
        before.append(check_ms(original, instance, reps))
        after.append(check_ms(published, instance, reps))
    b, a = statistics.median(before), statistics.median(after)
    vms = len(instance.get("data", {}).get("vms", []))
    return (f"the client's schema check of one {vms}-VM result (jsonschema, median of 3x{reps}): "
            f"pydantic's shape {b:.1f} ms, the published flat shape {a:.1f} ms ({b / a:.1f}x faster)")  # fmt: skip


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("result", nargs="?", default=str(ROOT / "fixtures" / "debian-12" / "mcp" / "list_vms.local-50.json"))
    p.add_argument("--reps", type=int, default=30)
    args = p.parse_args()
    print(schema_note(json.loads(Path(args.result).read_text()), args.reps))


if __name__ == "__main__":
    main()
