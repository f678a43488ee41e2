"""The published output schemas (frontends/mcp/schema_shape.py flat_schema) accept and reject
exactly what pydantic's schemas do: on real tool results (fixtures/debian-12/mcp, captured by
scripts/capture_list_vms_result.py) and on every one-change breakage of them."""

from __future__ import annotations

import copy
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Literal

import pytest
from jsonschema import Draft202012Validator
from mcp.server.mcpserver import MCPServer
from pydantic import BaseModel
from referencing import Registry

from qemu_mcp.config import Inventory
from qemu_mcp.frontends.mcp.schema_shape import flat_schema
from qemu_mcp.frontends.mcp.server import build_server

RESULTS = Path(__file__).resolve().parents[2] / "fixtures" / "debian-12" / "mcp"
WRONG_VALUES: list[Any] = [None, "x", 7, 1.5, True, [], {}, ["x"], [{}]]


def schemas() -> dict[str, tuple[dict[str, Any], dict[str, Any]]]:
    """Each tool's (pydantic's output schema, the published one)."""
    server = build_server(Inventory([]))
    server.load_tools()  # built lazily, after the first tools/list (frontends/mcp/lazy.py)
    out = {}
    for tool in server._tool_manager.list_tools():
        raw = MCPServer("raw")
        raw.add_tool(tool.fn, name=tool.name)
        original = raw._tool_manager.get_tool(tool.name)
        assert original is not None
        if tool.output_schema is not None:
            out[tool.name] = (original.output_schema, tool.output_schema)
    return out


SCHEMAS = schemas()


def checker(schema: dict[str, Any]) -> Draft202012Validator:
    """As the Python SDK client checks results: the schema checked, an empty registry."""
    Draft202012Validator.check_schema(schema)
    return Draft202012Validator(schema, registry=Registry())


def variants(value: Any) -> Iterator[Any]:
    """Every instance one change away from value: a value replaced, a key removed or added."""
    for wrong in WRONG_VALUES:
        if wrong != value or type(wrong) is not type(value):
            yield copy.deepcopy(wrong)
    if isinstance(value, dict):
        yield {**value, "qmcp_extra": 1}
        for key in value:
            yield {k: v for k, v in value.items() if k != key}
            for changed in variants(value[key]):
                yield {**value, key: changed}
    elif isinstance(value, list):
        for i, item in enumerate(value[:1]):  # the first item stands for the rest
            for changed in variants(item):
                yield [*value[:i], changed, *value[i + 1 :]]


def test_every_tool_publishes_the_flat_shape() -> None:
    assert len(SCHEMAS) >= 10
    for name, (original, published) in SCHEMAS.items():
        assert published == flat_schema(original), name
        text = json.dumps(published)
        assert "$ref" not in text and "$defs" not in text and '"anyOf"' not in text, name
        checker(published)
        # every field's description stays (a model's docstring gives way to its field's)
        fields = {k: v for k, v in original.items() if k != "$defs"}
        assert set(_values(fields, "description")) <= set(_values(published, "description")), name


@pytest.mark.parametrize("path", sorted(RESULTS.glob("*.json")), ids=lambda p: p.stem)
def test_real_results_and_their_breakages_get_the_same_verdict(path: Path) -> None:
    original, published = SCHEMAS[path.name.split(".")[0]]
    before, after = checker(original), checker(published)
    result = json.loads(path.read_text())
    assert before.is_valid(result) and after.is_valid(result)
    if "vms" in result["data"]:  # two VMs stand for fifty; a failure entry is checked too
        result["data"]["vms"] = result["data"]["vms"][:2]
        result["data"]["errors"] = [{"host": "h", "error": "refused", "kind": "HostUnreachable"}]
    verdicts = {True: 0, False: 0}
    for broken in variants(result):
        verdict = before.is_valid(broken)
        assert after.is_valid(broken) == verdict, json.dumps(broken)[:400]
        verdicts[verdict] += 1
    assert verdicts[True] and verdicts[False] > 50, verdicts  # nullable fields accept None


class Leaf(BaseModel):
    kind: Literal["a", "b"] | None = None
    size: int | str | None = None


class Tree(BaseModel):
    """A recursive model: its $ref must stay."""

    leaf: Leaf | None = None
    children: list[Tree] = []


def test_recursion_enums_and_unions() -> None:
    original = Tree.model_json_schema()
    flat = flat_schema(original)
    assert "$defs" in flat and "Tree" in flat["$defs"] and "Leaf" not in flat["$defs"]
    leaf = flat["properties"]["leaf"]
    assert leaf["type"] == ["object", "null"]
    assert leaf["properties"]["kind"] == {"enum": ["a", "b", None], "type": ["string", "null"], "default": None}
    assert leaf["properties"]["size"]["type"] == ["integer", "string", "null"]
    before, after = checker(original), checker(flat)
    good = {"leaf": {"kind": "a", "size": 3}, "children": [{"leaf": None, "children": [{"leaf": {"size": "x"}}]}]}
    for instance in [good, *variants(good)]:
        assert before.is_valid(instance) == after.is_valid(instance), instance


def test_the_argument_is_not_modified() -> None:
    original = Tree.model_json_schema()
    copied = copy.deepcopy(original)
    flat_schema(original)
    assert original == copied


def _values(node: Any, key: str) -> Iterator[Any]:
    if isinstance(node, dict):
        for k, v in node.items():
            if k == key and isinstance(v, str):
                yield v
            yield from _values(v, key)
    elif isinstance(node, list):
        for v in node:
            yield from _values(v, key)


def test_list_vms_check_makes_far_fewer_descends(monkeypatch: pytest.MonkeyPatch) -> None:
    """Not a timing: the subschema descends (the unit of jsonschema's cost) for 50 real VMs."""
    calls = 0
    descend = Draft202012Validator.descend

    def counted(self, *args, **kwargs):  # type: ignore[no-untyped-def]
        nonlocal calls
        calls += 1
        return descend(self, *args, **kwargs)

    monkeypatch.setattr(Draft202012Validator, "descend", counted)
    result = json.loads((RESULTS / "list_vms.local-50.json").read_text())
    counts = []
    for schema in SCHEMAS["list_vms"]:
        calls = 0
        assert checker(schema).is_valid(result)
        counts.append(calls)
    assert counts[1] * 1.6 < counts[0], counts


def example(schema: Any, defs: dict[str, Any]) -> Any:
    """An instance of a pydantic schema with every optional field filled (for the tools no
    result was captured for): each branch's first choice, one item per array or map."""
    if not isinstance(schema, dict):
        return None
    if "$ref" in schema:
        return example(defs[schema["$ref"].split("/")[-1]], defs)
    if "enum" in schema:
        return schema["enum"][0]
    if "const" in schema:
        return schema["const"]
    for key in ("anyOf", "oneOf"):
        if key in schema:
            branch = next((b for b in schema[key] if b.get("type") != "null"), schema[key][0])
            return example(branch, defs)
    kind = schema.get("type")
    if kind == "object":
        out = {name: example(s, defs) for name, s in schema.get("properties", {}).items()}
        if isinstance(schema.get("additionalProperties"), dict):
            out["k"] = example(schema["additionalProperties"], defs)
        return out
    if kind == "array":
        return [example(schema.get("items", {}), defs)]
    return {"string": "x", "integer": 1, "number": 1.5, "boolean": True}.get(kind)


@pytest.mark.parametrize("tool", sorted(SCHEMAS))
def test_every_tool_schema_judges_full_examples_and_breakages_alike(tool: str) -> None:
    original, published = SCHEMAS[tool]
    before, after = checker(original), checker(published)
    full = example(original, original.get("$defs", {}))
    assert before.is_valid(full) and after.is_valid(full), full
    verdicts = {True: 0, False: 0}
    for broken in variants(full):
        verdict = before.is_valid(broken)
        assert after.is_valid(broken) == verdict, json.dumps(broken)[:400]
        verdicts[verdict] += 1
    assert verdicts[True] and verdicts[False], verdicts
