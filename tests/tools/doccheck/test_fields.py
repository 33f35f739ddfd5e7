"""The JobFlow fields a command reads, checked against the models."""

from __future__ import annotations

import pytest

from zen_flow.tools.doccheck.commands import parse_command
from zen_flow.tools.doccheck.fields import field_path_error, jsonpath_paths, output_paths


@pytest.mark.parametrize(
    "path",
    [
        ".status.phase",
        ".status.steps.name",  # through a list
        ".status.steps.jobRef.name",  # camelCase, through an optional model
        ".spec.steps.template.spec.template.spec.nodeSelector",  # a Kubernetes type, in part
        ".metadata.annotations.anything",  # dict[str, Any]
        ".spec.steps.template.metadata.labels.app",  # dict[str, str]
        ".spec",
    ],
)
def test_fields_of_the_models_exist(path: str) -> None:
    assert field_path_error(path.split(".")[1:]) is None


@pytest.mark.parametrize(
    ("path", "error"),
    [
        (".stauts", ".stauts is not a JobFlow field"),
        (".status.stepz", ".status.stepz: JobFlowStatus has no field 'stepz'"),
        (".status.steps.job_ref", ".status.steps.job_ref: StepStatus has no field 'job_ref'"),
        (".status.phase.value", ".status.phase.value: 'value' is below a plain value"),
        (".spec.steps.template.metadata.labels.app.x", "'x' is below a plain value"),
    ],
)
def test_fields_the_models_lack_are_named(path: str, error: str) -> None:
    found = field_path_error(path.split(".")[1:])
    assert found is not None and error in found


@pytest.mark.parametrize(
    ("template", "paths"),
    [
        ("{.status.phase}", [["status", "phase"]]),
        ('{.status.steps[?(@.name=="x")].phase}', [["status", "steps", "phase"]]),
        ("{.items[*].status.phase}", [["status", "phase"]]),
        (
            '{range .items[*]}{.metadata.name}{"\\t"}{.status.phase}{"\\n"}{end}',
            [["metadata", "name"], ["status", "phase"]],
        ),
        (
            "{range .status.steps[*]}{.name}{range .failedAttempts[*]}{.exitCode}{end}"
            "{.phase}{end}",
            [
                ["status", "steps", "name"],
                ["status", "steps", "failedAttempts", "exitCode"],
                ["status", "steps", "phase"],
            ],
        ),
        ("{end}{.status.phase}", [["status", "phase"]]),
    ],
)
def test_jsonpath_templates_read_absolute_paths(template: str, paths: list[list[str]]) -> None:
    assert list(jsonpath_paths(template)) == paths


@pytest.mark.parametrize(
    ("words", "paths"),
    [
        (["get", "jf", "-o", "jsonpath={.status.phase}"], [["status", "phase"]]),
        (["get", "jf", "-o", "jsonpath-as-json={.spec.steps}"], [["spec", "steps"]]),
        (
            ["get", "jf", "-o", "custom-columns=NAME:.metadata.name,P:.status.phase"],
            [["metadata", "name"], ["status", "phase"]],
        ),
        (["get", "jf", "--sort-by", ".status.startTime"], [["status", "startTime"]]),
        (["get", "jf", "--sort-by", "{.status.startTime}"], [["status", "startTime"]]),
        (["wait", "jf/x", "--for=jsonpath={.status.phase}=Succeeded"], [["status", "phase"]]),
        (["wait", "jf/x", "--for=jsonpath=.status.phase=Succeeded"], [["status", "phase"]]),
        (["wait", "jf/x", "--for=condition=Complete"], []),
        (["get", "jf", "-o", "yaml"], []),
    ],
)
def test_output_paths_of_a_command(words: list[str], paths: list[list[str]]) -> None:
    assert list(output_paths(parse_command("f:1", "", words))) == paths
