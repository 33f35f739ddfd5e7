"""Spec validation: every problem reported, with its field path."""

from __future__ import annotations

from typing import Any

import pytest

from tests.support.flows import job_template, step
from zen_flow.api.durations import parse_duration
from zen_flow.spec.dag import ancestors, find_cycle, topological_order
from zen_flow.spec.validation import InvalidSpecError, parse_spec


def problems(spec: dict[str, Any]) -> list[str]:
    with pytest.raises(InvalidSpecError) as raised:
        parse_spec(spec)
    return [str(p) for p in raised.value.problems]


def test_valid_spec_gets_defaults() -> None:
    spec = parse_spec({"steps": [step("a", retryPolicy={})]})
    assert spec.execution_policy.backoff_limit == 6
    assert spec.execution_policy.ttl_seconds_after_finished == 86400
    assert spec.execution_policy.concurrency_policy == "Forbid"
    policy = spec.steps[0].retry_policy
    assert policy is not None and policy.limit == 3
    assert (policy.backoff.type, policy.backoff.duration, policy.backoff.factor) == (
        "Exponential",
        "1s",
        2.0,
    )


def test_unknown_dependency_names_the_path() -> None:
    spec = {"steps": [step("a"), step("b", "a"), step("c", "lod")]}
    assert problems(spec) == ['spec.steps[2].dependencies[0]: unknown step "lod"']


def test_cycle_names_its_steps() -> None:
    spec = {"steps": [step("a", "c"), step("b", "a"), step("c", "b"), step("free")]}
    assert problems(spec) == ["spec.steps: dependency cycle: a -> c -> b -> a"]


def test_every_problem_is_reported() -> None:
    spec = {
        "steps": [
            step("a", "a"),
            step("a"),
            step("Bad_Name"),
            step("d", "a", "a"),
        ]
    }
    found = problems(spec)
    assert any("spec.steps[2].name" in p for p in found)


def test_cross_field_problems_together() -> None:
    spec = {"steps": [step("a", "a"), step("a"), step("d", "a", "a")]}
    assert problems(spec) == [
        'spec.steps[1].name: duplicate step name "a" (also spec.steps[0])',
        'spec.steps[0].dependencies[0]: step "a" depends on itself',
        'spec.steps[2].dependencies[1]: duplicate dependency "a"',
    ]


@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        ({"steps": []}, "spec.steps: a flow needs at least one step"),
        ({}, "spec.steps: required field is missing"),
        (
            {"steps": [{"name": "a", "template": {"spec": {"template": {"spec": {}}}}}]},
            "spec.steps[0].template.spec.template.spec.containers: required field is missing",
        ),
        (
            {"steps": [{"name": "a", "template": {**job_template(), "kind": "Pod"}}]},
            'spec.steps[0].template.kind: must be "Job" (got "Pod")',
        ),
        (
            {"steps": [step("a", timeoutSeconds=0)]},
            "spec.steps[0].timeoutSeconds: must be more than 0 (got 0)",
        ),
        (
            {"steps": [step("a", retryPolicy={"backoff": {"type": "Random"}})]},
            'spec.steps[0].retryPolicy.backoff.type: must be one of "Fixed", "Linear" or '
            '"Exponential" (got "Random")',
        ),
        (
            {"steps": [step("a", retryPolicy={"backoff": {"duration": "10 minutes"}})]},
            'spec.steps[0].retryPolicy.backoff.duration: invalid duration "10 minutes": '
            'use e.g. "30s", "10m", "1h30m", "500ms"',
        ),
        (
            {"steps": [step("a", retryPolicy={"limit": -1})]},
            "spec.steps[0].retryPolicy.limit: must be at least 0 (got -1)",
        ),
        (
            {"steps": [step("a")], "executionPolicy": {"concurrencyPolicy": "Sometimes"}},
            'spec.executionPolicy.concurrencyPolicy: must be one of "Allow", "Forbid" or '
            '"Replace" (got "Sometimes")',
        ),
        (
            {"steps": [step("a", colour="red")]},
            "spec.steps[0].colour: unknown field (fields here: name, dependencies, type, template,",
        ),
        (
            {
                "steps": [
                    step(
                        "a",
                        template={
                            **job_template(),
                            "spec": {
                                "template": {
                                    "spec": {
                                        "containers": [{"name": "c", "image": "i"}],
                                        "restartPolicy": "Always",
                                    }
                                }
                            },
                        },
                    )
                ]
            },
            'spec.steps[0].template.spec.template.spec.restartPolicy: must be "OnFailure" '
            'or "Never" (got "Always")',
        ),
    ],
)
def test_shape_problems_name_the_field(spec: dict[str, Any], expected: str) -> None:
    assert any(p.startswith(expected) for p in problems(spec)), problems(spec)


def test_pod_failure_policy_requires_restart_policy_never() -> None:
    template = job_template(restartPolicy="OnFailure")
    spec = {
        "steps": [{"name": "a", "template": template}],
        "executionPolicy": {
            "podFailurePolicy": {
                "rules": [{"action": "FailJob", "onExitCodes": {"operator": "In", "values": [42]}}]
            }
        },
    }
    assert problems(spec) == [
        "spec.steps[0].template.spec.template.spec.restartPolicy: "
        "must be Never when a podFailurePolicy applies"
    ]


def test_when_may_only_read_upstream_steps() -> None:
    spec = {
        "steps": [
            step("a"),
            step("b", "a"),
            step("c", "b", when="steps.a.phase == 'Succeeded'"),
            step("d", when="steps.c.phase == 'Succeeded'"),
        ]
    }
    assert problems(spec) == [
        'spec.steps[3].when: refers to "c" (step that is not upstream of "d"): '
        "add it to dependencies"
    ]


@pytest.mark.parametrize(
    "when",
    ["steps.a.phase == 'Succeeded'", "steps['a'].phase != 'Failed'", "always", "never", "true"],
)
def test_when_forms_accepted(when: str) -> None:
    parse_spec({"steps": [step("a"), step("b", "a", when=when)]})


@pytest.mark.parametrize(
    ("when", "fragment"),
    [
        ("steps['a' + ''].phase == 'a'", "quoted step name"),
        ("size(steps) > 1", "must be followed by a step name"),
        ("phase == 'a'", "unknown variable"),
        ("steps.a.phase = 'a'", "does not parse"),
    ],
)
def test_when_forms_refused(when: str, fragment: str) -> None:
    found = problems({"steps": [step("a"), step("b", "a", when=when)]})
    assert any(fragment in p and p.startswith("spec.steps[1].when") for p in found), found


def test_topological_order_follows_declaration_order_on_ties() -> None:
    deps = {"c": [], "b": [], "a": ["c"], "d": ["a", "b"]}
    assert topological_order(deps) == ["c", "b", "a", "d"]


def test_find_cycle_and_ancestors() -> None:
    assert find_cycle({"a": ["b"], "b": []}) is None
    assert find_cycle({"a": ["b"], "b": ["a"]}) == ["a", "b", "a"]
    assert ancestors({"a": [], "b": ["a"], "c": ["b"], "d": []}, "c") == {"a", "b"}


@pytest.mark.parametrize(
    ("text", "seconds"), [("30s", 30), ("1m30s", 90), ("500ms", 0.5), ("2h", 7200)]
)
def test_durations(text: str, seconds: float) -> None:
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("text", ["", "10", "1d", "s", "1.s"])
def test_bad_durations(text: str) -> None:
    with pytest.raises(ValueError, match="invalid duration"):
        parse_duration(text)


@pytest.mark.parametrize(
    ("metadata", "fragment"),
    [
        ({"labels": {"bad key": "x"}}, 'labels["bad key"]: not a valid key'),
        ({"labels": {"a/b/c": "x"}}, 'labels["a/b/c"]: not a valid key'),
        ({"labels": {"Example.com/x": "x"}}, "not a valid key"),
        ({"labels": {"tier": "v" * 64}}, 'labels["tier"]: label value'),
        ({"labels": {"tier": "-x"}}, "label value '-x'"),
        ({"annotations": {"-note": "x"}}, 'annotations["-note"]: not a valid key'),
    ],
)
def test_labels_and_annotations_a_child_could_not_carry_are_refused(
    metadata: dict[str, Any], fragment: str
) -> None:
    found = problems({"steps": [step("a", metadata=metadata)]})
    assert any(p.startswith("spec.steps[0].metadata.") and fragment in p for p in found), found


def test_labels_and_annotations_kubernetes_accepts_pass() -> None:
    metadata = {
        "labels": {"app.kubernetes.io/name": "etl", "tier": "", "a_b.c-d": "X_1.y-2"},
        "annotations": {"example.com/note": "any text at all, spaces included"},
    }
    spec = parse_spec({"steps": [step("a", metadata=metadata)]})
    assert spec.steps[0].metadata is not None


def test_an_unknown_step_close_to_a_known_one_is_suggested() -> None:
    spec = {
        "steps": [
            step("load"),
            step("report", "lod", when="steps.laod.phase == 'Succeeded'"),
        ]
    }
    assert problems(spec) == [
        'spec.steps[1].dependencies[0]: unknown step "lod" (did you mean "load"?)',
        'spec.steps[1].when: refers to unknown step "laod" (did you mean "load"?)',
    ]


def pod(**fields: Any) -> dict[str, Any]:
    return {"apiVersion": "batch/v1", "kind": "Job", "spec": {"template": {"spec": fields}}}


def test_a_pod_template_the_api_server_would_refuse_is_an_invalid_spec() -> None:
    where = "spec.steps[0].template.spec.template.spec"
    template = pod(
        initContainers=[{"name": "main", "image": "busybox:1.36"}],
        containers=[
            {"name": "main", "image": "busybox:1.36"},
            {
                "name": "Side_Car",
                "image": "busybox:1.36",
                "volumeMounts": [{"name": "work", "mountPath": "/work"}],
            },
        ],
        volumes=[{"name": "cache", "emptyDir": {}}],
    )
    assert problems({"steps": [step("a", template=template)]}) == [
        f'{where}.containers[0].name: duplicate container name "main" '
        f"(also {where}.initContainers[0])",
        f'{where}.containers[1].name: container name "Side_Car": at most 63 lowercase letters, '
        "digits and '-', starting and ending with a letter or digit",
        f'{where}.containers[1].volumeMounts[0].name: no volume "work" in the pod '
        "(its volumes: cache)",
    ]
