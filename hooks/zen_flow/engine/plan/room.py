"""Room in status for the steps that run: a running step's entry also names its Job, so a
flow of thousands of steps that could all run at once would outgrow its object.

Steps start while their running entries fit in the room the spec leaves (``size``); the
others wait, ``WaitingForStatusRoom``, until running steps finish and make room. With no
step running, a step starts whatever the room: waiting would never end (and a status that
then does not fit ends the flow, ``StatusTooLarge``).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from itertools import compress, repeat
from operator import attrgetter, is_

from zen_flow.api.status import StepPhase, StepStatus
from zen_flow.engine.plan.context import PassContext
from zen_flow.engine.size import running_entry_bytes


@dataclass
class StatusRoom:
    """The bytes left for running entries, and how many steps run, as a pass starts steps."""

    ctx: PassContext
    left: int
    running: int

    @classmethod
    def of(cls, ctx: PassContext, states: Mapping[str, StepStatus]) -> StatusRoom:
        """The room left by the steps running now."""
        running = list(compress(states, map(is_, map(_phase, states.values()), repeat(_RUNNING))))
        used = sum(_cost(ctx, name) for name in running)
        return cls(ctx, ctx.running_room - used, len(running))

    def admits(self, step: str) -> bool:
        """Whether ``step`` may start now."""
        return self.running == 0 or _cost(self.ctx, step) <= self.left

    def started(self, step: str) -> None:
        """``step`` runs from now on."""
        self.left -= _cost(self.ctx, step)
        self.running += 1


def _cost(ctx: PassContext, step: str) -> int:
    return running_entry_bytes(ctx.flow.name, ctx.flow.namespace, step)


_phase = attrgetter("phase")
_RUNNING = StepPhase.RUNNING
