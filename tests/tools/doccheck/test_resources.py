"""How a kubectl command names resources."""

from __future__ import annotations

import pytest

from zen_flow.tools.doccheck.resources import Target, kind_of, resource_targets


@pytest.mark.parametrize(
    ("resource_type", "kind"),
    [("jf", "JobFlow"), ("FLOWS", "?FLOWS"), ("deploy", "Deployment"), ("jobs.batch", "Job")],
)
def test_kind_of_knows_kubectls_names(resource_type: str, kind: str) -> None:
    assert kind_of(resource_type) == kind


def test_unknown_kinds_are_marked() -> None:
    assert not Target("?widgets", None).known
    assert Target("Pod", None).known


def test_nothing_names_nothing() -> None:
    assert resource_targets([]) == ([], [])


def test_type_slash_name() -> None:
    assert resource_targets(["deploy/hooks", "jobflow/a", "--", "x"]) == (
        [Target("Deployment", "hooks"), Target("JobFlow", "a")],
        ["--", "x"],
    )


def test_type_slash_name_of_an_unknown_type() -> None:
    assert resource_targets(["widgets/a"]) == ([Target("?widgets", "a")], [])


def test_words_with_a_slash_that_are_not_resources_are_the_rest() -> None:
    # e.g. a label key given to annotate: workflow.zen.io/suspended=true
    words = ["jobflow/a", "Workflow/Thing=1"]
    assert resource_targets(words) == ([Target("JobFlow", "a")], ["Workflow/Thing=1"])


def test_type_then_names() -> None:
    assert resource_targets(["jobs", "a", "b"]) == ([Target("Job", "a"), Target("Job", "b")], [])


def test_types_without_names_are_every_object() -> None:
    assert resource_targets(["pods,svc"]) == ([Target("Pod", None), Target("Service", None)], [])


def test_annotations_and_removals_are_not_names() -> None:
    targets, rest = resource_targets(["jobflow", "a", "k=v", "other-"])
    assert targets == [Target("JobFlow", "a")]
    assert rest == ["k=v", "other-"]
