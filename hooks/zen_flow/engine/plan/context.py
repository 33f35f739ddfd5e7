"""What one planning pass knows before it decides anything: fixed for the whole pass."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime

from zen_flow.api.naming import resource_name
from zen_flow.api.spec import JobFlowSpec, Step
from zen_flow.api.times import later, parse_time_or
from zen_flow.engine.observe import FlowIdentity, Observation, ObservedJob


@dataclass(frozen=True)
class PassContext:
    """The flow, its spec, the Jobs that exist, and the time, as one pass sees them."""

    flow: FlowIdentity
    spec: JobFlowSpec
    steps: Mapping[str, Step]
    jobs: Mapping[tuple[str, int], ObservedJob]
    latest_attempt: Mapping[str, int]
    now: datetime
    start_time: datetime
    deadline: datetime | None
    suspended: bool
    resources_ready: bool

    @classmethod
    def build(cls, observation: Observation, spec: JobFlowSpec, now: datetime) -> PassContext:
        start = parse_time_or(observation.status.start_time, now)
        limit = spec.execution_policy.active_deadline_seconds
        return cls(
            flow=observation.flow,
            spec=spec,
            steps={step.name: step for step in spec.steps},
            jobs=observation.jobs,
            latest_attempt=observation.latest_attempt,
            now=now,
            start_time=start,
            deadline=later(start, limit) if limit else None,
            suspended=observation.suspended,
            resources_ready=_resources_observed(observation, spec),
        )

    @property
    def deadline_passed(self) -> bool:
        return self.deadline is not None and self.now >= self.deadline

    def tolerated(self, step: str) -> bool:
        """A failure of ``step`` does not fail the flow (continueOnFailure)."""
        return self.steps[step].continue_on_failure


def _resources_observed(observation: Observation, spec: JobFlowSpec) -> bool:
    """Steps start only once every resource template's copy is observed."""
    templates = spec.resource_templates
    if templates is None:
        return True
    flow = observation.flow.name
    return all(
        resource_name(flow, t.metadata.name) in observation.configmaps
        for t in templates.config_map_templates
    ) and all(
        resource_name(flow, t.metadata.name) in observation.pvcs
        for t in templates.volume_claim_templates
    )
