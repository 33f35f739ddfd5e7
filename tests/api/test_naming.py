"""Child names and label values."""

from __future__ import annotations

import re

from zen_flow.api.naming import job_name, job_name_bound, label_value, resource_name

DNS1123_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")


def test_job_name_is_readable_and_deterministic() -> None:
    name = job_name("etl", "uid-1", "extract", 1)
    assert name.startswith("etl-extract-1-")
    assert name == job_name("etl", "uid-1", "extract", 1)
    assert DNS1123_LABEL.match(name)


def test_long_names_are_cut_to_63_characters_and_stay_unique() -> None:
    flow = "f" * 60
    step = "s" * 50
    names = {job_name(flow, "uid-1", step, attempt) for attempt in range(1, 20)}
    assert len(names) == 19
    for name in names:
        assert len(name) <= 63
        assert DNS1123_LABEL.match(name)


def test_names_that_concatenate_alike_do_not_collide() -> None:
    assert job_name("a-b", "uid-1", "c", 1) != job_name("a", "uid-2", "b-c", 1)
    # even with the same uid (not possible for two flows, but the hash covers the names)
    assert job_name("a-b", "uid", "c", 1) != job_name("a", "uid", "b-c", 1)


def test_a_recreated_flow_gets_new_job_names() -> None:
    assert job_name("etl", "uid-old", "extract", 1) != job_name("etl", "uid-new", "extract", 1)


def test_the_bound_of_a_job_name_holds_without_hashing() -> None:
    cases = [("etl", "load"), ("f" * 40, "step-0001"), ("nightly", "s" * 63)]
    for flow, step in cases:
        lengths = [len(job_name(flow, "uid", step, attempt)) for attempt in (1, 10, 999)]
        assert max(lengths) <= job_name_bound(flow, step)
        assert lengths[-1] == job_name_bound(flow, step), "tight for attempt 999"
    assert job_name_bound("etl", "load", attempt=1) == len(job_name("etl", "uid", "load", 1))


def test_label_values_fit() -> None:
    assert label_value("short") == "short"
    long = "x" * 200
    value = label_value(long)
    assert len(value) <= 63
    assert value != label_value("x" * 199)
    assert value[-1].isalnum()


def test_resource_name() -> None:
    assert resource_name("etl", "scratch") == "etl-scratch"
