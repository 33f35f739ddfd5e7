"""Every example in examples/ is a JobFlow that the cluster and the hooks accept.

Each example must parse, validate against the pydantic models and the cross-field rules
(``zen_flow.spec.validation``), and validate against the CRD's openAPIV3Schema as the API server
would at ``kubectl apply`` (a small structural-schema validator below: types, required
fields, unknown fields, enums, ranges, patterns and the CEL rules of the CRD).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import celpy
import pytest
import yaml
from celpy import celtypes

from zen_flow.api.group import API_VERSION, KIND, VERSION
from zen_flow.api.labels import ANNOTATION_SUSPENDED
from zen_flow.api.spec import BackoffType, JobFlowSpec

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "examples"
CRD_FILE = ROOT / "crds" / "workflow.zen.io_jobflows.yaml"
EXPECTED = ["linear-flow", "dag-flow", "retry-flow", "when-flow", "suspend-flow"]
EXAMPLE_FILES = sorted(EXAMPLES.glob("*.yaml"))


def load(path: Path) -> dict[str, Any]:
    documents = list(yaml.safe_load_all(path.read_text()))
    assert len(documents) == 1, f"{path.name}: one JobFlow per file"
    document = documents[0]
    assert isinstance(document, dict), f"{path.name}: not a YAML mapping"
    return document


def spec_of(name: str) -> JobFlowSpec:
    return JobFlowSpec.model_validate(load(EXAMPLES / f"{name}.yaml")["spec"])


# --- a structural-schema validator -----------------------------------------------------------

_TYPES: dict[str, tuple[type, ...]] = {
    "object": (dict,),
    "array": (list,),
    "string": (str,),
    "boolean": (bool,),
    "integer": (int,),
    "number": (int, float),
}


OBJECT_META = {
    "name", "generateName", "namespace", "labels", "annotations", "finalizers",
    "ownerReferences", "uid", "resourceVersion", "generation", "creationTimestamp",
    "deletionTimestamp", "deletionGracePeriodSeconds", "managedFields",
}  # fmt: skip


def _type_ok(value: Any, kind: str) -> bool:
    if isinstance(value, bool) and kind in ("integer", "number"):
        return False
    return isinstance(value, _TYPES[kind])


def _cel_rule_errors(value: Any, schema: dict[str, Any], path: str) -> Iterator[str]:
    for rule in schema.get("x-kubernetes-validations", []):
        environment = celpy.Environment()
        try:
            program = environment.program(environment.compile(rule["rule"]))
            result = program.evaluate({"self": celpy.json_to_cel(value)})
        except Exception as error:  # a rule this validator cannot run is a test failure too
            yield f"{path}: CEL rule {rule['rule']!r} could not be evaluated: {error}"
            continue
        if isinstance(result, celtypes.BoolType) and bool(result):
            continue
        message = rule.get("message") or f"failed rule {rule['rule']!r}"
        yield f"{path}: {message}"


def _range_errors(value: Any, schema: dict[str, Any], path: str) -> Iterator[str]:
    if "enum" in schema and value not in schema["enum"]:
        yield f"{path}: {value!r} not one of {schema['enum']}"
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        low, high = schema.get("minimum"), schema.get("maximum")
        if low is not None and (value < low or (schema.get("exclusiveMinimum") and value == low)):
            yield f"{path}: {value} below minimum {low}"
        if high is not None and (
            value > high or (schema.get("exclusiveMaximum") and value == high)
        ):
            yield f"{path}: {value} above maximum {high}"
    if isinstance(value, str):
        if len(value) < schema.get("minLength", 0):
            yield f"{path}: shorter than {schema['minLength']}"
        if "maxLength" in schema and len(value) > schema["maxLength"]:
            yield f"{path}: longer than {schema['maxLength']}"
        if "pattern" in schema and not re.search(schema["pattern"], value):
            yield f"{path}: {value!r} does not match {schema['pattern']}"
    if isinstance(value, list):
        if len(value) < schema.get("minItems", 0):
            yield f"{path}: fewer than {schema['minItems']} items"
        if "maxItems" in schema and len(value) > schema["maxItems"]:
            yield f"{path}: more than {schema['maxItems']} items"


def _object_errors(value: dict[str, Any], schema: dict[str, Any], path: str) -> Iterator[str]:
    properties: dict[str, Any] = schema.get("properties", {})
    for name in schema.get("required", []):
        if name not in value:
            yield f"{path}.{name}: required field is missing"
    additional = schema.get("additionalProperties")
    resource = path == "" or schema.get("x-kubernetes-embedded-resource")
    for name, item in value.items():
        where = f"{path}.{name}"
        if name == "metadata" and resource:
            # The API server validates the ObjectMeta of a resource itself.
            meta_schema = {**properties.get(name, {}), "x-kubernetes-preserve-unknown-fields": True}
            yield from schema_errors(item, meta_schema, where)
            yield from (f"{where}.{key}: unknown field" for key in set(item) - OBJECT_META)
        elif name in properties:
            yield from schema_errors(item, properties[name], where)
        elif isinstance(additional, dict):
            yield from schema_errors(item, additional, where)
        elif not (schema.get("x-kubernetes-preserve-unknown-fields") or additional is True):
            yield f"{where}: unknown field"


def schema_errors(value: Any, schema: dict[str, Any], path: str = "") -> Iterator[str]:
    """Every way ``value`` breaks the structural OpenAPI v3 ``schema``; empty when valid."""
    if value is None:
        if not schema.get("nullable"):
            yield f"{path}: null is not allowed"
        return
    if schema.get("x-kubernetes-int-or-string"):
        if not (isinstance(value, (int, str)) and not isinstance(value, bool)):
            yield f"{path}: must be an integer or a string"
    elif "type" in schema and not _type_ok(value, schema["type"]):
        yield f"{path}: must be of type {schema['type']}, got {type(value).__name__}"
        return
    yield from _range_errors(value, schema, path)
    for part in schema.get("allOf", []):
        yield from schema_errors(value, part, path)
    for key, wanted in (("anyOf", range(1, 1 << 30)), ("oneOf", range(1, 2))):
        if key in schema:
            matches = sum(1 for part in schema[key] if not list(schema_errors(value, part, path)))
            if matches not in wanted:
                yield f"{path}: matches {matches} of the {key} alternatives"
    if "not" in schema and not list(schema_errors(value, schema["not"], path)):
        yield f"{path}: matches a forbidden schema"
    if isinstance(value, dict) and (schema.get("type") == "object" or "properties" in schema):
        yield from _object_errors(value, schema, path)
    if isinstance(value, list) and "items" in schema:
        for index, item in enumerate(value):
            yield from schema_errors(item, schema["items"], f"{path}[{index}]")
    yield from _cel_rule_errors(value, schema, path or "<root>")


def crd_schema() -> dict[str, Any]:
    if not CRD_FILE.exists():
        pytest.fail(f"{CRD_FILE.relative_to(ROOT)} is missing: run `make crd`")
    crd = yaml.safe_load(CRD_FILE.read_text())
    for version in crd["spec"]["versions"]:
        if version["name"] == VERSION:
            schema: dict[str, Any] = version["schema"]["openAPIV3Schema"]
            return schema
    pytest.fail(f"{CRD_FILE.name} has no version {VERSION}")


# --- the examples ----------------------------------------------------------------------------


def test_every_expected_example_exists() -> None:
    assert [p.stem for p in EXAMPLE_FILES if p.stem in EXPECTED] == sorted(EXPECTED)


@pytest.mark.parametrize("path", EXAMPLE_FILES, ids=lambda p: p.name)
def test_example_is_a_jobflow_named_after_its_file(path: Path) -> None:
    document = load(path)
    assert document["apiVersion"] == API_VERSION
    assert document["kind"] == KIND
    assert document["metadata"]["name"] == path.stem
    assert "namespace" not in document["metadata"], "examples go to the current namespace"
    assert set(document) == {"apiVersion", "kind", "metadata", "spec"}


@pytest.mark.parametrize("path", EXAMPLE_FILES, ids=lambda p: p.name)
def test_example_validates_against_the_models(path: Path) -> None:
    JobFlowSpec.model_validate(load(path)["spec"])


@pytest.mark.parametrize("path", EXAMPLE_FILES, ids=lambda p: p.name)
def test_example_passes_the_hooks_validation(path: Path) -> None:
    from zen_flow.spec.validation import validate_spec

    spec = JobFlowSpec.model_validate(load(path)["spec"])
    assert [str(problem) for problem in validate_spec(spec)] == []


@pytest.mark.parametrize("path", EXAMPLE_FILES, ids=lambda p: p.name)
def test_example_validates_against_the_crd_schema(path: Path) -> None:
    assert list(schema_errors(load(path), crd_schema())) == []


@pytest.mark.parametrize("path", EXAMPLE_FILES, ids=lambda p: p.name)
def test_example_images_are_pinned(path: Path) -> None:
    spec = JobFlowSpec.model_validate(load(path)["spec"])
    for step in spec.steps:
        for container in step.template.spec.template.spec.containers:
            name, _, tag = container.image.rpartition(":")
            assert name and tag and tag != "latest", f"{step.name}: pin {container.image}"


def test_dag_example_fans_out_and_in_and_uses_resources_by_short_name() -> None:
    spec = spec_of("dag-flow")
    assert spec.resource_templates is not None
    config_maps = {t.metadata.name for t in spec.resource_templates.config_map_templates}
    claims = {t.metadata.name for t in spec.resource_templates.volume_claim_templates}
    assert config_maps and claims
    dependents: dict[str, list[str]] = {}
    for step in spec.steps:
        for dependency in step.dependencies:
            dependents.setdefault(dependency, []).append(step.name)
    assert any(len(children) > 1 for children in dependents.values()), "no fan-out"
    assert any(len(step.dependencies) > 1 for step in spec.steps), "no fan-in"
    pods = str([s.template.spec.template.model_dump(by_alias=True) for s in spec.steps])
    for name in config_maps:
        assert f"'name': '{name}'" in pods, f"ConfigMap {name} is not used by short name"
    for name in claims:
        assert f"'claimName': '{name}'" in pods, f"PVC {name} is not used by short name"


def test_retry_example_shows_every_backoff_type_timeouts_and_flow_limits() -> None:
    spec = spec_of("retry-flow")
    types = {s.retry_policy.backoff.type for s in spec.steps if s.retry_policy is not None}
    assert types == set(BackoffType)
    assert all(step.timeout_seconds for step in spec.steps)
    assert "backoff_limit" in spec.execution_policy.model_fields_set
    assert spec.execution_policy.active_deadline_seconds is not None


def test_when_example_shows_operators_bracket_form_keywords_and_continue_on_failure() -> None:
    spec = spec_of("when-flow")
    conditions = " ".join(step.when or "" for step in spec.steps)
    for needed in ("steps.extract.phase == 'Succeeded'", "!", "&&", "||", "steps['load-db']"):
        assert needed in conditions, f"no {needed!r} in the when example"
    assert any(step.when in ("never", "false", "always", "true") for step in spec.steps)
    assert any(step.continue_on_failure for step in spec.steps)


def test_suspend_example_shows_the_annotation() -> None:
    text = (EXAMPLES / "suspend-flow.yaml").read_text()
    assert f"{ANNOTATION_SUSPENDED}=true" in text
    assert f"{ANNOTATION_SUSPENDED}-" in text


# --- the validator itself --------------------------------------------------------------------

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
    assert error in list(schema_errors(value, TOY_SCHEMA))


def test_schema_validator_accepts_preserved_unknown_fields() -> None:
    value = {"steps": [{"name": "ok", "free": {"anything": [1, {"x": None}]}}]}
    assert list(schema_errors(value, TOY_SCHEMA)) == []


def _broken(change: str) -> dict[str, Any]:
    document = load(EXAMPLES / "linear-flow.yaml")
    step = document["spec"]["steps"][1]
    if change == "no steps":
        document["spec"]["steps"] = []
    elif change == "unknown field":
        step["retries"] = 3
    elif change == "self dependency":
        step["dependencies"] = [step["name"]]
    elif change == "bad name":
        step["name"] = "Transform"
    return document


@pytest.mark.parametrize("change", ["no steps", "unknown field", "self dependency", "bad name"])
def test_crd_schema_rejects_a_broken_flow(change: str) -> None:
    """The validator really applies the CRD: what kubectl apply refuses, it refuses too."""
    assert list(schema_errors(_broken(change), crd_schema())) != []
