"""What the user scripts around a simulated flow: how each attempt ends and when, and when
the flow is suspended and resumed."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum

from zen_flow.api.spec import JobFlowSpec


class Outcome(StrEnum):
    """How a Job ends: Complete, Failed, or Failed by its activeDeadlineSeconds."""

    SUCCEED = "succeed"
    FAIL = "fail"
    TIMEOUT = "timeout"


class SimulationError(Exception):
    """The scenario does not fit the flow, or the hook's answers would not be applied."""


@dataclass(frozen=True)
class Scenario:
    """What happens around the flow. Times are seconds from the start."""

    outcomes: Mapping[str, Sequence[Outcome]] = field(default_factory=dict)
    durations: Mapping[str, float] = field(default_factory=dict)
    default_duration: float = 10.0
    suspend_at: float | None = None
    resume_at: float | None = None
    max_time: float = 24 * 3600.0

    def outcome(self, step: str, attempt: int) -> Outcome:
        """Attempt n gets the n-th scripted outcome of its step; unscripted ones succeed."""
        scripted = self.outcomes.get(step, ())
        return scripted[attempt - 1] if attempt <= len(scripted) else Outcome.SUCCEED

    def duration(self, step: str) -> float:
        return self.durations.get(step, self.default_duration)


def check_scenario(spec: JobFlowSpec, scenario: Scenario) -> None:
    """``SimulationError`` for an unknown step name or an impossible time."""
    names = [step.name for step in spec.steps]
    for option, steps in (("--outcome", scenario.outcomes), ("--duration", scenario.durations)):
        for step in steps:
            if step not in names:
                raise SimulationError(
                    f'{option}: unknown step "{step}" (steps: {", ".join(names)})'
                )
    for step, seconds in scenario.durations.items():
        if seconds <= 0:
            raise SimulationError(f'--duration: step "{step}" must run for more than 0s')
    if scenario.default_duration <= 0:
        raise SimulationError("--default-duration must be more than 0s")
    if scenario.resume_at is not None:
        if scenario.suspend_at is None:
            raise SimulationError("--resume-at needs --suspend-at")
        if scenario.resume_at <= scenario.suspend_at:
            raise SimulationError("--resume-at must be later than --suspend-at")
