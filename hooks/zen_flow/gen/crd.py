"""The JobFlow CustomResourceDefinition, generated from the API models in ``zen_flow.api``.

``python -m zen_flow.gen.crd`` prints it; ``make crd`` writes ``crds/workflow.zen.io_jobflows.yaml``
and a test keeps the committed file equal to this output.

Pydantic's JSON Schema is turned into a Kubernetes *structural* schema: references are inlined,
``Optional[X]`` becomes plain ``X`` (absent means unset), ``const`` becomes a one-value enum,
``exclusiveMinimum`` becomes OpenAPI v3.0's boolean form, ``dict[str, str]`` becomes a string
map, and ``dict[str, Any]`` and the models that embed parts of Kubernetes types (``OpenModel``)
keep unknown fields, so nothing of a user's Job template is pruned.

Defaults are written into the spec schema only: the hooks own ``.status`` and write it whole,
leaving empty fields out, so a server-side default there would make the stored status differ
from every answer and cost a status write per sync.

On top of what the models say, the schema carries the limits and rules only the API server
needs (``_spec_rules``); the reasoning about their cost is next to the limits.
"""

from __future__ import annotations

import sys
from typing import Any, Final

import yaml
from pydantic import BaseModel

from zen_flow.api.group import API_VERSION, GROUP, KIND, VERSION
from zen_flow.api.spec import (
    DNS1123_LABEL,
    MAX_DEPENDENCIES,
    MAX_NAME_LENGTH,
    JobFlowSpec,
)
from zen_flow.api.status import JobFlowStatus

Schema = dict[str, Any]

PLURAL: Final = "jobflows"
SINGULAR: Final = "jobflow"
SHORT_NAMES: Final = ("jf", "flow")
CRD_NAME: Final = f"{PLURAL}.{GROUP}"

PRESERVE: Final = "x-kubernetes-preserve-unknown-fields"
EMBEDDED: Final = "x-kubernetes-embedded-resource"

# --- limits for the API server's CEL cost estimator ---------------------------------------------
#
# The API server rejects a CRD whose rules' *estimated* worst-case cost exceeds 10^7 per rule
# (rule cost x the most times it can run: the product of the maxItems above it) or 10^8 for the
# whole schema, and at run time stops a rule after 10^6 cost units (10^7 per object). Unbounded
# lists and strings are estimated from the 3 MiB request limit, so every list and string a rule
# reads needs a bound.
#
# zen-flow supports flows of 5000 steps. Rules comparing every step with every other step are
# quadratic and do not fit: with steps capped at 5000, k8s.io/apiextensions-apiserver's own CRD
# validation (v0.37) rejects "unique names" (``self.all(s, self.exists_one(t, t.name ==
# s.name))``) as 80x over budget and "every dependency names a step" as over 100x (still 82x at
# 500 steps). So:
#   * unique step names: the hook reports a duplicate as ``InvalidSpec`` (``spec.steps[2].name:
#     duplicate step name "a" (also spec.steps[0])``). ``x-kubernetes-list-type: map`` keyed by
#     ``name`` would have the API server reject it, but makes every step a field of its own in
#     ``metadata.managedFields`` (some 110 bytes a step for every manager that writes the spec):
#     550 KB of a 5000-step flow's 1.5 MiB. ``steps``, ``finally`` and ``templates`` are
#     atomic lists, one field each, whoever applies them;
#   * duplicate dependencies: ``x-kubernetes-list-type: set`` does the same;
#   * unknown dependencies and cycles: the hook reports an ``InvalidSpec`` flow naming the step
#     and the dependency (``spec.steps[2].dependencies[0]: unknown step "lod"``);
#   * no self-dependency: a CEL rule per step, linear: one name against at most
#     MAX_DEPENDENCIES names of at most 63 characters. A 5000-step flow with 100 dependencies
#     per step spends about 5 * 10^5 of the 10^7 run-time budget.

SELF_DEPENDENCY_RULE: Final = "!has(self.dependencies) || !(self.name in self.dependencies)"
SELF_DEPENDENCY_MESSAGE: Final = "a step cannot depend on itself"
SELF_DEPENDENCY_MESSAGE_EXPRESSION: Final = "'step \"' + self.name + '\" depends on itself'"


class CrdError(ValueError):
    """A model uses a construct that a structural schema cannot express."""


# --- JSON Schema -> structural schema ------------------------------------------------------------


def _flatten(node: Schema, defs: Schema) -> Schema:
    """Inline ``$ref`` and drop the null branch of ``Optional``; the field's own keys win."""
    node = dict(node)
    if "$ref" in node:
        target = defs[node.pop("$ref").rsplit("/", 1)[-1]]
        node = {**_flatten(target, defs), **node}
    if "anyOf" in node:
        branches = [b for b in node.pop("anyOf") if b.get("type") != "null"]
        if len(branches) != 1:
            raise CrdError(f"a structural schema cannot express the union {branches!r}")
        node = {**_flatten(branches[0], defs), **node}
    if "oneOf" in node or "allOf" in node:
        raise CrdError(f"a structural schema cannot express {node!r}")
    return node


_COPIED: Final = (
    "minimum",
    "maximum",
    "minLength",
    "maxLength",
    "pattern",
    "minItems",
    "maxItems",
    "minProperties",
    "maxProperties",
    "format",
)
_UNDERSTOOD: Final = frozenset(
    {
        *_COPIED,
        "$defs",
        "type",
        "title",
        "description",
        "default",
        "enum",
        "const",
        "exclusiveMinimum",
        "exclusiveMaximum",
        "properties",
        "required",
        "additionalProperties",
        "items",
        PRESERVE,
        EMBEDDED,
    }
)


def _convert(node: Schema, defs: Schema) -> Schema:
    node = _flatten(node, defs)
    unknown = set(node) - _UNDERSTOOD
    if unknown:  # a constraint we would silently drop
        raise CrdError(f"no structural equivalent for {sorted(unknown)} in {node!r}")
    out: Schema = {}
    if "description" in node:
        out["description"] = node["description"]
    out.update(_constraints(node))
    out.update(_default(node))
    kind = node.get("type")
    if kind is None and not set(node) - {"description", "title", "default"}:
        out[PRESERVE] = True  # any JSON value (an item of withItems)
        return out
    if kind == "object":
        out.update(_convert_object(node, defs))
    elif kind == "array":
        out["type"] = "array"
        out["items"] = _convert(node["items"], defs)
    elif kind in ("string", "integer", "number", "boolean"):
        out["type"] = kind
    else:
        raise CrdError(f"no structural type for {node!r}")
    return out


def _constraints(node: Schema) -> Schema:
    out: Schema = {}
    if "const" in node:
        out["enum"] = [node["const"]]
    elif "enum" in node:
        out["enum"] = list(node["enum"])
    out.update({key: node[key] for key in _COPIED if key in node})
    # JSON Schema's numeric exclusive bounds are OpenAPI v3.0's booleans next to the bound.
    if "exclusiveMinimum" in node:
        out.update(minimum=node["exclusiveMinimum"], exclusiveMinimum=True)
    if "exclusiveMaximum" in node:
        out.update(maximum=node["exclusiveMaximum"], exclusiveMaximum=True)
    return out


def _default(node: Schema) -> Schema:
    if isinstance(node.get("default"), dict):
        # A nested model's default instance: {} lets the API server fill in the defaults
        # inside it, field by field, instead of repeating them (with nulls) here.
        return {"default": {}}
    if node.get("default") is not None:
        return {"default": node["default"]}
    return {}


def _convert_object(node: Schema, defs: Schema) -> Schema:
    out: Schema = {"type": "object"}
    properties = node.get("properties") or {}
    extra = node.get("additionalProperties")
    if properties:
        required = list(node.get("required", []))
        out["properties"] = {
            name: _convert_property(prop, defs, required=name in required)
            for name, prop in properties.items()
        }
        if required:
            out["required"] = required
        if extra is True:  # an OpenModel: the fields we do not model are the user's
            out[PRESERVE] = True
    elif isinstance(extra, dict):
        out["additionalProperties"] = _convert(extra, defs)
    elif extra is True:
        out[PRESERVE] = True
    else:
        raise CrdError(f"an object without properties or additionalProperties: {node!r}")
    for marker in (EMBEDDED, PRESERVE):
        if node.get(marker):
            out[marker] = True
    return out


def _convert_property(prop: Schema, defs: Schema, *, required: bool) -> Schema:
    out = _convert(prop, defs)
    if required or "default" in _flatten(prop, defs):  # default None: absent means unset
        return out
    if out.get("type") == "object" and _has_nested_defaults(out):
        # A nested model built by ``default_factory`` (pydantic leaves such defaults out of the
        # JSON Schema): default it to {} so the API server fills in the defaults inside it too,
        # and ``kubectl get -o yaml`` shows, say, the whole executionPolicy.
        out["default"] = {}
    return out


def _has_nested_defaults(schema: Schema) -> bool:
    return any("default" in prop for prop in schema.get("properties", {}).values())


def _strip_defaults(schema: Schema) -> Schema:
    """The schema without any ``default`` (for status, which the hooks write whole)."""
    out: Schema = {}
    for key, value in schema.items():
        if key == "default":
            continue
        if key == "properties":
            out[key] = {name: _strip_defaults(prop) for name, prop in value.items()}
        elif key in ("items", "additionalProperties") and isinstance(value, dict):
            out[key] = _strip_defaults(value)
        else:
            out[key] = value
    return out


def model_schema(model: type[BaseModel], *, defaults: bool) -> Schema:
    """The structural schema of a pydantic model, with or without the models' defaults."""
    raw = model.model_json_schema(by_alias=True)
    schema = _convert(raw, raw.get("$defs", {}))
    return schema if defaults else _strip_defaults(schema)


# --- rules only the API server needs -------------------------------------------------------------


def _spec_rules(spec: Schema) -> Schema:
    properties = spec["properties"]
    for field in ("steps", "finally", "templates"):
        properties[field]["x-kubernetes-list-type"] = "atomic"
    for field in ("steps", "finally"):
        step = properties[field]["items"]
        step["properties"]["name"]["maxLength"] = MAX_NAME_LENGTH
        dependencies = step["properties"]["dependencies"]
        dependencies["maxItems"] = MAX_DEPENDENCIES
        dependencies["x-kubernetes-list-type"] = "set"
        dependencies["items"].update(maxLength=MAX_NAME_LENGTH, pattern=DNS1123_LABEL)
        step["x-kubernetes-validations"] = [
            {
                "rule": SELF_DEPENDENCY_RULE,
                "message": SELF_DEPENDENCY_MESSAGE,
                "messageExpression": SELF_DEPENDENCY_MESSAGE_EXPRESSION,
                "fieldPath": ".dependencies",
                "reason": "FieldValueInvalid",
            }
        ]
    return spec


def _status_rules(status: Schema) -> Schema:
    # metav1.Condition convention: one condition per type.
    conditions = status["properties"]["conditions"]
    conditions["x-kubernetes-list-type"] = "map"
    conditions["x-kubernetes-list-map-keys"] = ["type"]
    return status


def spec_schema() -> Schema:
    """The schema of ``.spec``."""
    return _spec_rules(model_schema(JobFlowSpec, defaults=True))


def status_schema() -> Schema:
    """The schema of ``.status``."""
    return _status_rules(model_schema(JobFlowStatus, defaults=False))


# --- the CRD -------------------------------------------------------------------------------------

PRINTER_COLUMNS: Final = (
    {"name": "Phase", "type": "string", "jsonPath": ".status.phase", "description": "Flow phase."},
    {
        "name": "Progress",
        "type": "string",
        "jsonPath": ".status.progress.summary",
        "description": "Steps finished / steps in the flow.",
    },
    {
        "name": "Reason",
        "type": "string",
        "jsonPath": ".status.reason",
        "description": "Why the flow is in this phase.",
        "priority": 1,
    },
    {"name": "Age", "type": "date", "jsonPath": ".metadata.creationTimestamp"},
)


def crd() -> Schema:
    """The CustomResourceDefinition as a dict."""
    root: Schema = {
        "description": (
            "A JobFlow runs a DAG of Kubernetes Jobs: each step is a batch/v1 Job that starts "
            "once the steps it depends on have finished."
        ),
        "type": "object",
        "properties": {
            "apiVersion": {
                "description": f"Always {API_VERSION}.",
                "type": "string",
            },
            "kind": {"description": f"Always {KIND}.", "type": "string"},
            "metadata": {"type": "object"},
            "spec": spec_schema(),
            "status": status_schema(),
        },
        "required": ["spec"],
    }
    return {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {
            "name": CRD_NAME,
            "labels": {"app.kubernetes.io/part-of": "zen-flow"},
        },
        "spec": {
            "group": GROUP,
            "names": {
                "kind": KIND,
                "listKind": f"{KIND}List",
                "plural": PLURAL,
                "singular": SINGULAR,
                "shortNames": list(SHORT_NAMES),
            },
            "scope": "Namespaced",
            "versions": [
                {
                    "name": VERSION,
                    "served": True,
                    "storage": True,
                    "subresources": {"status": {}},
                    "additionalPrinterColumns": [dict(c) for c in PRINTER_COLUMNS],
                    "schema": {"openAPIV3Schema": root},
                }
            ],
        },
    }


HEADER: Final = (
    "# Generated by `make crd` (python -m zen_flow.gen.crd) from hooks/zen_flow/api/.\n"
    "# Do not edit: change the models and regenerate.\n"
)


def render() -> str:
    """The CRD as YAML, byte-for-byte what ``crds/workflow.zen.io_jobflows.yaml`` holds."""
    body = yaml.safe_dump(crd(), sort_keys=True, width=100, allow_unicode=True)
    return HEADER + "---\n" + body


def main() -> None:
    sys.stdout.write(render())


if __name__ == "__main__":
    main()
