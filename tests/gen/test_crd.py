"""The JobFlow CRD: generated from the models, structural, faithful to them, and its rules hold."""

from __future__ import annotations

import types
from enum import Enum
from pathlib import Path
from typing import Annotated, Any, Literal, Union, get_args, get_origin

import annotated_types
import pytest
import yaml
from pydantic import BaseModel
from pydantic.fields import FieldInfo
from pydantic_core import PydanticUndefined

from zen_flow.api.spec import JobFlowSpec
from zen_flow.api.status import JobFlowStatus
from zen_flow.gen import crd
from zen_flow.tools.crdschema import PRESERVE, schema_nodes, structural_problems, value_errors

ROOT = Path(__file__).resolve().parents[2]
CRD_FILE = ROOT / "crds" / "workflow.zen.io_jobflows.yaml"

Schema = dict[str, Any]


@pytest.fixture(scope="module")
def committed() -> Schema:
    docs = [d for d in yaml.safe_load_all(CRD_FILE.read_text()) if d]
    assert len(docs) == 1
    document: Schema = docs[0]
    return document


@pytest.fixture(scope="module")
def version(committed: Schema) -> Schema:
    (only,) = committed["spec"]["versions"]
    found: Schema = only
    return found


@pytest.fixture(scope="module")
def root(version: Schema) -> Schema:
    found: Schema = version["schema"]["openAPIV3Schema"]
    return found


@pytest.fixture(scope="module")
def spec(root: Schema) -> Schema:
    found: Schema = root["properties"]["spec"]
    return found


@pytest.fixture(scope="module")
def status(root: Schema) -> Schema:
    found: Schema = root["properties"]["status"]
    return found


# --- the committed file is the generator's output ------------------------------------------------


def test_committed_crd_equals_generator_output() -> None:
    assert CRD_FILE.read_text() == crd.render(), "run `make crd` and commit the result"


def test_generator_output_is_deterministic() -> None:
    assert crd.render() == crd.render()


# --- names, scope, subresources, printer columns ----------------------------------------------


def test_names_and_scope(committed: Schema, version: Schema) -> None:
    assert committed["apiVersion"] == "apiextensions.k8s.io/v1"
    assert committed["kind"] == "CustomResourceDefinition"
    assert committed["metadata"]["name"] == "jobflows.workflow.zen.io"
    spec = committed["spec"]
    assert spec["group"] == "workflow.zen.io"
    assert spec["scope"] == "Namespaced"
    assert spec["names"] == {
        "kind": "JobFlow",
        "listKind": "JobFlowList",
        "plural": "jobflows",
        "singular": "jobflow",
        "shortNames": ["jf", "flow"],
    }
    assert version["name"] == "v1alpha1"
    assert version["served"] is True
    assert version["storage"] is True
    assert version["subresources"] == {"status": {}}


def test_printer_columns(version: Schema) -> None:
    columns = {c["name"]: c for c in version["additionalPrinterColumns"]}
    assert list(columns) == ["Phase", "Progress", "Reason", "Age"]
    assert columns["Phase"]["jsonPath"] == ".status.phase"
    assert columns["Progress"]["jsonPath"] == ".status.progress.summary"
    assert columns["Reason"]["jsonPath"] == ".status.reason"
    assert columns["Reason"].get("priority") == 1
    assert columns["Age"] == {
        "name": "Age",
        "type": "date",
        "jsonPath": ".metadata.creationTimestamp",
    }


def test_printer_columns_point_at_schema_fields(root: Schema, version: Schema) -> None:
    for column in version["additionalPrinterColumns"]:
        path = column["jsonPath"].lstrip(".").split(".")
        if path[0] == "metadata":
            continue
        node = root
        for part in path:
            node = node["properties"][part]
        assert node["type"] == column["type"], column


# --- structural schema ---------------------------------------------------------------------------


def test_schema_is_structural(root: Schema) -> None:
    assert structural_problems(root) == []


def test_status_carries_no_defaults(status: Schema) -> None:
    # The hooks write status whole and leave empty fields out; a server default would differ.
    assert [n for n in schema_nodes(status) if "default" in n] == []


def test_spec_defaults_fill_in_nested_models(spec: Schema) -> None:
    execution = spec["properties"]["executionPolicy"]
    assert execution["default"] == {}
    assert execution["properties"]["ttlSecondsAfterFinished"]["default"] == 86400
    backoff = spec["properties"]["steps"]["items"]["properties"]["retryPolicy"]
    assert "default" not in backoff, "an absent retryPolicy means no retries"
    assert backoff["properties"]["backoff"]["default"] == {}


def test_condition_status_enum_values_are_strings(status: Schema) -> None:
    condition = status["properties"]["conditions"]["items"]
    assert condition["properties"]["status"]["enum"] == ["True", "False", "Unknown"]
    assert "- 'True'" in CRD_FILE.read_text(), "YAML must quote True, or it reads as a boolean"


def test_user_job_templates_are_never_pruned(spec: Schema) -> None:
    template = spec["properties"]["steps"]["items"]["properties"]["template"]
    assert template["x-kubernetes-embedded-resource"] is True
    assert template[PRESERVE] is True
    job_spec = template["properties"]["spec"]
    pod_template = job_spec["properties"]["template"]
    pod_spec = pod_template["properties"]["spec"]
    container = pod_spec["properties"]["containers"]["items"]
    for node in (job_spec, pod_template, pod_spec, container):
        assert node[PRESERVE] is True


# --- field-by-field correspondence with the models -----------------------------------------------


def _unwrap_optional(annotation: Any) -> Any:
    if get_origin(annotation) in (Union, types.UnionType):
        args = [a for a in get_args(annotation) if a is not type(None)]
        assert len(args) == 1, annotation
        return args[0]
    return annotation


def _expected_default(field: FieldInfo) -> Any:
    default = field.default
    if default is PydanticUndefined or default is None or isinstance(default, BaseModel):
        return PydanticUndefined  # a nested model's default instance is {} in the CRD
    return default.value if isinstance(default, Enum) else default


def _check_constraints(field: FieldInfo, node: Schema, where: str) -> None:
    for meta in field.metadata:
        if isinstance(meta, annotated_types.Ge):
            assert node["minimum"] == meta.ge, where
            assert "exclusiveMinimum" not in node, where
        elif isinstance(meta, annotated_types.Gt):
            assert node["minimum"] == meta.gt, where
            assert node["exclusiveMinimum"] is True, where
        elif isinstance(meta, annotated_types.MinLen):
            key = "minItems" if node["type"] == "array" else "minLength"
            assert node[key] == meta.min_length, where
        elif isinstance(meta, annotated_types.MaxLen):
            keys = {"array": "maxItems", "object": "maxProperties"}
            assert node[keys.get(node["type"], "maxLength")] == meta.max_length, where
        elif getattr(meta, "pattern", None) is not None:
            assert node["pattern"] == meta.pattern, where


def check_type(annotation: Any, node: Schema, where: str, *, spec: bool) -> None:
    annotation = _unwrap_optional(annotation)
    origin = get_origin(annotation)
    if origin is Annotated:
        base, *constraints = get_args(annotation)
        for constraint in constraints:
            if getattr(constraint, "pattern", None) is not None:
                assert node["pattern"] == constraint.pattern, where
            if getattr(constraint, "max_length", None) is not None:
                assert node["maxLength"] == constraint.max_length, where
        check_type(base, node, where, spec=spec)
    elif isinstance(annotation, type) and issubclass(annotation, BaseModel):
        check_model(annotation, node, where, spec=spec)
    elif isinstance(annotation, type) and issubclass(annotation, Enum):
        assert node["type"] == "string", where
        assert node["enum"] == [member.value for member in annotation], where
    elif origin is Literal:
        assert node["type"] == "string", where
        assert node["enum"] == list(get_args(annotation)), where
    elif origin in (list, dict) or annotation is Any:
        check_container(annotation, node, where, spec=spec)
    else:
        expected = {str: "string", int: "integer", float: "number", bool: "boolean"}[annotation]
        assert node["type"] == expected, where


def check_container(annotation: Any, node: Schema, where: str, *, spec: bool) -> None:
    """A list, a map, or any JSON value."""
    if annotation is Any:
        assert node == {PRESERVE: True}, where
    elif get_origin(annotation) is list:
        assert node["type"] == "array", where
        check_type(get_args(annotation)[0], node["items"], f"{where}[]", spec=spec)
    else:
        check_map(annotation, node, where, spec=spec)


def check_map(annotation: Any, node: Schema, where: str, *, spec: bool) -> None:
    key, value = get_args(annotation)
    assert key is str, where
    assert node["type"] == "object", where
    if value is Any:
        assert node == {**node, PRESERVE: True}, where
        assert "properties" not in node, where
    else:
        check_type(value, node["additionalProperties"], f"{where}{{}}", spec=spec)


def check_model(model: type[BaseModel], node: Schema, where: str, *, spec: bool) -> None:
    assert node["type"] == "object", where
    properties = node["properties"]
    aliases = {field.alias or name: field for name, field in model.model_fields.items()}
    assert set(properties) == set(aliases), where
    assert set(node.get("required", [])) == {a for a, f in aliases.items() if f.is_required()}
    if model.model_config.get("extra") == "allow":
        assert node[PRESERVE] is True, f"{where} keeps the user's unknown fields"
    else:
        assert PRESERVE not in node, where
    for alias, field in aliases.items():
        prop = properties[alias]
        at = f"{where}.{alias}"
        assert prop["description"] == field.description, at
        expected_default = _expected_default(field) if spec else PydanticUndefined
        if expected_default is PydanticUndefined:
            assert prop.get("default", {}) == {}, at  # only the {} of a nested default_factory
        else:
            assert prop["default"] == expected_default, at
        _check_constraints(field, prop, at)
        check_type(field.annotation, prop, at, spec=spec)


def test_spec_schema_matches_the_model_field_by_field(spec: Schema) -> None:
    check_model(JobFlowSpec, spec, "spec", spec=True)


def test_status_schema_matches_the_model_field_by_field(status: Schema) -> None:
    check_model(JobFlowStatus, status, "status", spec=False)


def test_root_requires_spec(root: Schema) -> None:
    assert root["required"] == ["spec"]
    assert set(root["properties"]) == {"apiVersion", "kind", "metadata", "spec", "status"}


# --- limits and rules: what the API server checks at `kubectl apply` -----------------------------


def test_limits_keep_rules_within_the_cel_cost_budget(spec: Schema) -> None:
    steps = spec["properties"]["steps"]
    assert steps["maxItems"] == 5000
    step = steps["items"]
    assert step["properties"]["name"]["maxLength"] == 63
    dependencies = step["properties"]["dependencies"]
    assert dependencies["maxItems"] == 100
    assert dependencies["items"]["maxLength"] == 63
    final = spec["properties"]["finally"]
    assert final["maxItems"] == 100
    assert final["items"]["properties"]["dependencies"]["items"]["maxLength"] == 63
    # Every rule in the schema reads only bounded lists and strings.
    for node in schema_nodes(spec):
        if "x-kubernetes-validations" in node:
            assert node is step or node is final["items"]


def step(name: str, *dependencies: str) -> Schema:
    job = {"spec": {"template": {"spec": {"containers": [{"name": "main", "image": "busybox"}]}}}}
    out: Schema = {"name": name, "template": job}
    if dependencies:
        out["dependencies"] = list(dependencies)
    return out


def rejected(spec: Schema, steps: list[Schema]) -> list[str]:
    return value_errors({"steps": steps}, spec, "spec")


def test_a_valid_dag_is_accepted(spec: Schema) -> None:
    steps = [step("extract"), step("left", "extract"), step("right", "extract")]
    steps.append(step("merge", "left", "right"))
    assert rejected(spec, steps) == []


def test_duplicate_step_names_are_left_to_the_hook(spec: Schema) -> None:
    # An atomic list keeps metadata.managedFields small (see zen_flow.gen.crd); the hook
    # reports the duplicate as InvalidSpec.
    assert rejected(spec, [step("a"), step("b"), step("a")]) == []


def test_self_dependency_is_rejected_with_the_step_name(spec: Schema) -> None:
    assert rejected(spec, [step("a"), step("b", "a", "b")]) == [
        'spec.steps[1].dependencies: step "b" depends on itself'
    ]


def test_duplicate_dependencies_are_rejected(spec: Schema) -> None:
    assert rejected(spec, [step("a"), step("b", "a", "a")]) == [
        "spec.steps[1].dependencies[1]: Duplicate value: 'a'"
    ]


def test_unknown_dependency_is_left_to_the_hook(spec: Schema) -> None:
    # Checking it in CEL is quadratic in the number of steps and exceeds the API server's cost
    # budget at 5000 steps (see zen_flow.gen.crd); the hook reports it as InvalidSpec instead.
    assert rejected(spec, [step("a"), step("b", "lod")]) == []


def test_rule_has_a_static_message_too(spec: Schema) -> None:
    (rule,) = spec["properties"]["steps"]["items"]["x-kubernetes-validations"]
    assert rule["message"] == "a step cannot depend on itself"
    assert rule["fieldPath"] == ".dependencies"
