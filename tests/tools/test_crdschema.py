"""The CRD schema tools: structural-schema problems, and what the API server rejects."""

from __future__ import annotations

from typing import Any

import pytest

from zen_flow.tools.crdschema import (
    object_errors,
    schema_nodes,
    structural_problems,
    value_errors,
    version_schema,
)

Schema = dict[str, Any]

# --- structural schemas --------------------------------------------------------------------------


def test_structural_checker_catches_what_kubernetes_rejects() -> None:
    assert structural_problems({"type": "object"}) == [": bare object"]
    assert structural_problems({"description": "x"}) == [": no type"]
    mixed = {"anyOf": [{"type": "string"}, {"type": "integer"}], "type": "string"}
    assert structural_problems(mixed) == [": keyword anyOf", ": unknown keyword anyOf"]
    undocumented = {"type": "object", "properties": {"a": {"type": "string"}}}
    assert structural_problems(undocumented) == [".a: no description"]
    assert structural_problems({"type": "integer", "exclusiveMinimum": 0}) != []
    assert structural_problems({"type": "string", "enum": [True]}) != []


def described(schema: Schema) -> Schema:
    return {"description": "d", **schema}


@pytest.mark.parametrize(
    ("schema", "problem"),
    [
        ({"$ref": "#/x", "type": "string"}, ": keyword $ref"),
        ({"type": "string", "title": "T"}, ": keyword title"),
        ({"type": "string", "examples": ["a"]}, ": unknown keyword examples"),
        ({"description": "x"}, ": no type"),
        ({"type": "object"}, ": bare object"),
        (
            {"type": "object", "properties": {}, "additionalProperties": {"type": "string"}},
            ": properties and additionalProperties together",
        ),
        ({"type": "object", "properties": {}, "required": ["a"]}, ": required a is not a property"),
        ({"type": "array"}, ": array without items"),
        (
            {"type": "integer", "minimum": 0, "exclusiveMinimum": 0},
            "must be OpenAPI v3.0's boolean",
        ),
        (
            {"type": "integer", "maximum": 9, "exclusiveMaximum": 9},
            "must be OpenAPI v3.0's boolean",
        ),
        ({"type": "string", "enum": [True]}, ": enum value True is not a string"),
        ({"type": "integer", "enum": [False]}, ": enum value False is not a integer"),
        ({"type": "boolean", "enum": [1]}, ": enum value 1 is not a boolean"),
        ({"type": "integer", "default": "1"}, ": default '1' is not a integer"),
        ({"type": "string", "enum": ["a"], "default": "b"}, ": default 'b' not in enum"),
        (
            {
                "type": "array",
                "x-kubernetes-list-type": "map",
                "x-kubernetes-list-map-keys": ["name"],
                "items": {"type": "object", "properties": {"name": described({"type": "string"})}},
            },
            ": list-map key name is neither required nor defaulted",
        ),
        ({"type": "object", "properties": {"a": {"type": "string"}}}, ".a: no description"),
        ({"type": "object", "properties": {"a": described({})}}, ".a: no type"),
        ({"type": "array", "items": {"type": "object"}}, "[items]: bare object"),
        ({"type": "object", "additionalProperties": {}}, "[additionalProperties]: no type"),
    ],
)
def test_structural_problem(schema: Schema, problem: str) -> None:
    assert any(problem in found for found in structural_problems(schema)), problem


@pytest.mark.parametrize(
    "schema",
    [
        {"type": "object", "x-kubernetes-preserve-unknown-fields": True},
        {"x-kubernetes-int-or-string": True},
        {"x-kubernetes-preserve-unknown-fields": True},
        {"type": "object", "additionalProperties": {"type": "string"}},
        {"type": "integer", "minimum": 0, "exclusiveMinimum": True, "default": 1},
        {"type": "number", "enum": [1, 1.5], "default": 1},
        {
            "type": "object",
            "required": ["spec"],
            "properties": {
                "metadata": {"type": "object"},
                "spec": described({"type": "object", "properties": {}}),
            },
        },
        {
            "type": "array",
            "x-kubernetes-list-type": "map",
            "x-kubernetes-list-map-keys": ["name", "port"],
            "items": {
                "type": "object",
                "required": ["name"],
                "properties": {
                    "name": described({"type": "string"}),
                    "port": described({"type": "integer", "default": 80}),
                },
            },
        },
    ],
)
def test_structural_schemas_pass(schema: Schema) -> None:
    assert structural_problems(schema) == []


def test_schema_nodes_are_every_schema_below() -> None:
    leaf = {"type": "string"}
    items = {"type": "array", "items": leaf}
    values = {"type": "object", "additionalProperties": leaf}
    root = {"type": "object", "properties": {"a": items, "b": values}}
    assert schema_nodes(root) == [root, items, leaf, values, leaf]


def test_version_schema_picks_the_version() -> None:
    crd = {
        "metadata": {"name": "things.example.org"},
        "spec": {
            "versions": [
                {"name": "v1", "schema": {"openAPIV3Schema": {"type": "object"}}},
                {"name": "v2", "schema": {"openAPIV3Schema": {"type": "string"}}},
            ]
        },
    }
    assert version_schema(crd, "v2") == {"type": "string"}
    with pytest.raises(KeyError, match="no version v3"):
        version_schema(crd, "v3")


# --- values, as the API server validates them ----------------------------------------------------

TOY_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["steps"],
    "properties": {
        "steps": {
            "type": "array",
            "minItems": 1,
            "items": {
                "type": "object",
                "properties": {
                    "name": {"type": "string", "pattern": "^[a-z]+$"},
                    "limit": {"type": "integer", "minimum": 0},
                    "kind": {"type": "string", "enum": ["A", "B"]},
                    "free": {"type": "object", "x-kubernetes-preserve-unknown-fields": True},
                },
                "x-kubernetes-validations": [{"rule": "self.name != 'bad'", "message": "bad"}],
            },
        }
    },
}


@pytest.mark.parametrize(
    ("value", "error"),
    [
        ({}, ".steps: required field is missing"),
        ({"steps": []}, ".steps: fewer than 1 items"),
        ({"steps": [{"name": "x", "other": 1}]}, ".steps[0].other: unknown field"),
        ({"steps": [{"name": "X1"}]}, ".steps[0].name: 'X1' does not match ^[a-z]+$"),
        ({"steps": [{"limit": -1}]}, ".steps[0].limit: -1 below minimum 0"),
        ({"steps": [{"limit": "3"}]}, ".steps[0].limit: must be of type integer, got str"),
        ({"steps": [{"kind": "C"}]}, ".steps[0].kind: 'C' not one of ['A', 'B']"),
        ({"steps": [{"name": "bad"}]}, ".steps[0]: bad"),
    ],
)
def test_schema_validator_reports_what_the_api_server_rejects(value: Any, error: str) -> None:
    assert error in object_errors(value, TOY_SCHEMA)


def test_schema_validator_accepts_preserved_unknown_fields() -> None:
    value = {"steps": [{"name": "ok", "free": {"anything": [1, {"x": None}]}}]}
    assert object_errors(value, TOY_SCHEMA) == []


@pytest.mark.parametrize(
    ("value", "schema", "error"),
    [
        # types
        (None, {"type": "string"}, ": null is not allowed"),
        (True, {"type": "integer"}, ": must be of type integer, got bool"),
        (True, {"type": "number"}, ": must be of type number, got bool"),
        (1.5, {"type": "integer"}, ": must be of type integer, got float"),
        (1, {"type": "boolean"}, ": must be of type boolean, got int"),
        ([], {"type": "object"}, ": must be of type object, got list"),
        ({}, {"type": "array"}, ": must be of type array, got dict"),
        (1, {"type": "string"}, ": must be of type string, got int"),
        (1.5, {"x-kubernetes-int-or-string": True}, ": must be an integer or a string"),
        (True, {"x-kubernetes-int-or-string": True}, ": must be an integer or a string"),
        # bounds
        (0, {"type": "integer", "minimum": 0, "exclusiveMinimum": True}, ": 0 below minimum 0"),
        (11, {"type": "integer", "maximum": 10}, ": 11 above maximum 10"),
        (10, {"type": "number", "maximum": 10, "exclusiveMaximum": True}, ": 10 above maximum"),
        ("", {"type": "string", "minLength": 1}, ": shorter than 1"),
        ("abc", {"type": "string", "maxLength": 2}, ": longer than 2"),
        ([1, 2], {"type": "array", "items": {"type": "integer"}, "maxItems": 1}, "more than 1"),
        # combinations
        ("a", {"allOf": [{"type": "string"}, {"maxLength": 0}]}, ": longer than 0"),
        (1, {"anyOf": [{"type": "string"}, {"type": "boolean"}]}, "matches 0 of the anyOf"),
        ("a", {"oneOf": [{"type": "string"}, {"maxLength": 1}]}, "matches 2 of the oneOf"),
        ("a", {"not": {"type": "string"}}, ": matches a forbidden schema"),
        # fields
        ({"a": 1}, {"type": "object", "properties": {}}, ".a: unknown field"),
        ({"a": 1}, {"type": "object", "additionalProperties": {"type": "string"}}, ".a: must be"),
        ({"a": None}, {"type": "object", "properties": {"a": {"type": "string"}}}, ".a: null"),
        # list types
        (["a", "b", "a"], {"type": "array", "x-kubernetes-list-type": "set"}, "[2]: Duplicate"),
        ([[1], [1]], {"type": "array", "x-kubernetes-list-type": "set"}, "[1]: Duplicate"),
        (
            [{"name": "a", "port": 1}, {"name": "a", "port": 1}],
            {
                "type": "array",
                "x-kubernetes-list-type": "map",
                "x-kubernetes-list-map-keys": ["name", "port"],
            },
            "[1]: Duplicate value: ('a', 1)",
        ),
        # CEL rules: message, messageExpression, fieldPath, the rule itself, broken rules
        (
            {"a": 1},
            {"x-kubernetes-validations": [{"rule": "self.a > 1"}]},
            "<root>: failed rule 'self.a > 1'",
        ),
        (
            {"a": 1},
            {
                "x-kubernetes-validations": [
                    {
                        "rule": "self.a > 1",
                        "message": "static",
                        "messageExpression": "'a is ' + string(self.a)",
                        "fieldPath": ".a",
                    }
                ],
            },
            ".a: a is 1",
        ),
        (
            {"a": 1},
            {
                "x-kubernetes-validations": [
                    {"rule": "self.a > 1", "message": "static", "messageExpression": "self.b"}
                ],
            },
            "<root>: static",
        ),
        (1, {"x-kubernetes-validations": [{"rule": "self +"}]}, "could not be evaluated"),
        (1, {"x-kubernetes-validations": [{"rule": "self.x == 1"}]}, "could not be evaluated"),
        (1, {"x-kubernetes-validations": [{"rule": "self"}]}, "failed rule 'self'"),
    ],
)
def test_value_rejected(value: Any, schema: Schema, error: str) -> None:
    found = value_errors(value, schema)
    assert any(error in e for e in found), found


@pytest.mark.parametrize(
    ("value", "schema"),
    [
        (None, {"type": "string", "nullable": True}),
        (1, {"type": "number"}),
        ("80%", {"x-kubernetes-int-or-string": True}),
        (80, {"x-kubernetes-int-or-string": True}),
        (1, {"type": "integer", "minimum": 0, "exclusiveMinimum": True}),
        ("a", {"anyOf": [{"type": "string"}, {"type": "integer"}]}),
        (1, {"oneOf": [{"type": "string"}, {"type": "integer"}]}),
        ({"a": 1}, {"type": "object", "additionalProperties": True}),
        ({"a": {"b": 1}}, {"type": "object", "x-kubernetes-preserve-unknown-fields": True}),
        (["a", "b"], {"type": "array", "x-kubernetes-list-type": "set"}),
        ([1, True, 1.5, "1"], {"type": "array", "x-kubernetes-list-type": "set"}),
        (["a", "a"], {"type": "array", "x-kubernetes-list-type": "atomic"}),
        (
            [{"name": "a", "port": 1}, {"name": "a", "port": 2}],
            {
                "type": "array",
                "x-kubernetes-list-type": "map",
                "x-kubernetes-list-map-keys": ["name", "port"],
            },
        ),
        ({"a": 2}, {"x-kubernetes-validations": [{"rule": "self.a > 1"}]}),
    ],
)
def test_value_accepted(value: Any, schema: Schema) -> None:
    assert value_errors(value, schema) == []


def test_errors_are_at_the_path_given() -> None:
    schema = {"type": "object", "properties": {"a": {"type": "string"}}}
    assert value_errors({"a": 1}, schema, "spec") == ["spec.a: must be of type string, got int"]


# --- ObjectMeta -----------------------------------------------------------------------------------

RESOURCE_SCHEMA: Schema = {
    "type": "object",
    "properties": {
        "metadata": {"type": "object"},
        "template": {
            "type": "object",
            "x-kubernetes-embedded-resource": True,
            "x-kubernetes-preserve-unknown-fields": True,
        },
        "data": {"type": "object", "properties": {"metadata": {"type": "string"}}},
    },
}


def test_a_resources_metadata_is_an_object_meta() -> None:
    value = {"metadata": {"name": "x", "labels": {"a": "b"}, "colour": "red"}}
    assert object_errors(value, RESOURCE_SCHEMA) == [".metadata.colour: unknown field"]
    assert object_errors({"metadata": "x"}, RESOURCE_SCHEMA) == [
        ".metadata: must be of type object, got str"
    ]


def test_an_embedded_resources_metadata_is_an_object_meta() -> None:
    value = {"template": {"metadata": {"generateName": "x-", "colour": "red"}, "spec": {}}}
    assert object_errors(value, RESOURCE_SCHEMA) == [".template.metadata.colour: unknown field"]


def test_a_field_named_metadata_elsewhere_is_a_plain_field() -> None:
    assert object_errors({"data": {"metadata": "text"}}, RESOURCE_SCHEMA) == []
    assert object_errors({"metadata": {"name": "x"}}, RESOURCE_SCHEMA) == []
    assert value_errors({"metadata": {"name": "x"}}, RESOURCE_SCHEMA) == [
        ".metadata.name: unknown field"
    ]
