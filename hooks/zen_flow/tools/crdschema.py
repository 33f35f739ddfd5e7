"""A CRD's openAPIV3Schema: is it a structural schema, and what does the API server reject?

Own code rather than ``jsonschema``: most of Kubernetes' OpenAPI v3.0 dialect (``nullable``,
boolean ``exclusiveMinimum``, ``x-kubernetes-*``, unknown fields as errors, CEL rules) is what
that library lacks, and the whole dialect fits in these few functions.
"""

from __future__ import annotations

import functools
import json
import re
from collections.abc import Iterator
from typing import Any, Final

import celpy
from celpy import celtypes
from celpy.adapter import json_to_cel
from celpy.celparser import CELParseError
from celpy.evaluation import CELEvalError

Schema = dict[str, Any]

PRESERVE: Final = "x-kubernetes-preserve-unknown-fields"
EMBEDDED: Final = "x-kubernetes-embedded-resource"
INT_OR_STRING: Final = "x-kubernetes-int-or-string"
LIST_TYPE: Final = "x-kubernetes-list-type"
LIST_MAP_KEYS: Final = "x-kubernetes-list-map-keys"
RULES: Final = "x-kubernetes-validations"

# --- the schema itself ---------------------------------------------------------------------------

# Kubernetes refuses references and the JSON Schema keywords OpenAPI v3.0 lacks; the union
# keywords and titles it would allow are refused too, as the CRD generator never writes them.
FORBIDDEN_KEYWORDS: Final = frozenset(
    {"$ref", "$defs", "anyOf", "oneOf", "allOf", "not", "const", "title"}
)
ALLOWED_KEYWORDS: Final = frozenset(
    {
        "type",
        "description",
        "properties",
        "required",
        "items",
        "additionalProperties",
        "enum",
        "default",
        "minimum",
        "maximum",
        "exclusiveMinimum",
        "exclusiveMaximum",
        "minLength",
        "maxLength",
        "pattern",
        "minItems",
        "maxItems",
        "minProperties",
        "maxProperties",
        "format",
        PRESERVE,
        EMBEDDED,
        INT_OR_STRING,
        LIST_TYPE,
        LIST_MAP_KEYS,
        RULES,
    }
)
_PYTHON_TYPES: Final[dict[str, type | tuple[type, ...]]] = {
    "string": str,
    "integer": int,
    "number": (int, float),
    "boolean": bool,
}


def structural_problems(node: Schema, path: str = "") -> list[str]:
    """What makes ``node`` not a structural schema, or not one this project accepts: every
    property must also have a description."""
    problems = _keyword_problems(node, path)
    kind = node.get("type")
    # The root's metadata is ObjectMeta, implied by the API server: `type: object` is its schema.
    if kind == "object" and path != ".metadata":
        problems += _object_schema_problems(node, path)
    if kind == "array" and "items" not in node:
        problems.append(f"{path}: array without items")
    problems += _value_keyword_problems(node, path)
    problems += _list_map_problems(node, path)
    for name, prop in node.get("properties", {}).items():
        if not prop.get("description") and not (path == "" and name == "metadata"):
            problems.append(f"{path}.{name}: no description")
        problems += structural_problems(prop, f"{path}.{name}")
    for key in ("items", "additionalProperties"):
        if isinstance(node.get(key), dict):
            problems += structural_problems(node[key], f"{path}[{key}]")
    return problems


def _keyword_problems(node: Schema, path: str) -> list[str]:
    """Keywords refused or unknown, and a missing type."""
    problems = [f"{path}: keyword {k}" for k in node if k in FORBIDDEN_KEYWORDS]
    problems += [f"{path}: unknown keyword {k}" for k in node if k not in ALLOWED_KEYWORDS]
    if "type" not in node and not (node.get(PRESERVE) or node.get(INT_OR_STRING)):
        problems.append(f"{path}: no type")
    return problems


def _list_map_problems(node: Schema, path: str) -> list[str]:
    """A key of a ``map`` list must always have a value."""
    problems = []
    for key in node.get(LIST_MAP_KEYS, []):
        item = node["items"]
        if key not in item.get("required", []) and "default" not in item["properties"][key]:
            problems.append(f"{path}: list-map key {key} is neither required nor defaulted")
    return problems


def _object_schema_problems(node: Schema, path: str) -> list[str]:
    problems = []
    if not ("properties" in node or "additionalProperties" in node or node.get(PRESERVE)):
        problems.append(f"{path}: bare object")
    if "properties" in node and "additionalProperties" in node:
        problems.append(f"{path}: properties and additionalProperties together")
    for name in node.get("required", []):
        if name not in node.get("properties", {}):
            problems.append(f"{path}: required {name} is not a property")
    return problems


def _value_keyword_problems(node: Schema, path: str) -> list[str]:
    """Boolean exclusive bounds, enum values and defaults of the node's own type, and a
    default the enum allows."""
    problems = []
    for bound in ("exclusiveMinimum", "exclusiveMaximum"):
        if bound in node and not isinstance(node[bound], bool):
            problems.append(f"{path}: {bound} must be OpenAPI v3.0's boolean")
    kind = node.get("type")
    expected = _PYTHON_TYPES.get(kind or "")
    if expected is not None:
        for value in node.get("enum", []):
            if not isinstance(value, expected) or isinstance(value, bool) != (kind == "boolean"):
                problems.append(f"{path}: enum value {value!r} is not a {kind}")
        if "default" in node and not isinstance(node["default"], expected):
            problems.append(f"{path}: default {node['default']!r} is not a {kind}")
    if "enum" in node and "default" in node and node["default"] not in node["enum"]:
        problems.append(f"{path}: default {node['default']!r} not in enum")
    return problems


def schema_nodes(node: Schema) -> list[Schema]:
    """``node`` and every schema below it (properties, items, additionalProperties)."""
    found = [node]
    for prop in node.get("properties", {}).values():
        found += schema_nodes(prop)
    for key in ("items", "additionalProperties"):
        if isinstance(node.get(key), dict):
            found += schema_nodes(node[key])
    return found


def version_schema(crd: dict[str, Any], version: str) -> Schema:
    """The openAPIV3Schema of one version of a CustomResourceDefinition."""
    for served in crd["spec"]["versions"]:
        if served["name"] == version:
            schema: Schema = served["schema"]["openAPIV3Schema"]
            return schema
    raise KeyError(f"{crd['metadata']['name']} has no version {version}")


# --- values, as the API server validates them ----------------------------------------------------

# The fields of an ObjectMeta that a client may send; the API server validates them itself.
OBJECT_META: Final = frozenset(
    {
        "name",
        "generateName",
        "namespace",
        "labels",
        "annotations",
        "finalizers",
        "ownerReferences",
        "uid",
        "resourceVersion",
        "generation",
        "creationTimestamp",
        "deletionTimestamp",
        "deletionGracePeriodSeconds",
        "managedFields",
    }
)
_JSON_TYPES: Final[dict[str, tuple[type, ...]]] = {
    "object": (dict,),
    "array": (list,),
    "string": (str,),
    "boolean": (bool,),
    "integer": (int,),
    "number": (int, float),
}


def object_errors(obj: Any, schema: Schema) -> list[str]:
    """Every way a whole object breaks its CRD's ``schema`` (its metadata is an ObjectMeta)."""
    return list(_errors(obj, schema, "", resource=True))


def value_errors(value: Any, schema: Schema, path: str = "") -> list[str]:
    """Every way ``value``, found at ``path`` of an object, breaks ``schema``; empty if valid."""
    return list(_errors(value, schema, path, resource=False))


def _errors(value: Any, schema: Schema, path: str, *, resource: bool) -> Iterator[str]:
    if value is None:
        if not schema.get("nullable"):
            yield f"{path}: null is not allowed"
        return
    if schema.get(INT_OR_STRING):
        if not (isinstance(value, (int, str)) and not isinstance(value, bool)):
            yield f"{path}: must be an integer or a string"
    elif "type" in schema and not _type_ok(value, schema["type"]):
        yield f"{path}: must be of type {schema['type']}, got {type(value).__name__}"
        return
    yield from _bound_errors(value, schema, path)
    yield from _combination_errors(value, schema, path)
    if isinstance(value, dict) and (schema.get("type") == "object" or "properties" in schema):
        yield from _field_errors(value, schema, path, resource=resource)
    if isinstance(value, list):
        yield from _item_errors(value, schema, path)
    yield from _rule_errors(value, schema, path)


def _type_ok(value: Any, kind: str) -> bool:
    if isinstance(value, bool) and kind in ("integer", "number"):
        return False
    return isinstance(value, _JSON_TYPES[kind])


def _bound_errors(value: Any, schema: Schema, path: str) -> Iterator[str]:
    """enum, minimum and maximum, string and list lengths, pattern."""
    if "enum" in schema and value not in schema["enum"]:
        yield f"{path}: {value!r} not one of {schema['enum']}"
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        yield from _range_errors(value, schema, path)
    if isinstance(value, (str, list, dict)):
        yield from _size_errors(value, schema, path)
    if isinstance(value, str) and "pattern" in schema and not re.search(schema["pattern"], value):
        yield f"{path}: {value!r} does not match {schema['pattern']}"


def _range_errors(value: float, schema: Schema, path: str) -> Iterator[str]:
    low, high = schema.get("minimum"), schema.get("maximum")
    if low is not None and (value < low or (schema.get("exclusiveMinimum") and value == low)):
        yield f"{path}: {value} below minimum {low}"
    if high is not None and (value > high or (schema.get("exclusiveMaximum") and value == high)):
        yield f"{path}: {value} above maximum {high}"


def _size_errors(
    value: str | list[Any] | dict[str, Any], schema: Schema, path: str
) -> Iterator[str]:
    if isinstance(value, str):
        low, high, few, many = "minLength", "maxLength", "shorter than {}", "longer than {}"
    elif isinstance(value, dict):
        low, high = "minProperties", "maxProperties"
        few, many = "fewer than {} properties", "more than {} properties"
    else:
        low, high, few, many = "minItems", "maxItems", "fewer than {} items", "more than {} items"
    if len(value) < schema.get(low, 0):
        yield f"{path}: {few.format(schema[low])}"
    if high in schema and len(value) > schema[high]:
        yield f"{path}: {many.format(schema[high])}"


def _combination_errors(value: Any, schema: Schema, path: str) -> Iterator[str]:
    """allOf, anyOf, oneOf and not."""
    for part in schema.get("allOf", []):
        yield from _errors(value, part, path, resource=False)
    for key, wanted in (("anyOf", range(1, 1 << 30)), ("oneOf", range(1, 2))):
        if key in schema:
            matches = sum(1 for part in schema[key] if not value_errors(value, part, path))
            if matches not in wanted:
                yield f"{path}: matches {matches} of the {key} alternatives"
    if "not" in schema and not value_errors(value, schema["not"], path):
        yield f"{path}: matches a forbidden schema"


def _field_errors(
    value: dict[str, Any], schema: Schema, path: str, *, resource: bool
) -> Iterator[str]:
    """Required fields, the fields' own schemas, and unknown fields (an error, not pruned)."""
    properties: dict[str, Any] = schema.get("properties", {})
    for name in schema.get("required", []):
        if name not in value:
            yield f"{path}.{name}: required field is missing"
    additional = schema.get("additionalProperties")
    embeds = resource or schema.get(EMBEDDED)
    for name, item in value.items():
        where = f"{path}.{name}"
        if name == "metadata" and embeds:
            # The API server validates the ObjectMeta of a resource itself.
            yield from value_errors(item, {**properties.get(name, {}), PRESERVE: True}, where)
            if isinstance(item, dict):
                unknown = sorted(set(item) - OBJECT_META)
                yield from (f"{where}.{key}: unknown field" for key in unknown)
        elif name in properties:
            yield from _errors(item, properties[name], where, resource=False)
        elif isinstance(additional, dict):
            yield from _errors(item, additional, where, resource=False)
        elif not (schema.get(PRESERVE) or additional is True):
            yield f"{where}: unknown field"


def _item_errors(value: list[Any], schema: Schema, path: str) -> Iterator[str]:
    """Duplicates in a ``set`` or ``map`` list, then each item against ``items``."""
    list_type = schema.get(LIST_TYPE)
    seen: set[tuple[str, str]] = set()
    for index, item in enumerate(value):
        where = f"{path}[{index}]"
        if list_type in ("set", "map"):
            shown = _list_key(item, schema)
            if shown is not None:
                key = (type(shown).__name__, json.dumps(shown, sort_keys=True, default=str))
                if key in seen:
                    yield f"{where}: Duplicate value: {shown!r}"
                seen.add(key)
        if "items" in schema:
            yield from _errors(item, schema["items"], where, resource=False)


def _list_key(item: Any, schema: Schema) -> Any:
    """What makes an item of a ``set`` or ``map`` list unique; None when it has no key."""
    if schema.get(LIST_TYPE) == "set":
        return item
    if not isinstance(item, dict):
        return None  # the item's type error says what is wrong
    return tuple(item.get(key) for key in schema.get(LIST_MAP_KEYS, []))


def _rule_errors(value: Any, schema: Schema, path: str) -> Iterator[str]:
    """The ``x-kubernetes-validations`` CEL rules, with their messages and field paths."""
    for rule in schema.get(RULES, []):
        where = (path + rule.get("fieldPath", "")) or "<root>"
        activation = {"self": json_to_cel(value)}
        try:
            verdict = _program(rule["rule"]).evaluate(activation)
        except (CELParseError, CELEvalError) as error:
            yield f"{where}: CEL rule {rule['rule']!r} could not be evaluated: {error}"
            continue
        if not (isinstance(verdict, celtypes.BoolType) and bool(verdict)):
            yield f"{where}: {_rule_message(rule, activation)}"


def _rule_message(rule: dict[str, Any], activation: dict[str, Any]) -> str:
    """messageExpression's value, else message, else the rule (as the API server words it)."""
    if "messageExpression" in rule:
        try:
            message = _program(rule["messageExpression"]).evaluate(activation)
        except (CELParseError, CELEvalError):
            message = None
        if isinstance(message, str):
            return str(message)
    return str(rule.get("message") or f"failed rule {rule['rule']!r}")


@functools.cache
def _program(expression: str) -> Any:
    environment = celpy.Environment()
    return environment.program(environment.compile(expression))
