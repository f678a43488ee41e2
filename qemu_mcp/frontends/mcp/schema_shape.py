"""The shape of our tools' output schemas: the same set of valid results, cheaper to check.

Clients check every structured result against the tool's outputSchema (the Python SDK client with
`jsonschema`, in pure Python). Its cost is one `descend` (a new validator object, a `referencing`
resource) per (value, subschema) pair, so pydantic's shape costs twice what it needs for a listing:
each nullable field is `anyOf: [{type: X}, {type: null}]` (two or three descends, and a
ValidationError built and thrown away for every null), each nested model a `$ref` into `$defs`
(a registry lookup, then a descend). `flat_schema` rewrites that shape without changing which
instances are valid:

- `{"$ref": "#/$defs/M", ...}` becomes the definition inlined (recursive models keep their `$ref`);
  `$defs` goes when nothing refers to it any more;
- `anyOf: [S, {type: null}]` (either order), where S has a `type` and only keywords that apply to
  values of that type (so none constrains null), becomes S merged into its parent with
  `type: [..., "null"]` (and null added to an `enum`); an anyOf of bare types, one type list;
- the `title` keywords pydantic derives from field and class names go (they are not validated;
  the root's title stays); descriptions and defaults stay.

Done once per tool when it is registered (tools/common.py `add_tool`), so tools/list and anything
precomputed from it publish this shape; the server still validates results with the pydantic model.
"""

from __future__ import annotations

import copy
import json
from typing import Any

Schema = dict[str, Any]

# Keywords that never make a value invalid.
ANNOTATIONS = frozenset({"title", "description", "default", "examples", "deprecated", "readOnly", "writeOnly"})
# Keywords that only constrain values of one JSON type: they let null (and every other type) through.
TYPE_SPECIFIC = frozenset(
    {
        "properties", "required", "additionalProperties", "patternProperties", "propertyNames",
        "minProperties", "maxProperties", "dependentRequired", "dependentSchemas",
        "items", "prefixItems", "minItems", "maxItems", "uniqueItems", "contains", "minContains", "maxContains",
        "minLength", "maxLength", "pattern", "format",
        "minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum", "multipleOf",
    }
)  # fmt: skip
# Keywords whose value is one schema, a list of schemas, or a name -> schema map.
ONE_SCHEMA = ("items", "additionalProperties", "not", "if", "then", "else", "contains", "propertyNames")
SCHEMA_LISTS = ("anyOf", "oneOf", "allOf", "prefixItems")
SCHEMA_MAPS = ("properties", "patternProperties", "$defs", "dependentSchemas")
NULL = {"type": "null"}
DEFS = "#/$defs/"


def flat_schema(schema: Schema) -> Schema:
    """`schema` (a pydantic JSON schema) in the cheaper shape; the argument is not modified."""
    defs = schema.get("$defs", {})
    out = _walk({k: v for k, v in copy.deepcopy(schema).items() if k != "$defs"}, defs, frozenset())
    kept = {name: _walk(copy.deepcopy(d), defs, frozenset({name})) for name, d in defs.items()}
    used = {name: d for name, d in kept.items() if f'"{DEFS}{name}"' in json.dumps([out, kept])}
    if used:
        out["$defs"] = used  # recursive models: their $ref stays, with their definitions
    if "title" in schema:
        out["title"] = schema["title"]
    return out


def _walk(node: Any, defs: Schema, inlining: frozenset[str]) -> Any:
    if not isinstance(node, dict):
        return node
    if _inlinable(node, defs, inlining):
        return _inline(node, defs, inlining)
    for key in ONE_SCHEMA:
        if key in node:
            node[key] = _walk(node[key], defs, inlining)
    for key in SCHEMA_LISTS:
        if key in node:
            node[key] = [_walk(s, defs, inlining) for s in node[key]]
    for key in SCHEMA_MAPS:
        if key in node and key != "$defs":
            node[key] = {name: _walk(s, defs, inlining) for name, s in node[key].items()}
    node.pop("title", None)
    return _nullable(node)


def _inlinable(node: Schema, defs: Schema, inlining: frozenset[str]) -> bool:
    """A `$ref` to one of `defs`, not one being inlined (recursion)."""
    ref = node.get("$ref")
    return isinstance(ref, str) and ref.startswith(DEFS) and ref[len(DEFS) :] in set(defs) - inlining


def _inline(node: Schema, defs: Schema, inlining: frozenset[str]) -> Schema:
    """The `$ref` replaced by its definition, walked; annotations beside the `$ref` kept."""
    name = node["$ref"][len(DEFS) :]
    target = _walk(copy.deepcopy(defs[name]), defs, inlining | {name})
    siblings = {k: v for k, v in node.items() if k not in ("$ref", "title")}
    if not isinstance(target, dict) or not set(siblings) <= ANNOTATIONS:
        return {**siblings, "allOf": [target]}
    return {**target, **siblings}


def _nullable(node: Schema) -> Schema:
    """`anyOf: [S, {type: null}]` merged into one schema accepting S's values and null; an anyOf
    of bare types (`[{type: integer}, {type: string}, ...]`) into one type list."""
    branches = node.get("anyOf")
    if not isinstance(branches, list):
        return node
    rest = {k: v for k, v in node.items() if k != "anyOf"}
    bare = all(isinstance(b, dict) and set(b) == {"type"} and isinstance(b["type"], str) for b in branches)
    if bare and branches and "type" not in rest:  # anyOf of bare types is exactly a type list
        return {**rest, "type": list(dict.fromkeys(b["type"] for b in branches))}
    if len(branches) != 2 or NULL not in branches:
        return node
    other = branches[1] if branches[0] == NULL else branches[0]
    if not isinstance(other, dict) or "type" not in other:
        return node
    if not set(other) <= TYPE_SPECIFIC | ANNOTATIONS | {"type", "enum"}:
        return node
    if not set(rest) <= ANNOTATIONS:
        return node
    types = other["type"] if isinstance(other["type"], list) else [other["type"]]
    merged = {**other, **rest, "type": types if "null" in types else [*types, "null"]}
    if "enum" in merged and None not in merged["enum"]:
        merged["enum"] = [*merged["enum"], None]
    return merged
