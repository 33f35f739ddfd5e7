"""What one planning pass knows before it decides anything: fixed for the whole pass.

That includes what the flow's annotations ask of this pass: terminate, a rerun carried out
now (with ``concurrencyPolicy`` deciding for a flow still running), approvals.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime

from zen_flow.api.naming import resource_name
from zen_flow.api.spec import ConcurrencyPolicy, JobFlowSpec, Step
from zen_flow.api.status import TERMINAL_FLOW_PHASES, RerunStatus
from zen_flow.api.times import format_time, later, parse_time_or
from zen_flow.engine.observe import FlowIdentity, Observation, ObservedJob
from zen_flow.engine.outputs import PodOutputs
from zen_flow.engine.size import room_for_status, steps_status_bytes
from zen_flow.spec.validation import steps_by_name


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
    terminate: bool = False
    approvals: Mapping[str, str] = field(default_factory=dict)
    pod_outputs: Mapping[tuple[str, int], PodOutputs] = field(default_factory=dict)
    rerun: RerunStatus | None = None  # the last rerun: carried out in this pass if ``rerun_now``
    rerun_now: bool = False
    replace: bool = False  # the rerun replaces the steps still running
    rerun_waiting: str | None = None  # a rerun token that waits for the run to end
    active_jobs: frozenset[str] = frozenset()  # step Jobs that have not finished
    final: frozenset[str] = frozenset()  # the finally steps
    # Bytes of status left for running steps' entries (``size.running_entry_bytes``).
    running_room: int = 0

    @classmethod
    def build(cls, observation: Observation, spec: JobFlowSpec, now: datetime) -> PassContext:
        start = parse_time_or(observation.status.start_time, now)
        rerun, now_, replace, waiting = _rerun(observation, spec, now)
        # The deadline counts from the start of the current run: the flow's, or its rerun's.
        run_start = parse_time_or(rerun.start_time, now) if rerun is not None else start
        limit = spec.execution_policy.active_deadline_seconds
        return cls(
            flow=observation.flow,
            spec=spec,
            steps=steps_by_name(spec),
            jobs=observation.jobs,
            latest_attempt=observation.latest_attempt,
            now=now,
            start_time=start,
            deadline=later(run_start, limit) if limit else None,
            suspended=observation.suspended,
            resources_ready=_resources_observed(observation, spec),
            terminate=observation.terminate,
            approvals=observation.approvals,
            pod_outputs=observation.pod_outputs,
            rerun=rerun,
            rerun_now=now_,
            replace=replace,
            rerun_waiting=waiting,
            active_jobs=observation.active_jobs,
            final=frozenset(spec.finally_names),
            running_room=room_for_status(len(observation.spec_json), observation.annotations)
            - steps_status_bytes(spec),
        )

    @property
    def deadline_passed(self) -> bool:
        return self.deadline is not None and self.now >= self.deadline

    def bounded_by_deadline(self, step: str) -> bool:
        """The flow's deadline ends this step: every step but the finally steps, which run
        after it too (a cleanup is most needed then)."""
        return step not in self.final

    def past_deadline(self, step: str) -> bool:
        return self.deadline_passed and self.bounded_by_deadline(step)

    def tolerated(self, step: str) -> bool:
        """A failure of ``step`` does not fail the flow (continueOnFailure)."""
        return self.steps[step].continue_on_failure


def _rerun(
    observation: Observation, spec: JobFlowSpec, now: datetime
) -> tuple[RerunStatus | None, bool, bool, str | None]:
    """The rerun in force, whether it starts in this pass, whether it replaces running
    steps, and a requested one that waits: a finished flow reruns at once; one still running
    follows ``concurrencyPolicy`` (Allow: at once, Replace: at once in place of the running
    steps, Forbid: once the run ends)."""
    previous = observation.status.rerun
    token = observation.rerun_requested
    if token is None:
        return previous, False, False, None
    status = observation.status
    finished = status.phase in TERMINAL_FLOW_PHASES and bool(status.completion_time)
    policy = spec.execution_policy.concurrency_policy
    if not finished and policy is ConcurrencyPolicy.FORBID:
        return previous, False, False, token
    started = RerunStatus(token=token, start_time=format_time(now))
    return started, True, not finished and policy is ConcurrencyPolicy.REPLACE, None


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
