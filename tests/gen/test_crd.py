"""The JobFlow CRD: generated from the models, structural, faithful to them, and its rules hold."""

from __future__ import annotations

import types
from enum import Enum
from pathlib import Path
from typing import Annotated, Any, Literal, Union, get_args, get_origin

import annotated_types
import celpy
import pytest
import yaml
from pydantic import BaseModel
from pydantic.fields import FieldInfo
from pydantic_core import PydanticUndefined

from zen_flow.api.spec import JobFlowSpec
from zen_flow.api.status import JobFlowStatus
from zen_flow.gen import crd

ROOT = Path(__file__).resolve().parents[2]
CRD_FILE = ROOT / "crds" / "workflow.zen.io_jobflows.yaml"

Schema = dict[str, Any]
PRESERVE = "x-kubernetes-preserve-unknown-fields"


@pytest.fixture(scope="module")
def committed() -> Schema:
    docs = [d for d in yaml.safe_load_all(CRD_FILE.read_text()) if d]
    assert len(docs) == 1
    return docs[0]


@pytest.fixture(scope="module")
def version(committed: Schema) -> Schema:
    (only,) = committed["spec"]["versions"]
    return only


@pytest.fixture(scope="module")
def root(version: Schema) -> Schema:
    return version["schema"]["openAPIV3Schema"]


@pytest.fixture(scope="module")
def spec(root: Schema) -> Schema:
    return root["properties"]["spec"]


@pytest.fixture(scope="module")
def status(root: Schema) -> Schema:
    return root["properties"]["status"]


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

FORBIDDEN_KEYWORDS = {"$ref", "$defs", "anyOf", "oneOf", "allOf", "not", "const", "title"}
ALLOWED_KEYWORDS = {
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
    "format",
    PRESERVE,
    "x-kubernetes-embedded-resource",
    "x-kubernetes-int-or-string",
    "x-kubernetes-list-type",
    "x-kubernetes-list-map-keys",
    "x-kubernetes-validations",
}
PYTHON_TYPES = {"string": str, "integer": int, "number": (int, float), "boolean": bool}


def structural_problems(node: Schema, path: str = "") -> list[str]:
    """What makes ``node`` not a structural schema (or not one this project accepts)."""
    problems = [f"{path}: keyword {k}" for k in node if k in FORBIDDEN_KEYWORDS]
    problems += [f"{path}: unknown keyword {k}" for k in node if k not in ALLOWED_KEYWORDS]
    kind = node.get("type")
    if kind is None and not (node.get(PRESERVE) or node.get("x-kubernetes-int-or-string")):
        problems.append(f"{path}: no type")
    # The root's metadata is ObjectMeta, implied by the API server: `type: object` is its schema.
    if kind == "object" and path != ".metadata":
        if not ("properties" in node or "additionalProperties" in node or node.get(PRESERVE)):
            problems.append(f"{path}: bare object")
        if "properties" in node and "additionalProperties" in node:
            problems.append(f"{path}: properties and additionalProperties together")
        for name in node.get("required", []):
            if name not in node.get("properties", {}):
                problems.append(f"{path}: required {name} is not a property")
    if kind == "array" and "items" not in node:
        problems.append(f"{path}: array without items")
    for bound in ("exclusiveMinimum", "exclusiveMaximum"):
        if bound in node and not isinstance(node[bound], bool):
            problems.append(f"{path}: {bound} must be OpenAPI v3.0's boolean")
    expected = PYTHON_TYPES.get(kind or "")
    if expected is not None:
        for value in node.get("enum", []):
            if not isinstance(value, expected) or isinstance(value, bool) != (kind == "boolean"):
                problems.append(f"{path}: enum value {value!r} is not a {kind}")
        if "default" in node and not isinstance(node["default"], expected):
            problems.append(f"{path}: default {node['default']!r} is not a {kind}")
    if "enum" in node and "default" in node and node["default"] not in node["enum"]:
        problems.append(f"{path}: default {node['default']!r} not in enum")
    for key in node.get("x-kubernetes-list-map-keys", []):
        item = node["items"]
        if key not in item.get("required", []) and "default" not in item["properties"][key]:
            problems.append(f"{path}: list-map key {key} is neither required nor defaulted")
    for name, prop in node.get("properties", {}).items():
        if not prop.get("description") and not (path == "" and name == "metadata"):
            problems.append(f"{path}.{name}: no description")
        problems += structural_problems(prop, f"{path}.{name}")
    for key in ("items", "additionalProperties"):
        if isinstance(node.get(key), dict):
            problems += structural_problems(node[key], f"{path}[{key}]")
    return problems


def test_schema_is_structural(root: Schema) -> None:
    assert structural_problems(root) == []


def test_structural_checker_catches_what_kubernetes_rejects() -> None:
    assert structural_problems({"type": "object"}) == [": bare object"]
    assert structural_problems({"description": "x"}) == [": no type"]
    mixed = {"anyOf": [{"type": "string"}, {"type": "integer"}], "type": "string"}
    assert structural_problems(mixed) == [": keyword anyOf", ": unknown keyword anyOf"]
    undocumented = {"type": "object", "properties": {"a": {"type": "string"}}}
    assert structural_problems(undocumented) == [".a: no description"]
    assert structural_problems({"type": "integer", "exclusiveMinimum": 0}) != []
    assert structural_problems({"type": "string", "enum": [True]}) != []


def all_nodes(node: Schema) -> list[Schema]:
    found = [node]
    for prop in node.get("properties", {}).values():
        found += all_nodes(prop)
    for key in ("items", "additionalProperties"):
        if isinstance(node.get(key), dict):
            found += all_nodes(node[key])
    return found


def test_status_carries_no_defaults(status: Schema) -> None:
    # The hooks write status whole and leave empty fields out; a server default would differ.
    assert [n for n in all_nodes(status) if "default" in n] == []


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
            key = "maxItems" if node["type"] == "array" else "maxLength"
            assert node[key] == meta.max_length, where
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
    elif origin is list:
        assert node["type"] == "array", where
        check_type(get_args(annotation)[0], node["items"], f"{where}[]", spec=spec)
    elif origin is dict:
        key, value = get_args(annotation)
        assert key is str, where
        assert node["type"] == "object", where
        if value is Any:
            assert node == {**node, PRESERVE: True}, where
            assert "properties" not in node, where
        else:
            check_type(value, node["additionalProperties"], f"{where}{{}}", spec=spec)
    else:
        expected = {str: "string", int: "integer", float: "number", bool: "boolean"}[annotation]
        assert node["type"] == expected, where


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
    # Every rule in the schema reads only bounded lists and strings.
    for node in all_nodes(spec):
        if "x-kubernetes-validations" in node:
            assert node is step


def list_type_violations(node: Schema, value: Any, path: str = "") -> list[str]:
    """Duplicates the API server rejects for ``x-kubernetes-list-type`` set and map."""
    found: list[str] = []
    if isinstance(value, list):
        seen: set[Any] = set()
        for index, item in enumerate(value):
            if node.get("x-kubernetes-list-type") == "set":
                key: Any = item
            elif node.get("x-kubernetes-list-type") == "map":
                key = tuple(item.get(k) for k in node["x-kubernetes-list-map-keys"])
            else:
                key = object()
            if key in seen:
                found.append(f"{path}[{index}]: Duplicate value: {key!r}")
            seen.add(key)
            found += list_type_violations(node.get("items", {}), item, f"{path}[{index}]")
    elif isinstance(value, dict):
        for name, item in value.items():
            prop = node.get("properties", {}).get(name)
            if prop is not None:
                found += list_type_violations(prop, item, f"{path}.{name}")
    return found


def cel_violations(node: Schema, value: Any, path: str = "") -> list[str]:
    """Evaluate every ``x-kubernetes-validations`` rule with cel-python, as the API server does."""
    found: list[str] = []
    env = celpy.Environment()
    for rule in node.get("x-kubernetes-validations", []):
        activation = {"self": celpy.json_to_cel(value)}
        verdict = env.program(env.compile(rule["rule"])).evaluate(activation)
        if not verdict:
            message = env.program(env.compile(rule["messageExpression"])).evaluate(activation)
            found.append(f"{path}{rule.get('fieldPath', '')}: {message}")
    if isinstance(value, list):
        for index, item in enumerate(value):
            found += cel_violations(node.get("items", {}), item, f"{path}[{index}]")
    elif isinstance(value, dict):
        for name, item in value.items():
            prop = node.get("properties", {}).get(name)
            if prop is not None:
                found += cel_violations(prop, item, f"{path}.{name}")
    return found


def step(name: str, *dependencies: str) -> Schema:
    job = {"spec": {"template": {"spec": {"containers": [{"name": "main", "image": "busybox"}]}}}}
    out: Schema = {"name": name, "template": job}
    if dependencies:
        out["dependencies"] = list(dependencies)
    return out


def rejected(spec: Schema, steps: list[Schema]) -> list[str]:
    value = {"steps": steps}
    return list_type_violations(spec, value, "spec") + cel_violations(spec, value, "spec")


def test_a_valid_dag_is_accepted(spec: Schema) -> None:
    steps = [step("extract"), step("left", "extract"), step("right", "extract")]
    steps.append(step("merge", "left", "right"))
    assert rejected(spec, steps) == []


def test_duplicate_step_names_are_rejected(spec: Schema) -> None:
    assert rejected(spec, [step("a"), step("b"), step("a")]) == [
        "spec.steps[2]: Duplicate value: ('a',)"
    ]


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
