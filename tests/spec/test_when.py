"""``when`` conditions cost bounded time and memory, whoever writes them."""

from __future__ import annotations

import json
import tracemalloc

import pytest

from tests.support.flows import jobflow, step
from zen_flow.api.spec import MAX_WHEN_LENGTH
from zen_flow.spec import validation, when
from zen_flow.spec.when import WhenError, compile_when

TERM = "steps.a.phase == 'Succeeded'"


@pytest.mark.parametrize(
    ("source", "fragment"),
    [
        ("[1, 2].exists(x, x > 1)", "the macro 'exists' is not allowed"),
        ("[1, 2].all(x, x > 1)", "the macro 'all' is not allowed"),
        ("[1, 2].map(x, x * 2).size() > 1", "the macro 'map' is not allowed"),
        ("steps.a.outputs.x.lowerAscii() == 'y'", "the function 'lowerAscii' is not allowed"),
        ("timestamp(steps.a.outputs.t) > timestamp('2020-01-01T00:00:00Z')", "'timestamp'"),
        ("Msg{field: 1} == Msg{field: 1}", "building a message"),
        (".steps.a.phase == 'x'", "starting with '.'"),
        ("(" * 40 + "true" + ")" * 40, "nested more than"),
        (" || ".join([TERM] * 80), f"at most {MAX_WHEN_LENGTH}"),
    ],
)
def test_constructs_without_a_bound_are_refused(source: str, fragment: str) -> None:
    with pytest.raises(WhenError, match=fragment):
        compile_when(source)


@pytest.mark.parametrize(
    "source",
    [
        "steps.a.outputs.x.startsWith('v') && steps.a.outputs.x.endsWith('1')",
        "steps.a.outputs.x.contains('v') || steps.a.outputs.x.matches('^v[0-9]+$')",
        "size(steps.a.outputs.x) == 2 && int(steps.a.outputs.n) + 1 > 3",
        "has(steps.a.outputs.x) && steps.a.phase in ['Succeeded', 'Skipped']",
        "string(double(steps.a.outputs.n) * 2.0) == '6.0' ? true : false",
    ],
)
def test_the_bounded_language_is_enough_to_say_what_flows_need(source: str) -> None:
    condition = compile_when(source)
    assert condition.steps == frozenset({"a"})
    outputs = {"x": "v1", "n": "3"}
    assert condition.evaluate({"a": {"phase": "Succeeded", "outputs": outputs}}) is True


def test_the_longest_condition_allowed_compiles_and_evaluates() -> None:
    terms = (MAX_WHEN_LENGTH + 4) // (len(TERM) + 4)
    source = " || ".join([TERM] * terms)
    assert len(source) <= MAX_WHEN_LENGTH
    condition = compile_when(source)
    assert condition.evaluate({"a": {"phase": "Failed", "outputs": {}}}) is False


def test_failures_are_remembered_too() -> None:
    with pytest.raises(WhenError) as first:
        compile_when("steps.a.phase = 'x'")
    with pytest.raises(WhenError) as second:
        compile_when("steps.a.phase = 'x'")
    assert first.value is second.value


def measured(build: object) -> int:
    tracemalloc.start()
    try:
        before = tracemalloc.take_snapshot()
        kept = build() if callable(build) else None
        after = tracemalloc.take_snapshot()
    finally:
        tracemalloc.stop()
    assert kept is not None
    return sum(stat.size_diff for stat in after.compare_to(before, "filename"))


@pytest.mark.parametrize("terms", [1, 10, 60])
def test_the_program_cache_counts_at_least_what_a_program_holds(terms: int) -> None:
    """The caches are bounded by estimated bytes: the estimate must not be below the truth."""
    source = " || ".join(f"steps.a.phase == 'S{terms}-{i}'" for i in range(terms))
    when.clear_caches()
    actual = measured(lambda: when._program(source))
    assert when._program(source).size >= actual


@pytest.mark.parametrize("steps", [10, 300])
def test_the_spec_cache_counts_at_least_what_a_spec_holds(steps: int) -> None:
    flow = jobflow("f", *[step(f"s{i}", *([f"s{i - 1}"] if i else [])) for i in range(steps)])
    data = json.dumps(flow["spec"]).encode()
    validation.clear_cache()

    def validated_and_ordered() -> object:
        spec = validation.parse_spec(data)
        validation.step_order(spec)
        validation.steps_by_name(spec)
        return spec

    actual = measured(validated_and_ordered)
    estimate = validation.SPEC_BYTES_PER_JSON_BYTE * len(data)
    per_step = validation.SPEC_BYTES_PER_STEP + validation.SPEC_DERIVED_BYTES_PER_STEP
    assert estimate + per_step * steps >= actual
    assert validation.cache_bytes() == estimate + per_step * steps
