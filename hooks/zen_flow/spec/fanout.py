"""Fan-out steps: ``withItems`` or ``withParam`` run the step once per item, as one Indexed
Job whose pod of index ``i`` reads item ``i`` from ``/etc/zen-flow/items/<i>``.

The items travel in an immutable ConfigMap of the flow, mounted into every container; the
Job controller gives each pod its index (``$JOB_COMPLETION_INDEX``). One Job and one
ConfigMap whatever the number of items, and the flow's status holds counts, not items.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

import msgspec

from zen_flow.api.spec import MAX_ITEMS, JobFlowSpec, JobTemplate, Step
from zen_flow.spec.parameters import step_output_problems
from zen_flow.spec.problems import Problem
from zen_flow.spec.shape import FlowShape

ITEMS_VOLUME = "zen-flow-items"
ITEMS_PATH = "/etc/zen-flow/items"
# A ConfigMap holds at most 1 MiB; what the items may take of it.
MAX_ITEMS_BYTES = 900 * 1024
# Kubernetes' bounds for an Indexed Job with backoffLimitPerIndex.
MAX_INDEXED_COMPLETIONS = 100_000
# Fields of the Job that a fan-out step sets itself.
_FAN_OUT_FIELDS = ("completions", "completionMode")


class ItemsError(ValueError):
    """An upstream output that should hold the items does not: the message says why."""


_JSON_KINDS = {dict: "object", str: "string", int: "number", float: "number", bool: "boolean"}


def item_text(item: object) -> str:
    """An item as its file holds it: a string as it is, any other JSON value as JSON."""
    return item if isinstance(item, str) else msgspec.json.encode(item).decode()


def items_digest(texts: Sequence[str]) -> str:
    """What names the items' ConfigMap: a hash of the item texts, in order."""
    return hashlib.sha256(msgspec.json.encode(texts)).hexdigest()


def literal_items(step: Step) -> list[str]:
    """The texts of a ``withItems`` step's items."""
    return [item_text(item) for item in step.with_items or ()]


def parse_items(value: str, source: str) -> list[str]:
    """The items of a ``withParam`` step from the output ``source`` holds: a JSON list."""
    try:
        items = msgspec.json.decode(value)
    except msgspec.DecodeError as error:
        raise ItemsError(f"{source} is not JSON ({error}): withParam needs a JSON list") from error
    if not isinstance(items, list):
        raise ItemsError(f"{source} is a JSON {_JSON_KINDS.get(type(items), 'value')}, not a list")
    if len(items) > MAX_ITEMS:
        raise ItemsError(f"{source} holds {len(items)} items; at most {MAX_ITEMS} are allowed")
    return [item_text(item) for item in items]


def fan_out_problems(
    spec: JobFlowSpec, step: Step, where: str, shape: FlowShape
) -> Iterator[Problem]:
    """What a fan-out step may not combine, what its template may not set, and where its
    items come from."""
    if not step.fans_out:
        if step.parallelism is not None:
            yield Problem(f"{where}.parallelism", "goes with withItems or withParam")
        return
    if step.with_items is not None and step.with_param is not None:
        yield Problem(f"{where}.withParam", "give withItems or withParam, not both")
    if step.outputs is not None:
        yield Problem(
            f"{where}.outputs", "a step that fans out has no outputs (its pods would each write)"
        )
    template = _template(spec, step)
    if template is not None:
        yield from _template_problems(template, f"{where}.{_template_field(step)}")
    if step.with_items is not None:
        size = sum(len(item_text(item).encode()) for item in step.with_items)
        if size > MAX_ITEMS_BYTES:
            yield Problem(
                f"{where}.withItems",
                f"the items take {size // 1024} KiB; at most {MAX_ITEMS_BYTES // 1024} KiB fit "
                "in the ConfigMap that delivers them",
            )
    if step.with_param is not None:
        yield from step_output_problems(
            step.with_param, f"{where}.withParam", shape.upstream(step.name), shape.outputs
        )


def _template(spec: JobFlowSpec, step: Step) -> JobTemplate | None:
    if step.template is not None:
        return step.template
    named = spec.templates_by_name.get(step.template_ref or "")
    return named.template if named is not None else None


def _template_field(step: Step) -> str:
    return "template" if step.template is not None else f"templateRef ({step.template_ref})"


def _template_problems(template: JobTemplate, where: str) -> Iterator[Problem]:
    """Fields the Job of a fan-out step cannot have: the API server would refuse the Job,
    and the step would never start."""
    job: Mapping[str, Any] = template.spec.model_extra or {}
    for field in _FAN_OUT_FIELDS:
        if field in job:
            yield Problem(
                f"{where}.spec.{field}",
                "set by withItems/withParam (one completion per item): remove it",
            )
    per_index = "backoffLimitPerIndex" in job
    if per_index and template.spec.template.spec.restart_policy != "Never":
        yield Problem(
            f"{where}.spec.template.spec.restartPolicy",
            "must be Never with backoffLimitPerIndex",
        )
    if "maxFailedIndexes" in job and not per_index:
        yield Problem(f"{where}.spec.maxFailedIndexes", "goes with backoffLimitPerIndex")
    pod = template.spec.template.spec
    volumes = (pod.model_extra or {}).get("volumes")
    if any(_named(volume, ITEMS_VOLUME) for volume in _list(volumes)):
        yield Problem(
            f"{where}.spec.template.spec.volumes",
            f'the volume name "{ITEMS_VOLUME}" is the items\' own: rename yours',
        )
    for index, container in enumerate(pod.containers):
        mounts = (container.model_extra or {}).get("volumeMounts")
        if any(_mount_path(mount) == ITEMS_PATH for mount in _list(mounts)):
            yield Problem(
                f"{where}.spec.template.spec.containers[{index}].volumeMounts",
                f"{ITEMS_PATH} is where the items are mounted: mount yours elsewhere",
            )


def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def _named(value: Any, name: str) -> bool:
    return isinstance(value, dict) and value.get("name") == name


def _mount_path(value: Any) -> str | None:
    if not isinstance(value, dict):
        return None
    path = value.get("mountPath")
    return path.rstrip("/") if isinstance(path, str) else None
