"""What the user scripts around a simulated flow: how each attempt ends and when, and when
the flow is suspended and resumed."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum

from zen_flow.api.spec import JobFlowSpec, Step


class Outcome(StrEnum):
    """How a Job ends: Complete, Failed, or Failed by its activeDeadlineSeconds."""

    SUCCEED = "succeed"
    FAIL = "fail"
    TIMEOUT = "timeout"


class SimulationError(Exception):
    """The scenario does not fit the flow, or the hook's answers would not be applied."""


@dataclass(frozen=True)
class Annotation:
    """At ``at`` seconds, the flow's annotation ``key`` is set to ``value`` (None: removed)."""

    at: float
    key: str
    value: str | None


@dataclass(frozen=True)
class Scenario:
    """What happens around the flow. Times are seconds from the start.

    A Job of a step that declares outputs writes them to its termination message: the
    values in ``outputs`` for that step, and ``<step>.<name>`` for the others.
    """

    outcomes: Mapping[str, Sequence[Outcome]] = field(default_factory=dict)
    durations: Mapping[str, float] = field(default_factory=dict)
    default_duration: float = 10.0
    suspend_at: float | None = None
    resume_at: float | None = None
    max_time: float = 24 * 3600.0
    outputs: Mapping[str, Mapping[str, str]] = field(default_factory=dict)
    annotations: Sequence[Annotation] = ()

    def written(self, step: Step) -> dict[str, str] | None:
        """What a succeeded Job of ``step`` writes to its termination message."""
        if not step.output_names and step.name not in self.outputs:
            return None
        values = {name: f"{step.name}.{name}" for name in step.output_names}
        return {**values, **self.outputs.get(step.name, {})}

    def outcome(self, step: str, attempt: int) -> Outcome:
        """Attempt n gets the n-th scripted outcome of its step; unscripted ones succeed."""
        scripted = self.outcomes.get(step, ())
        return scripted[attempt - 1] if attempt <= len(scripted) else Outcome.SUCCEED

    def duration(self, step: str) -> float:
        return self.durations.get(step, self.default_duration)


def check_scenario(spec: JobFlowSpec, scenario: Scenario) -> None:
    """``SimulationError`` for an unknown step name or an impossible time."""
    _check_steps(spec, scenario)
    _check_times(scenario)


def _check_steps(spec: JobFlowSpec, scenario: Scenario) -> None:
    names = [step.name for step in spec.all_steps]
    scripted = (
        ("--outcome", scenario.outcomes),
        ("--duration", scenario.durations),
        ("--output", scenario.outputs),
    )
    for option, steps in scripted:
        for step in steps:
            if step not in names:
                raise SimulationError(
                    f'{option}: unknown step "{step}" (steps: {", ".join(names)})'
                )


def _check_times(scenario: Scenario) -> None:
    for step, seconds in scenario.durations.items():
        if seconds <= 0:
            raise SimulationError(f'--duration: step "{step}" must run for more than 0s')
    for annotation in scenario.annotations:
        if annotation.at < 0:
            raise SimulationError(f"--annotate: {annotation.key} at a negative time")
    if scenario.default_duration <= 0:
        raise SimulationError("--default-duration must be more than 0s")
    if scenario.resume_at is not None:
        if scenario.suspend_at is None:
            raise SimulationError("--resume-at needs --suspend-at")
        if scenario.resume_at <= scenario.suspend_at:
            raise SimulationError("--resume-at must be later than --suspend-at")
