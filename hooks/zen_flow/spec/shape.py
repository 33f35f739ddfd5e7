"""The flow's steps as a graph: ``spec.steps``, then the ``finally`` steps that run once every
one of those has finished. A finally step depends on the steps it names (finally steps) and,
implicitly, on every step of ``spec.steps``."""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass

from zen_flow.api.spec import JobFlowSpec, Step
from zen_flow.spec.dag import ancestors


@dataclass(frozen=True)
class FlowShape:
    """Names, explicit dependencies and declared outputs of every step."""

    dependencies: Mapping[str, Sequence[str]]
    outputs: Mapping[str, Sequence[str]]
    main: frozenset[str]
    final: frozenset[str]

    @classmethod
    def of(cls, spec: JobFlowSpec) -> FlowShape:
        return cls(
            dependencies={step.name: step.dependencies for step in spec.all_steps},
            outputs={step.name: step.output_names for step in spec.all_steps},
            main=frozenset(step.name for step in spec.steps),
            final=frozenset(step.name for step in spec.finally_),
        )

    def upstream(self, step: str) -> set[str]:
        """Every step that finishes before ``step`` starts."""
        found = ancestors(self.dependencies, step)
        return found | self.main if step in self.final else found


def step_paths(spec: JobFlowSpec) -> Iterator[tuple[str, Step]]:
    """Each step with the path of its field: ``spec.steps[i]``, then ``spec.finally[i]``."""
    for index, step in enumerate(spec.steps):
        yield f"spec.steps[{index}]", step
    for index, step in enumerate(spec.finally_):
        yield f"spec.finally[{index}]", step
