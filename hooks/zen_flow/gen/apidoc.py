"""The JobFlow API reference (``docs/API.md``), written from the models in ``zen_flow.api``.

``python -m zen_flow.gen.apidoc`` prints it. Every field's type, default, constraints and
description come from the pydantic models, and the labels, annotations, condition types and
reasons from ``zen_flow.api``, so the reference cannot drift from the code: a test
compares ``docs/API.md`` with this module's output.
"""

from __future__ import annotations

import sys
import types
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from enum import Enum
from typing import Annotated, Any, Literal, Union, get_args, get_origin

from annotated_types import Ge, Gt, Le, Lt
from pydantic import BaseModel
from pydantic.fields import FieldInfo
from pydantic_core import PydanticUndefined

from zen_flow.api.fields import field_name
from zen_flow.api.group import API_VERSION, KIND
from zen_flow.api.labels import (
    ANNOTATION_LAST_APPLIED,
    ANNOTATION_SUSPENDED,
    LABEL_ATTEMPT,
    LABEL_JOBFLOW,
    LABEL_JOBFLOW_SHORT,
    LABEL_RESOURCE,
    LABEL_STEP,
)
from zen_flow.api.reasons import ConditionType, FlowReason, StepReason
from zen_flow.api.spec import (
    ConfigMapTemplate,
    Container,
    JobFlowSpec,
    JobSpec,
    JobTemplate,
    JobTemplateMetadata,
    ObjectTemplateMetadata,
    PodSpec,
    PodTemplate,
    VolumeClaimTemplate,
)
from zen_flow.api.status import JobFlowStatus

REGENERATE = "python -m zen_flow.gen.apidoc > docs/API.md"

# Kubernetes types whose unmodelled fields the OpenModels keep, named for the reader.
EMBEDS: dict[type[BaseModel], str] = {
    VolumeClaimTemplate: "a core/v1 PersistentVolumeClaim",
    ConfigMapTemplate: "a core/v1 ConfigMap",
    ObjectTemplateMetadata: "an ObjectMeta (other than name, namespace and owners)",
    Container: "a core/v1 Container",
    PodSpec: "a core/v1 PodSpec",
    PodTemplate: "a core/v1 PodTemplateSpec",
    JobSpec: "a batch/v1 JobSpec",
    JobTemplateMetadata: "an ObjectMeta (labels and annotations only are used)",
    JobTemplate: "a batch/v1 Job",
}


@dataclass
class Row:
    """One field of a model as the reference shows it."""

    name: str
    type: str
    default: str
    constraints: str
    description: str


@dataclass
class Section:
    """One model: where it appears and its fields."""

    model: type[BaseModel]
    paths: list[str] = field(default_factory=list)


def _is_model(tp: Any) -> bool:
    return isinstance(tp, type) and issubclass(tp, BaseModel)


def _without_none(tp: Any) -> Any:
    """``X | None`` → ``X``; other types unchanged."""
    if get_origin(tp) in (Union, types.UnionType):
        args = [arg for arg in get_args(tp) if arg is not type(None)]
        if len(args) == 1:
            return args[0]
    return tp


def _base(tp: Any) -> Any:
    """``Annotated[X, ...]`` → ``X``; other types unchanged."""
    return get_args(tp)[0] if get_origin(tp) is Annotated else tp


def nested_models(tp: Any) -> Iterator[tuple[type[BaseModel], str]]:
    """Models inside a field type, each with the path suffix that reaches it."""
    tp = _base(_without_none(tp))
    if _is_model(tp):
        yield tp, ""
    elif get_origin(tp) is list:
        for model, suffix in nested_models(get_args(tp)[0]):
            yield model, "[]" + suffix
    elif get_origin(tp) is dict:
        for model, suffix in nested_models(get_args(tp)[1]):
            yield model, ".<key>" + suffix


def anchor(model: type[BaseModel]) -> str:
    return model.__name__.lower()


def type_name(tp: Any) -> str:
    """A short, readable name of a field type, linking to models."""
    tp = _without_none(tp)
    origin = get_origin(tp)
    if origin is Annotated:
        constraints = metadata_text(tp.__metadata__, is_list=False)
        base = type_name(get_args(tp)[0])
        return f"{base} ({constraints})" if constraints else base
    if _is_model(tp):
        return f"[{tp.__name__}](#{anchor(tp)})"
    if isinstance(tp, type) and issubclass(tp, Enum):
        return "string: " + ", ".join(f"`{member.value}`" for member in tp)
    if origin is Literal:
        return "string: " + ", ".join(f"`{value}`" for value in get_args(tp))
    if origin is list:
        return "list of " + type_name(get_args(tp)[0])
    if origin is dict:
        key, value = get_args(tp)
        if value is Any:
            return "object"
        return f"map of {type_name(key)} to {type_name(value)}"
    simple = {str: "string", int: "integer", float: "number", bool: "boolean", Any: "object"}
    return simple.get(tp, str(tp))


def _literal(value: Any) -> str:
    if isinstance(value, Enum):
        value = value.value
    if isinstance(value, bool):
        return "`true`" if value else "`false`"
    if isinstance(value, str):
        return f'`"{value}"`'
    return f"`{value}`"


def default_text(info: FieldInfo) -> str:
    """The default as the reader writes it, or "required"."""
    if info.is_required():
        return "required"
    if info.default_factory is not None:
        made = info.default_factory()  # type: ignore[call-arg]
        if isinstance(made, BaseModel):
            return "`{}` (all defaults)"
        return "`[]`" if isinstance(made, list) else "`{}`"
    if info.default is None or info.default is PydanticUndefined:
        return "none"
    if isinstance(info.default, BaseModel):
        return _model_default(info.default)
    return _literal(info.default)


def _model_default(value: BaseModel) -> str:
    """An object default as the reader would write it: ``{}`` when every field has its own
    default, else the fields that differ."""
    differing = {
        field_name(name, info): getattr(value, name)
        for name, info in type(value).model_fields.items()
        if getattr(value, name) != info.get_default(call_default_factory=True)
    }
    if not differing:
        return "`{}` (all defaults)"
    return ", ".join(f"{key}: {_literal(item)}" for key, item in differing.items())


def _count(number: int, items: bool) -> str:
    unit = "item" if items else "character"
    return f"{number} {unit}" if number == 1 else f"{number} {unit}s"


def constraints_text(info: FieldInfo) -> str:
    """Numeric ranges, lengths and patterns of a field."""
    return metadata_text(info.metadata, get_origin(_without_none(info.annotation)) is list)


def metadata_text(metadata: Sequence[Any], is_list: bool) -> str:
    """Constraints from pydantic/annotated-types metadata, e.g. "≥ 0; at most 63 characters"."""
    parts: list[str] = []
    for meta in metadata:
        bounds = ((Ge, "≥", "ge"), (Gt, ">", "gt"), (Le, "≤", "le"), (Lt, "<", "lt"))
        for kind, sign, attribute in bounds:
            if isinstance(meta, kind):
                parts.append(f"{sign} {getattr(meta, attribute)}")
        minimum = getattr(meta, "min_length", None)
        if isinstance(minimum, int):
            parts.append(f"at least {_count(minimum, is_list)}")
        maximum = getattr(meta, "max_length", None)
        if isinstance(maximum, int):
            parts.append(f"at most {_count(maximum, is_list)}")
        pattern = getattr(meta, "pattern", None)
        if isinstance(pattern, str):
            parts.append(f"matches `{pattern}`")
    return "; ".join(parts)


def rows(model: type[BaseModel]) -> list[Row]:
    return [
        Row(
            name=f"`{field_name(name, info)}`",
            type=type_name(info.annotation),
            default=default_text(info),
            constraints=constraints_text(info),
            description=info.description or "",
        )
        for name, info in model.model_fields.items()
    ]


def sections(roots: list[tuple[type[BaseModel], str]]) -> list[Section]:
    """Every model reachable from the roots, in reading order, with the paths to it."""
    found: dict[type[BaseModel], Section] = {}

    def visit(model: type[BaseModel], path: str) -> None:
        # Shared models (KeyRef, Parameters) list every path; the model graph has no cycles.
        found.setdefault(model, Section(model)).paths.append(path)
        for name, info in model.model_fields.items():
            for child, suffix in nested_models(info.annotation):
                visit(child, f"{path}.{field_name(name, info)}{suffix}")

    for model, path in roots:
        visit(model, path)
    return list(found.values())


def _escape_html(text: str) -> str:
    """``<flow>`` outside code spans would be read as an HTML tag."""
    parts = text.split("`")
    for index in range(0, len(parts), 2):
        parts[index] = parts[index].replace("<", "&lt;").replace(">", "&gt;")
    return "`".join(parts)


def _cell(text: str) -> str:
    return _escape_html(text.replace("|", "\\|").replace("\n", " "))


def table(model_rows: list[Row]) -> list[str]:
    lines = [
        "| Field | Type | Default | Constraints | Description |",
        "| --- | --- | --- | --- | --- |",
    ]
    for row in model_rows:
        cells = (row.name, row.type, row.default, row.constraints, row.description)
        lines.append("| " + " | ".join(_cell(cell) for cell in cells) + " |")
    return lines


def model_section(section: Section) -> list[str]:
    model = section.model
    lines = [f"### {model.__name__}", ""]
    if model.__doc__:
        lines += [" ".join(model.__doc__.split()).replace("``", "`"), ""]
    lines += ["Appears at: " + ", ".join(f"`{path}`" for path in section.paths) + ".", ""]
    if model in EMBEDS:
        lines += [
            f"This object is {EMBEDS[model]}: fields not listed here are accepted and "
            "passed to Kubernetes unchanged.",
            "",
        ]
    return [*lines, *table(rows(model)), ""]


def constants_section() -> list[str]:
    annotations = [
        (ANNOTATION_SUSPENDED, 'JobFlow, set by you: `"true"` suspends the flow.'),
        (ANNOTATION_LAST_APPLIED, "Every child, set by Metacontroller."),
    ]
    labels = [
        (LABEL_JOBFLOW_SHORT, "Job and its pods: the flow's name."),
        (LABEL_JOBFLOW, "Job and its pods: the flow's name."),
        (LABEL_STEP, "Job and its pods: the step's name."),
        (LABEL_ATTEMPT, 'Job and its pods: the attempt number, `"1"` first.'),
        (LABEL_RESOURCE, "ConfigMap and PersistentVolumeClaim children: the short name."),
        ("controller-uid", "Every child, set by Metacontroller: the flow's uid."),
    ]
    lines = [
        "## Labels and annotations",
        "",
        "| Key | Where | Meaning |",
        "| --- | --- | --- |",
    ]
    lines += [f"| `{key}` | label | {_cell(text)} |" for key, text in labels]
    lines += [f"| `{key}` | annotation | {_cell(text)} |" for key, text in annotations]
    lines += [
        "",
        "## Condition types and reasons",
        "",
        "Condition types: " + ", ".join(f"`{kind}`" for kind in ConditionType) + ".",
        "",
        "Step reasons: "
        + ", ".join(f"`{reason}`" for reason in StepReason)
        + "; a failed step without retries keeps its Job's reason (e.g. `BackoffLimitExceeded`).",
        "",
        "Flow and condition reasons: " + ", ".join(f"`{reason}`" for reason in FlowReason) + ".",
        "",
    ]
    return lines


def top_level() -> list[str]:
    return [
        "## JobFlow",
        "",
        f"`apiVersion: {API_VERSION}`, `kind: {KIND}`; namespaced; "
        "plural `jobflows`, short names `jf` and `flow`.",
        "",
        *table(
            [
                Row("`apiVersion`", "string", "required", "", f"`{API_VERSION}`."),
                Row("`kind`", "string", "required", "", f"`{KIND}`."),
                Row("`metadata`", "ObjectMeta", "required", "", "Name, namespace, labels..."),
                Row(
                    "`spec`",
                    type_name(JobFlowSpec),
                    "required",
                    "",
                    JobFlowSpec.__doc__ or "",
                ),
                Row(
                    "`status`",
                    type_name(JobFlowStatus),
                    "none",
                    "",
                    "Written by the hooks through Metacontroller; never edited by hand.",
                ),
            ]
        ),
        "",
    ]


def render() -> str:
    """The whole of ``docs/API.md``."""
    all_sections = sections([(JobFlowSpec, "spec"), (JobFlowStatus, "status")])
    spec_sections = [s for s in all_sections if s.paths[0].startswith("spec")]
    status_sections = [s for s in all_sections if s.paths[0].startswith("status")]
    lines = [
        "# JobFlow API reference",
        "",
        f"<!-- Generated from hooks/zen_flow/api/; regenerate with `{REGENERATE}`. -->",
        "",
        "This page lists every field of the `JobFlow` resource. The [User guide](USER_GUIDE.md) "
        "explains how they work together, with examples. `kubectl explain jobflow.spec` "
        "shows the same descriptions from the cluster.",
        "",
        *top_level(),
        "## Spec",
        "",
    ]
    for section in spec_sections:
        lines += model_section(section)
    lines += ["## Status", ""]
    for section in status_sections:
        lines += model_section(section)
    lines += constants_section()
    return "\n".join(lines).rstrip("\n") + "\n"


def main() -> None:
    sys.stdout.write(render())


if __name__ == "__main__":
    main()
