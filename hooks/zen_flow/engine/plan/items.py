"""The items of a fan-out step's attempt, and what its Indexed Job says of them."""

from __future__ import annotations

from collections.abc import Mapping

from zen_flow.api.spec import Step
from zen_flow.api.status import ItemsStatus, StepStatus
from zen_flow.engine.observe import ObservedJob
from zen_flow.spec.fanout import ItemsError, literal_items, parse_items


def step_items(step: Step, states: Mapping[str, StepStatus]) -> tuple[str, ...] | None:
    """The item texts of an attempt of ``step`` (None: it does not fan out); ``ItemsError``
    when the upstream output that should hold them does not."""
    if step.with_items is not None:
        return tuple(literal_items(step))
    reference = step.with_param
    if reference is None:
        return None
    upstream = states[reference.step]
    value = upstream.outputs.get(reference.parameter)
    source = f'output "{reference.parameter}" of step "{reference.step}"'
    if value is None:
        raise ItemsError(f"no {source} (the step is {upstream.phase.value})")
    return tuple(parse_items(value, source))


def items_progress(job: ObservedJob) -> ItemsStatus:
    """Counts from the Job's status: never one record per item."""
    total = max(0, job.completions or 0)
    return ItemsStatus(
        total=total, succeeded=min(job.succeeded, total), failed_indexes=job.failed_indexes
    )
