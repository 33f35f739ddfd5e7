"""When a finally step starts: after every step of spec.steps is final, whatever the outcome.

Unlike the other steps, a finally step is not skipped because a step failed or the flow's
deadline passed (cleanups matter most then); only the failure of a finally step it depends
on skips it. Suspension holds it like any step; terminate skips it.
"""

from __future__ import annotations

from collections.abc import Mapping

from zen_flow.api.reasons import StepReason
from zen_flow.api.spec import Step
from zen_flow.api.status import StepPhase, StepStatus
from zen_flow.engine.plan.context import PassContext
from zen_flow.engine.plan.gates import Gate, Verdict, ready_gate
from zen_flow.engine.plan.phase import FlowVerdict


def finally_gate(
    ctx: PassContext, step: Step, states: Mapping[str, StepStatus], outcome: FlowVerdict
) -> Gate:
    """What a finally step that has not started does, given the outcome of spec.steps."""
    for name in step.dependencies:
        dependency = states[name]
        if dependency.phase is StepPhase.FAILED and not ctx.tolerated(name):
            return Gate(Verdict.SKIP, StepReason.UPSTREAM_FAILED, f'step "{name}" failed')
    flow = {"phase": outcome.phase.value, "reason": outcome.reason.value}
    return ready_gate(ctx, step, states, flow)
