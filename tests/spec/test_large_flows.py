"""Validation of named templates, fan-out steps and finally steps: each rule, by its field."""

from __future__ import annotations

from typing import Any

import pytest

from tests.support.flows import job_template, step
from zen_flow.spec.templates import MAX_SUBSTITUTED_BYTES, resolved_template
from zen_flow.spec.validation import InvalidSpecError, parse_spec


def problems(spec: dict[str, Any]) -> list[str]:
    with pytest.raises(InvalidSpecError) as raised:
        parse_spec(spec)
    return [str(p) for p in raised.value.problems]


def named(name: str = "work", *parameters: dict[str, str], **container: Any) -> dict[str, Any]:
    template = job_template()
    template["spec"]["template"]["spec"]["containers"][0].update(container)
    return {"name": name, "parameters": list(parameters), "template": template}


def ref(name: str, template: str = "work", **arguments: str) -> dict[str, Any]:
    body: dict[str, Any] = {"name": name, "templateRef": template}
    if arguments:
        body["arguments"] = arguments
    return body


# --- templates ------------------------------------------------------------------------------


def test_substitution_is_plain_text_in_every_string_with_defaults() -> None:
    template = named("work", {"name": "who"}, {"name": "tag", "default": "1.36"})
    template["template"]["spec"]["template"]["spec"]["containers"][0].update(
        image="busybox:{{params.tag}}", command=["echo", "hello {{ params.who }}!"]
    )
    spec = parse_spec({"templates": [template], "steps": [ref("a", who="you")]})
    (container,) = resolved_template(spec, spec.steps[0]).spec.template.spec.containers
    assert container.image == "busybox:1.36"
    assert (container.model_extra or {})["command"] == ["echo", "hello you!"]


def test_template_rules_name_the_field() -> None:
    spec = {
        "templates": [
            named("work", {"name": "who"}, command=["{{params.whom}}"]),
            named("work"),
        ],
        "steps": [
            ref("a", who="x", extra="y"),
            ref("b"),
            ref("c", "nope"),
            {**ref("d", who="x"), "template": job_template()},
            {"name": "e", "template": job_template(), "arguments": {"who": "x"}},
        ],
    }
    assert problems(spec) == [
        "spec.templates[0].template: {{params.whom}} names no parameter of this template "
        "(declare it under parameters)",
        'spec.templates[1].name: duplicate template name "work"',
        'spec.steps[0].arguments.extra: not a parameter of template "work" (its parameters: who)',
        'spec.steps[1].arguments: template "work" needs a value for "who"',
        'spec.steps[2].templateRef: unknown template "nope" (templates: work)',
        "spec.steps[3].templateRef: give template or templateRef, not both",
        "spec.steps[4].arguments: arguments go with templateRef",
    ]


def test_arguments_that_would_make_a_huge_job_are_refused_before_substituting() -> None:
    many = " ".join(["{{params.blob}}"] * 100)
    spec = {
        "templates": [named("work", {"name": "blob"}, command=[many])],
        "steps": [ref("a", blob="x" * 4000), ref("b", blob="small")],
    }
    (problem,) = problems(spec)
    assert problem.startswith('spec.steps[0].arguments: with these arguments, template "work"')
    assert f"at most {MAX_SUBSTITUTED_BYTES // 1024} KiB" in problem


def test_an_argument_that_empties_a_required_string_is_refused() -> None:
    spec = {
        "templates": [named("work", {"name": "image"}, image="{{params.image}}")],
        "steps": [ref("a", image="")],
    }
    (problem,) = problems(spec)
    assert problem.startswith("spec.steps[0].arguments: with these arguments, template.spec")
    assert 'of template "work" is invalid' in problem


# --- fan-out --------------------------------------------------------------------------------


def test_fan_out_rules_name_the_field() -> None:
    volumes = {"volumes": [{"name": "zen-flow-items", "emptyDir": {}}]}
    template = job_template(**volumes)
    template["spec"]["backoffLimitPerIndex"] = 1
    template["spec"]["template"]["spec"]["restartPolicy"] = "OnFailure"
    template["spec"]["template"]["spec"]["containers"][0]["volumeMounts"] = [
        {"name": "zen-flow-items", "mountPath": "/etc/zen-flow/items/"}
    ]
    spec = {
        "steps": [
            step("make", outputs={"parameters": [{"name": "list"}]}),
            step("a", "make", withItems=[1], withParam={"step": "make", "parameter": "list"}),
            step("b", withParam={"step": "make", "parameter": "list"}),
            step("c", "make", withParam={"step": "make", "parameter": "lst"}),
            step("d", parallelism=2),
            step("e", withItems=["x"], template=template),
            step("f", withItems=["x" * 1000] * 1000),
        ]
    }
    assert problems(spec) == [
        "spec.steps[1].withParam: give withItems or withParam, not both",
        'spec.steps[2].withParam.step: step "make" is not upstream: add it to dependencies',
        'spec.steps[3].withParam.parameter: step "make" declares no output "lst"',
        "spec.steps[4].parallelism: goes with withItems or withParam",
        "spec.steps[5].template.spec.template.spec.restartPolicy: must be Never with "
        "backoffLimitPerIndex",
        "spec.steps[5].template.spec.template.spec.volumes: the volume name "
        '"zen-flow-items" is the items\' own: rename yours',
        "spec.steps[5].template.spec.template.spec.containers[0].volumeMounts: "
        "/etc/zen-flow/items is where the items are mounted: mount yours elsewhere",
        "spec.steps[6].withItems: the items take 976 KiB; at most 900 KiB fit in the "
        "ConfigMap that delivers them",
    ]


def test_too_many_items_is_a_shape_problem() -> None:
    (problem,) = problems({"steps": [step("a", withItems=list(range(20001)))]})
    assert problem.startswith("spec.steps[0].withItems:")


# --- finally --------------------------------------------------------------------------------


def test_step_names_are_unique_across_steps_and_finally() -> None:
    spec = {"steps": [step("a")], "finally": [step("a"), step("b", "b")]}
    assert problems(spec) == [
        'spec.finally[0].name: duplicate step name "a" (also spec.steps[0])',
        'spec.finally[1].dependencies[0]: step "b" depends on itself',
    ]


def test_a_finally_step_reads_any_step_and_the_flow() -> None:
    spec = parse_spec(
        {
            "steps": [step("make", outputs={"parameters": [{"name": "n"}]}), step("use")],
            "finally": [
                step(
                    "report",
                    when="flow.phase == 'Failed' || steps.make.outputs.n == '1'",
                    withParam={"step": "make", "parameter": "n"},
                ),
                step("last", "report", when="flow.reason != 'AllStepsDone'"),
            ],
        }
    )
    assert [s.name for s in spec.all_steps] == ["make", "use", "report", "last"]


def test_flow_fields_are_checked() -> None:
    spec = {"steps": [step("a")], "finally": [step("z", when="flow.phse == 'Failed'")]}
    assert problems(spec) == [
        'spec.finally[0].when: flow has no field "phse": it has phase and reason'
    ]


def test_a_template_with_a_placeholder_naming_nothing_is_refused_for_its_steps_too() -> None:
    spec = {
        "templates": [named("work", {"name": "message"}, image="{{params.mesage}}")],
        "steps": [ref("a", message="hi")],
    }
    assert problems(spec) == [
        "spec.templates[0].template: {{params.mesage}} names no parameter of this template "
        "(declare it under parameters)"
    ]


def test_a_misspelled_flow_phase_names_the_flows_phases() -> None:
    spec = {"steps": [step("a")], "finally": [step("z", when="flow.phase == 'Faild'")]}
    assert problems(spec) == [
        "spec.finally[0].when: 'Faild' is not a phase: the flow's phase is one of Succeeded "
        "or Failed; did you mean 'Failed'?"
    ]
