"""Large flows through the real server: named templates with parameters, fan-out over items
as one Indexed Job, and finally steps; each answer also asked twice (the same answer)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from tests.support.flows import T0, job_template, jobflow, step
from zen_flow.tools.sim.jobs import finish_job, is_active
from zen_flow.tools.sim.metacontroller import FakeMetacontroller
from zen_flow.tools.sim.transports import HttpTransport

ITEMS_PATH = "/etc/zen-flow/items"


def steps(cluster: FakeMetacontroller) -> dict[str, dict[str, Any]]:
    return {s["name"]: s for s in cluster.status["steps"]}


def settle(cluster: FakeMetacontroller, http: HttpTransport, calls: int = 3) -> dict[str, Any]:
    answer: dict[str, Any] = {}
    for _ in range(calls):
        answer = cluster.call(http)
    again = cluster.call(http)
    assert again == cluster.call(http), "the same request gives the same answer"
    return answer or again


def finish(cluster: FakeMetacontroller, name: str, ok: bool = True, **kwargs: Any) -> None:
    job = cluster.job(name, steps(cluster)[name]["attempt"])
    assert job is not None, f"no Job of {name}"
    finish_job(cluster, job["metadata"]["name"], ok, **kwargs)


def config_maps(cluster: FakeMetacontroller) -> dict[str, dict[str, Any]]:
    return {name: obj for (kind, name), obj in cluster.children.items() if kind == "ConfigMap"}


def problems(cluster: FakeMetacontroller) -> str:
    (condition,) = [c for c in cluster.status["conditions"] if c["type"] == "InvalidSpec"]
    assert condition["status"] == "True"
    return str(condition["message"])


# --- named templates ------------------------------------------------------------------------


def templated() -> dict[str, Any]:
    work = job_template()
    container = work["spec"]["template"]["spec"]["containers"][0]
    container.update(image="{{ params.image }}", command=["echo", "{{params.message}}"])
    work["metadata"] = {"labels": {"message": "{{params.message}}"}}
    template = {
        "name": "work",
        "parameters": [{"name": "message"}, {"name": "image", "default": "busybox:1.36"}],
        "template": work,
    }
    return jobflow(
        "tpl",
        {"name": "hello", "templateRef": "work", "arguments": {"message": "hi"}},
        {
            "name": "bye",
            "dependencies": ["hello"],
            "templateRef": "work",
            "arguments": {"message": "bye", "image": "alpine:3"},
        },
        step("inline", "hello"),
        templates=[template],
    )


def test_a_named_template_runs_with_each_steps_arguments(http: HttpTransport) -> None:
    cluster = FakeMetacontroller(templated(), T0)
    settle(cluster, http)
    hello = cluster.job("hello")
    assert hello is not None
    (container,) = hello["spec"]["template"]["spec"]["containers"]
    assert (container["image"], container["command"]) == ("busybox:1.36", ["echo", "hi"])
    assert hello["metadata"]["labels"]["message"] == "hi"
    assert hello["metadata"]["labels"]["workflow.zen.io/step"] == "hello"
    assert hello["metadata"]["name"].startswith("tpl-hello-1-")
    finish(cluster, "hello")
    settle(cluster, http)
    bye = cluster.job("bye")
    assert bye is not None
    (container,) = bye["spec"]["template"]["spec"]["containers"]
    assert (container["image"], container["command"]) == ("alpine:3", ["echo", "bye"])
    assert cluster.job("inline") is not None, "an inline template still works"


def test_unknown_and_missing_arguments_are_invalid_spec_naming_the_field(
    http: HttpTransport,
) -> None:
    flow = templated()
    flow["spec"]["steps"][0]["arguments"] = {"mesage": "hi"}
    flow["spec"]["steps"][1]["templateRef"] = "wrok"
    cluster = FakeMetacontroller(flow, T0)
    settle(cluster, http)
    assert cluster.status["reason"] == "InvalidSpec"
    message = problems(cluster)
    assert 'spec.steps[0].arguments.mesage: not a parameter of template "work"' in message
    assert 'spec.steps[0].arguments: template "work" needs a value for "message"' in message
    assert 'spec.steps[1].templateRef: unknown template "wrok"' in message
    assert cluster.jobs() == []


def test_arguments_that_make_a_label_invalid_are_refused(http: HttpTransport) -> None:
    flow = templated()
    flow["spec"]["steps"][0]["arguments"] = {"message": "not a label value!"}
    cluster = FakeMetacontroller(flow, T0)
    settle(cluster, http)
    assert 'spec.steps[0].templateRef.metadata.labels["message"]' in problems(cluster)


# --- fan-out --------------------------------------------------------------------------------


def fan_out(**fields: Any) -> dict[str, Any]:
    return jobflow(
        "fan", step("each", withItems=["a", 2, {"k": "v"}], **fields), step("after", "each")
    )


def test_with_items_is_one_indexed_job_reading_its_item_from_a_config_map(
    http: HttpTransport,
) -> None:
    cluster = FakeMetacontroller(fan_out(parallelism=2), T0)
    settle(cluster, http)
    assert len(cluster.jobs()) == 1
    job = cluster.job("each")
    assert job is not None
    spec = job["spec"]
    assert (spec["completionMode"], spec["completions"], spec["parallelism"]) == ("Indexed", 3, 2)
    (volume,) = spec["template"]["spec"]["volumes"]
    (container,) = spec["template"]["spec"]["containers"]
    assert container["volumeMounts"] == [
        {"name": "zen-flow-items", "mountPath": ITEMS_PATH, "readOnly": True}
    ]
    ((name, items),) = config_maps(cluster).items()
    assert volume == {"name": "zen-flow-items", "configMap": {"name": name}}
    assert name.startswith("fan-each-items-")
    assert items["immutable"] is True
    assert items["data"] == {"0": "a", "1": "2", "2": '{"k":"v"}'}
    assert steps(cluster)["each"]["items"] == {"total": 3, "succeeded": 0}
    finish(cluster, "each")
    settle(cluster, http)
    each = steps(cluster)["each"]
    assert (each["phase"], each["items"]) == ("Succeeded", {"total": 3, "succeeded": 3})
    assert cluster.job("after") is not None


def test_failed_indexes_fail_the_attempt_and_a_retry_runs_every_item_again(
    http: HttpTransport,
) -> None:
    template = job_template()
    template["spec"]["backoffLimitPerIndex"] = 1
    flow = fan_out(template=template, retryPolicy={"limit": 1, "backoff": {"duration": "1s"}})
    cluster = FakeMetacontroller(flow, T0)
    settle(cluster, http)
    finish(cluster, "each", False, reason="FailedIndexes", failed_indexes="1")
    answer = settle(cluster, http)
    each = steps(cluster)["each"]
    assert each["items"] == {"total": 3, "succeeded": 2, "failedIndexes": "1"}
    assert each["failedAttempts"][0]["reason"] == "FailedIndexes"
    cluster.now += timedelta(seconds=answer["resyncAfterSeconds"])
    settle(cluster, http)
    retry = cluster.job("each", 2)
    assert retry is not None and retry["spec"]["completions"] == 3
    assert len(config_maps(cluster)) == 1, "the same items: the same ConfigMap"
    assert steps(cluster)["each"]["items"] == {"total": 3, "succeeded": 0}
    finish(cluster, "each")
    settle(cluster, http)
    assert steps(cluster)["each"]["phase"] == "Succeeded"


def test_a_failed_fan_out_with_continue_on_failure_lets_the_flow_go_on(
    http: HttpTransport,
) -> None:
    cluster = FakeMetacontroller(fan_out(continueOnFailure=True), T0)
    settle(cluster, http)
    finish(cluster, "each", False, failed_indexes="0-2")
    settle(cluster, http)
    assert steps(cluster)["each"]["items"]["failedIndexes"] == "0-2"
    assert cluster.job("after") is not None


def param_flow(value: str) -> dict[str, Any]:
    return jobflow(
        "param",
        step("list", outputs={"parameters": [{"name": "files"}]}),
        step("each", "list", withParam={"step": "list", "parameter": "files"}),
    )


def test_with_param_fans_out_over_an_upstream_json_list(http: HttpTransport) -> None:
    cluster = FakeMetacontroller(param_flow(""), T0)
    settle(cluster, http)
    finish(cluster, "list", outputs={"files": ["x.csv", "y.csv"]})
    settle(cluster, http)
    job = cluster.job("each")
    assert job is not None and job["spec"]["completions"] == 2
    ((_, items),) = config_maps(cluster).items()
    assert items["data"] == {"0": "x.csv", "1": "y.csv"}


def test_with_param_of_no_items_succeeds_without_a_job(http: HttpTransport) -> None:
    cluster = FakeMetacontroller(param_flow(""), T0)
    settle(cluster, http)
    finish(cluster, "list", outputs={"files": []})
    settle(cluster, http)
    each = steps(cluster)["each"]
    assert (each["phase"], each["reason"], each["items"]) == (
        "Succeeded",
        "NoItems",
        {"total": 0, "succeeded": 0},
    )
    assert cluster.job("each") is None
    assert cluster.status["phase"] == "Succeeded"


def test_with_param_that_is_no_list_fails_the_step_saying_why(http: HttpTransport) -> None:
    cluster = FakeMetacontroller(param_flow(""), T0)
    settle(cluster, http)
    finish(cluster, "list", outputs={"files": {"not": "a list"}})
    settle(cluster, http)
    each = steps(cluster)["each"]
    assert (each["phase"], each["reason"]) == ("Failed", "InvalidItems")
    assert 'output "files" of step "list" is a JSON object, not a list' in each["message"]


def test_fan_out_fields_the_job_cannot_have_are_invalid_spec(http: HttpTransport) -> None:
    template = job_template()
    template["spec"].update(completions=3, maxFailedIndexes=1)
    cluster = FakeMetacontroller(fan_out(template=template, outputs={"parameters": []}), T0)
    settle(cluster, http)
    message = problems(cluster)
    assert "spec.steps[0].template.spec.completions: set by withItems/withParam" in message
    assert "spec.steps[0].template.spec.maxFailedIndexes: goes with backoffLimitPerIndex" in message
    assert "spec.steps[0].outputs: a step that fans out has no outputs" in message


# --- finally --------------------------------------------------------------------------------


def with_finally(*main: dict[str, Any], **spec: Any) -> dict[str, Any]:
    final = [
        step("cleanup"),
        step("report", "cleanup", when="flow.phase == 'Failed'"),
    ]
    return jobflow("fin", *(main or (step("a"), step("b", "a"))), **{"finally": final, **spec})


def test_finally_steps_run_after_success_and_read_the_outcome(http: HttpTransport) -> None:
    cluster = FakeMetacontroller(with_finally(), T0)
    settle(cluster, http)
    assert steps(cluster)["cleanup"]["reason"] == "WaitingForDependencies"
    finish(cluster, "a")
    settle(cluster, http)
    assert cluster.job("cleanup") is None, "finally waits for every step"
    finish(cluster, "b")
    settle(cluster, http)
    assert cluster.job("cleanup") is not None
    assert (cluster.status["phase"], cluster.status["reason"]) == ("Running", "RunningFinally")
    finish(cluster, "cleanup")
    settle(cluster, http)
    report = steps(cluster)["report"]
    assert (report["phase"], report["reason"]) == ("Skipped", "ConditionFalse")
    assert (cluster.status["phase"], cluster.status["reason"]) == ("Succeeded", "AllStepsDone")
    assert cluster.status["progress"]["summary"] == "4/4"


def test_finally_steps_run_after_a_failure_which_stays_the_outcome(http: HttpTransport) -> None:
    cluster = FakeMetacontroller(with_finally(), T0)
    settle(cluster, http)
    finish(cluster, "a", False)
    settle(cluster, http)
    assert steps(cluster)["b"]["phase"] == "Skipped"
    assert "spec.steps failed" in cluster.status["message"]
    finish(cluster, "cleanup")
    settle(cluster, http)
    finish(cluster, "report")
    settle(cluster, http)
    status = cluster.status
    assert (status["phase"], status["reason"]) == ("Failed", "StepFailed")
    assert status["message"].startswith('step "a" failed')


def test_a_failed_finally_step_fails_a_flow_that_succeeded(http: HttpTransport) -> None:
    cluster = FakeMetacontroller(with_finally(step("a")), T0)
    settle(cluster, http)
    finish(cluster, "a")
    settle(cluster, http)
    finish(cluster, "cleanup", False)
    settle(cluster, http)
    status = cluster.status
    assert steps(cluster)["report"]["reason"] == "UpstreamFailed"
    assert (status["phase"], status["reason"]) == ("Failed", "FinallyStepFailed")
    assert 'finally step "cleanup" failed' in status["message"]


def test_finally_steps_run_after_the_deadline_and_are_not_bound_by_it(
    http: HttpTransport,
) -> None:
    flow = with_finally(step("a"), executionPolicy={"activeDeadlineSeconds": 10})
    cluster = FakeMetacontroller(flow, T0)
    settle(cluster, http)
    cluster.now += timedelta(seconds=11)
    finish(cluster, "a", False, reason="DeadlineExceeded")
    settle(cluster, http)
    cleanup = cluster.job("cleanup")
    assert cleanup is not None
    assert "activeDeadlineSeconds" not in cleanup["spec"]
    finish(cluster, "cleanup")
    settle(cluster, http)
    finish(cluster, "report")
    settle(cluster, http)
    assert (cluster.status["phase"], cluster.status["reason"]) == ("Failed", "DeadlineExceeded")


def test_terminate_skips_the_finally_steps(http: HttpTransport) -> None:
    cluster = FakeMetacontroller(with_finally(), T0)
    settle(cluster, http)
    cluster.flow["metadata"]["annotations"] = {"workflow.zen.io/terminate": "true"}
    settle(cluster, http)
    assert steps(cluster)["cleanup"]["reason"] == "Terminated"
    assert [j for j in cluster.jobs() if is_active(j)] == []
    assert cluster.status["reason"] == "Terminated"


def test_a_rerun_runs_the_finally_steps_again(http: HttpTransport) -> None:
    cluster = FakeMetacontroller(with_finally(step("a")), T0)
    settle(cluster, http)
    finish(cluster, "a", False)
    settle(cluster, http)
    finish(cluster, "cleanup")
    settle(cluster, http)
    finish(cluster, "report")
    settle(cluster, http)
    assert cluster.status["phase"] == "Failed"
    cluster.flow["metadata"]["annotations"] = {"workflow.zen.io/rerun": "1"}
    settle(cluster, http)
    assert cluster.job("a", 2) is not None
    assert steps(cluster)["cleanup"]["phase"] == "Pending"
    finish(cluster, "a")
    settle(cluster, http)
    assert cluster.job("cleanup", 2) is not None
    finish(cluster, "cleanup")
    settle(cluster, http)
    assert steps(cluster)["report"]["reason"] == "ConditionFalse"
    assert cluster.status["phase"] == "Succeeded"


def test_finally_rules_are_invalid_spec_naming_the_field(http: HttpTransport) -> None:
    flow = jobflow(
        "bad",
        step("a", when="flow.phase == 'Failed'"),
        step("b", "z"),
        **{"finally": [step("z", "a"), {"name": "ok", "type": "Approval"}]},
    )
    cluster = FakeMetacontroller(flow, T0)
    settle(cluster, http)
    message = problems(cluster)
    assert "spec.steps[0].when: reads flow" in message
    assert 'spec.steps[1].dependencies[0]: "z" is a finally step' in message
    assert 'spec.finally[0].dependencies[0]: "a" is a step of spec.steps' in message
    assert "spec.finally[1].type: a finally step runs a Job" in message
