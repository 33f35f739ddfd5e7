"""A step's inputs, as the environment of its containers.

A literal value, a ConfigMap key or a Secret key becomes an environment variable as
Kubernetes writes one; an upstream step's output becomes a literal value, read from that
step's status when the attempt starts.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from zen_flow.api.spec import Parameter, Step
from zen_flow.api.status import StepStatus


class InputUnavailable(ValueError):
    """An input reads an output its step did not record (it failed or was skipped)."""


def environment(step: Step, states: Mapping[str, StepStatus]) -> tuple[dict[str, Any], ...]:
    """The step's inputs as ``EnvVar`` objects, in declaration order."""
    if step.inputs is None:
        return ()
    return tuple(_env_var(parameter, states) for parameter in step.inputs.parameters)


def _env_var(parameter: Parameter, states: Mapping[str, StepStatus]) -> dict[str, Any]:
    source = parameter.value_from
    if source is None:
        return {"name": parameter.name, "value": parameter.value or ""}
    if source.config_map_key_ref is not None:
        ref = source.config_map_key_ref
        return {
            "name": parameter.name,
            "valueFrom": {"configMapKeyRef": {"name": ref.name, "key": ref.key}},
        }
    if source.secret_key_ref is not None:
        ref = source.secret_key_ref
        return {
            "name": parameter.name,
            "valueFrom": {"secretKeyRef": {"name": ref.name, "key": ref.key}},
        }
    assert source.step_output is not None  # validation: exactly one source
    step, output = source.step_output.step, source.step_output.parameter
    state = states[step]
    if output not in state.outputs:
        raise InputUnavailable(
            f'input {parameter.name}: step "{step}" recorded no output "{output}" '
            f"({state.phase.value}{', ' + state.reason if state.reason else ''})"
        )
    return {"name": parameter.name, "value": state.outputs[output]}
