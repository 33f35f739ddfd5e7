"""Every error the models can raise is said in the product's words, not the library's."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from pydantic import BaseModel

from tests.support.flows import job_template, step
from zen_flow.api.spec import JobFlowSpec
from zen_flow.api.status import JobFlowStatus
from zen_flow.spec.messages import SENTENCES
from zen_flow.spec.validation import InvalidSpecError, parse_spec

# The error types each kind of schema node can raise, with its constraints.
ALWAYS = {
    "model": {"model_type", "model_attributes_type"},
    "model-fields": {"missing", "extra_forbidden"},
    "str": {"string_type"},
    "int": {"int_type", "int_parsing", "int_from_float", "int_parsing_size"},
    "float": {"float_type", "float_parsing", "finite_number"},
    "bool": {"bool_type", "bool_parsing"},
    "enum": {"enum"},
    "literal": {"literal_error"},
    "list": {"list_type"},
    "dict": {"dict_type"},
    "function-after": {"value_error", "assertion_error"},
    "no-info": {"value_error", "assertion_error"},
}
BY_CONSTRAINT = {
    ("str", "min_length"): "string_too_short",
    ("str", "max_length"): "string_too_long",
    ("str", "pattern"): "string_pattern_mismatch",
    ("list", "min_length"): "too_short",
    ("list", "max_length"): "too_long",
    ("int", "gt"): "greater_than",
    ("int", "ge"): "greater_than_equal",
    ("int", "lt"): "less_than",
    ("int", "le"): "less_than_equal",
    ("float", "gt"): "greater_than",
    ("float", "ge"): "greater_than_equal",
    ("float", "lt"): "less_than",
    ("float", "le"): "less_than_equal",
}
# Nodes that raise nothing of their own.
SILENT = {"any", "default", "nullable", "definitions", "definition-ref", "model-field"}
# What the hook's JSON parsing adds.
JSON_ERRORS = {"json_invalid", "json_type"}
JARGON = (
    "Input should",
    "String should",
    "List should",
    "after validation",
    "valid dictionary",
    "instance of",
    "Value error",
    "Extra inputs",
    "Field required",
    "unable to",
)


def schema_nodes(schema: Any) -> Iterator[dict[str, Any]]:
    pending = [schema]
    while pending:
        node = pending.pop()
        if isinstance(node, dict):
            if isinstance(node.get("type"), str):
                yield node
            pending.extend(node.values())
        elif isinstance(node, list):
            pending.extend(node)


def error_types(model: type[BaseModel]) -> set[str]:
    found = set(JSON_ERRORS)
    for node in schema_nodes(model.__pydantic_core_schema__):
        kind = node["type"]
        if kind in SILENT:
            continue
        assert kind in ALWAYS, f"a new kind of schema node, {kind!r}: add its error types"
        found |= ALWAYS[kind]
        found |= {error for (on, key), error in BY_CONSTRAINT.items() if on == kind and key in node}
    return found


@pytest.mark.parametrize("model", [JobFlowSpec, JobFlowStatus])
def test_every_error_type_the_models_can_raise_has_a_sentence(model: type[BaseModel]) -> None:
    assert error_types(model) - set(SENTENCES) == set()


def messages(spec: Any) -> list[str]:
    with pytest.raises(InvalidSpecError) as raised:
        parse_spec(spec)
    from_json = pytest.raises(InvalidSpecError)
    with from_json as raised_json:
        parse_spec(json.dumps(spec).encode())
    found = [str(p) for p in raised.value.problems]
    assert found == [str(p) for p in raised_json.value.problems], "dict and JSON disagree"
    return found


def template(**pod: Any) -> dict[str, Any]:
    return job_template(**pod)


@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        ({"steps": []}, "spec.steps: a flow needs at least one step"),
        ({"steps": "a"}, 'spec.steps: must be a list (got "a")'),
        ({}, "spec.steps: required field is missing"),
        (
            {"steps": [step("a", retries=3)]},
            "spec.steps[0].retries: unknown field (fields here: name, dependencies, type,",
        ),
        (
            {"steps": [step("a", retryPolicy={"limt": 3})]},
            'spec.steps[0].retryPolicy.limt: unknown field; did you mean "limit"?',
        ),
        (
            {"steps": [step("Load_DB")]},
            'spec.steps[0].name: "Load_DB" is not a valid name: at most 63 lowercase letters,',
        ),
        (
            {"steps": [step("a", retryPolicy={"backoff": {"duration": "10 sec"}})]},
            'spec.steps[0].retryPolicy.backoff.duration: invalid duration "10 sec": '
            'use e.g. "30s", "10m", "1h30m", "500ms"',
        ),
        (
            {"steps": [step("a", retryPolicy={"backoff": {"maxDelay": "99999h"}})]},
            'spec.steps[0].retryPolicy.backoff.maxDelay: duration "99999h" is longer than 87600h',
        ),
        (
            {"steps": [step("a", retryPolicy={"backoff": {"factor": "x"}})]},
            'spec.steps[0].retryPolicy.backoff.factor: must be a number (got "x")',
        ),
        (
            {"steps": [step("a", retryPolicy={"limit": 1.5})]},
            "spec.steps[0].retryPolicy.limit: must be a whole number (got 1.5)",
        ),
        (
            {"steps": [step("a", retryPolicy={"limit": 101})]},
            "spec.steps[0].retryPolicy.limit: must be at most 100 (got 101)",
        ),
        (
            {"steps": [step("a", timeoutSeconds=0)]},
            "spec.steps[0].timeoutSeconds: must be more than 0 (got 0)",
        ),
        (
            {"steps": [step("a", continueOnFailure="maybe")]},
            'spec.steps[0].continueOnFailure: must be true or false (got "maybe")',
        ),
        (
            {"steps": [step("a", when=5)]},
            'spec.steps[0].when: must be text; in YAML, quote it: "5"',
        ),
        (
            {"steps": [step("a", metadata={"labels": {"cost-center": 42}})]},
            'spec.steps[0].metadata.labels["cost-center"]: must be text; in YAML, quote it: "42"',
        ),
        (
            {"steps": [step("a", metadata=[])]},
            "spec.steps[0].metadata: must be an object (a YAML mapping of fields) (got a list)",
        ),
        (
            {"steps": [step("a", metadata={"labels": []})]},
            "spec.steps[0].metadata.labels: must be a mapping of keys to values (got a list)",
        ),
        (
            {"steps": [step("a", template={**template(), "kind": "Pod"})]},
            'spec.steps[0].template.kind: must be "Job" (got "Pod")',
        ),
        (
            {"steps": [step("a", template=template(restartPolicy="Always"))]},
            "spec.steps[0].template.spec.template.spec.restartPolicy: "
            'must be "OnFailure" or "Never" (got "Always")',
        ),
        (
            {"steps": [step("a", template=template(containers=[]))]},
            "spec.steps[0].template.spec.template.spec.containers: must not be empty: "
            "give at least one item",
        ),
        (
            {"steps": [step("a", inputs={"parameters": [{"name": ""}]})]},
            "spec.steps[0].inputs.parameters[0].name: must not be empty",
        ),
        (
            {"steps": [step("a", inputs={"parameters": [{"name": "p", "value": "v" * 5000}]})]},
            "spec.steps[0].inputs.parameters[0].value: must have at most 4096 characters "
            "(has 5000)",
        ),
        (
            {"steps": [step("a", dependencies=[f"d{i}" for i in range(101)])]},
            "spec.steps[0].dependencies: must have at most 100 items (has 101)",
        ),
        (
            {"steps": [step("a")], "executionPolicy": {"concurrencyPolicy": "Sometimes"}},
            'spec.executionPolicy.concurrencyPolicy: must be one of "Allow", "Forbid" or '
            '"Replace" (got "Sometimes")',
        ),
    ],
)
def test_each_problem_is_said_in_the_products_words(spec: Any, expected: str) -> None:
    found = messages(spec)
    assert any(message.startswith(expected) for message in found), found
    for message in found:
        assert not any(word in message for word in JARGON), message


def test_invalid_json_is_said_plainly() -> None:
    with pytest.raises(InvalidSpecError) as raised:
        parse_spec(b'{"steps": [')
    [problem] = raised.value.problems
    assert str(problem).startswith("spec: is not valid JSON: ")
