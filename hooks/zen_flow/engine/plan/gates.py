"""What a step that has not started waits for: the deadline, upstream failures, its
dependencies, suspension, the flow's resources, and its ``when`` condition."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from zen_flow.api.reasons import StepReason
from zen_flow.api.spec import Step
from zen_flow.api.status import StepPhase, StepStatus
from zen_flow.engine.plan.context import PassContext
from zen_flow.spec.when import WhenError, compile_when


class Verdict(StrEnum):
    START = "Start"  # run attempt 1 now
    WAIT = "Wait"  # stay Pending, for ``reason``
    SKIP = "Skip"  # never run: Skipped
    FAIL = "Fail"  # cannot run: Failed (a ``when`` that cannot be evaluated)


@dataclass(frozen=True)
class Gate:
    verdict: Verdict
    reason: StepReason
    message: str = ""


START = Gate(Verdict.START, StepReason.JOB_CREATED)


def satisfies(ctx: PassContext, dependency: StepStatus) -> bool:
    """A finished dependency lets its dependents run unless it failed intolerably."""
    if dependency.phase in (StepPhase.SUCCEEDED, StepPhase.SKIPPED):
        return True
    return dependency.phase is StepPhase.FAILED and ctx.tolerated(dependency.name)


def dependencies_met(ctx: PassContext, step: Step, states: Mapping[str, StepStatus]) -> bool:
    return all(satisfies(ctx, states[d]) for d in step.dependencies)


def pending_gate(
    ctx: PassContext, step: Step, states: Mapping[str, StepStatus], blocking: str | None
) -> Gate:
    """What a step that has not started does now; ``blocking`` is a step that failed the flow."""
    if ctx.deadline_passed:
        return Gate(Verdict.SKIP, StepReason.DEADLINE_EXCEEDED, "flow activeDeadlineSeconds passed")
    if blocking is not None:
        return Gate(Verdict.SKIP, StepReason.UPSTREAM_FAILED, f'step "{blocking}" failed')
    return ready_gate(ctx, step, states)


def ready_gate(
    ctx: PassContext,
    step: Step,
    states: Mapping[str, StepStatus],
    flow: Mapping[str, str] | None = None,
) -> Gate:
    """A step nothing has failed for: its dependencies, suspension, resources, ``when``."""
    if not dependencies_met(ctx, step, states):
        return Gate(Verdict.WAIT, StepReason.WAITING_FOR_DEPENDENCIES)
    if ctx.suspended:
        return Gate(Verdict.WAIT, StepReason.SUSPENDED)
    if not ctx.resources_ready:
        return Gate(Verdict.WAIT, StepReason.WAITING_FOR_RESOURCES)
    if step.when is None:
        return START
    try:
        go = when_holds(step.when, states, flow)
    except WhenError as error:
        return Gate(Verdict.FAIL, StepReason.CONDITION_ERROR, str(error))
    return START if go else Gate(Verdict.SKIP, StepReason.CONDITION_FALSE, f"when: {step.when}")


def when_holds(
    source: str, states: Mapping[str, StepStatus], flow: Mapping[str, str] | None = None
) -> bool:
    """The value of a ``when`` over the steps it reads (and, for a finally step, the outcome
    of spec.steps); ``WhenError`` if it has none."""
    condition = compile_when(source)
    context: dict[str, dict[str, Any]] = {
        name: {"phase": states[name].phase.value, "outputs": dict(states[name].outputs)}
        for name in condition.steps
    }
    return condition.evaluate(context, flow)
