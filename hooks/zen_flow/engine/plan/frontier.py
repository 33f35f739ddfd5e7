"""Which steps not started a pass must look at: a 5000-step chain moves a step or two per
sync, and a step with a dependency still under way only goes on waiting.

A step is visited when every dependency has finished (it may start, be skipped or fail), or
when its status does not yet say it waits for its dependencies; and again whenever one of its
dependencies finishes in the same pass. Every other step not started keeps the very status
it had, which is what visiting it would give.
"""

from __future__ import annotations

import heapq
from collections.abc import Iterator, Mapping, MutableMapping
from itertools import compress, repeat
from operator import attrgetter, is_, is_not, ne, not_, or_

from zen_flow.api.reasons import StepReason
from zen_flow.api.spec import JobFlowSpec, Step
from zen_flow.api.status import TERMINAL_STEP_PHASES, StepPhase, StepStatus
from zen_flow.spec.validation import dependents, step_order, step_positions, steps_by_name

# As a plain string: status holds reasons as read, and a str compares faster with a str.
_WAITING = StepReason.WAITING_FOR_DEPENDENCIES.value


class Frontier:
    """The steps of spec.steps to visit, in dependency order; ``finished`` adds the dependents
    of a step that has just finished, once all their dependencies have."""

    def __init__(self, spec: JobFlowSpec, states: MutableMapping[str, StepStatus]) -> None:
        self._order = step_order(spec)
        self._positions = step_positions(spec)
        self._dependents = dependents(spec)
        self._steps: Mapping[str, Step] = steps_by_name(spec)
        self._states = states
        # Thousands of steps, so the filters below run in C (map, compress), not in Python.
        names, phases = list(states), list(map(_phase, states.values()))
        under_way = map(not_, map(TERMINAL_STEP_PHASES.__contains__, phases))
        empty: tuple[str, ...] = ()
        held = set().union(*map(self._dependents.get, compress(names, under_way), repeat(empty)))
        pending = compress(names, map(is_, phases, repeat(StepPhase.PENDING)))
        positions = self._positions
        free = list(map(positions.__getitem__, positions.keys() & set(pending) - held))
        told = list(map(positions.__getitem__, _not_told_to_wait(list(held), states)))
        self._heap = free + told
        heapq.heapify(self._heap)
        self._queued = set(self._heap)

    def __iter__(self) -> Iterator[str]:
        while self._heap:
            yield self._order[heapq.heappop(self._heap)]

    def finished(self, name: str) -> None:
        """``name`` has just become final: its dependents may be free now."""
        states = self._states
        for dependent in self._dependents[name]:
            position = self._positions[dependent]
            if position in self._queued:
                continue
            needs = self._steps[dependent].dependencies
            if all(states[d].phase in TERMINAL_STEP_PHASES for d in needs):
                self._queued.add(position)
                heapq.heappush(self._heap, position)


def _not_told_to_wait(names: list[str], states: Mapping[str, StepStatus]) -> list[str]:
    """Those of ``names`` whose status does not say they wait for their dependencies (a
    step under way or finished is among them: visiting it leaves it as it is)."""
    entries = list(map(states.__getitem__, names))
    other_reason = map(ne, map(_reason, entries), repeat(_WAITING))
    with_message = map(is_not, map(_message, entries), repeat(None))
    return list(compress(names, map(or_, other_reason, with_message)))


_phase = attrgetter("phase")
_reason = attrgetter("reason")
_message = attrgetter("message")
