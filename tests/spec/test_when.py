"""``when`` conditions cost bounded time and memory, whoever writes them."""

from __future__ import annotations

import gc
import json
import tracemalloc
import weakref

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
    source = " || ".join(f"steps.a.outputs.x == 'S{terms}-{i}'" for i in range(terms))
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


@pytest.mark.parametrize("how", ["cleared", "evicted"])
def test_a_spec_the_cache_lets_go_of_is_freed(how: str, monkeypatch: pytest.MonkeyPatch) -> None:
    flows = [jobflow("f", step("a"), step(f"b{i}", "a")) for i in range(3)]
    datas = [json.dumps(flow["spec"]).encode() for flow in flows]
    validation.clear_cache()
    if how == "evicted":  # room for one spec: each new one pushes the one before out
        per_step = validation.SPEC_BYTES_PER_STEP + validation.SPEC_DERIVED_BYTES_PER_STEP
        one = validation.SPEC_BYTES_PER_JSON_BYTE * max(map(len, datas)) + 2 * per_step
        monkeypatch.setattr(validation, "_specs", validation._Specs(one))
    spec = validation.parse_spec(datas[0])
    validation.step_order(spec)
    kept = weakref.ref(spec)
    del spec
    if how == "cleared":
        validation.clear_cache()
    else:
        for data in datas[1:]:
            validation.step_order(validation.parse_spec(data))
    gc.collect()
    assert kept() is None


# --- messages a user reads ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("source", "message"),
    [
        (
            "steps.a.phase = 'Succeeded'",
            'does not parse as CEL: column 15: found "=" where an operator (e.g. ==, !=, <, '
            "in, &&, ||) or the end of the condition was expected (write == to compare)",
        ),
        (
            "steps.a.phase == 'Succeeded' and steps.b.phase == 'Failed'",
            'does not parse as CEL: column 30: found "and" where an operator (e.g. ==, !=, <, '
            "in, &&, ||) or the end of the condition was expected (CEL writes && for and)",
        ),
        (
            "(steps.a.phase == 'Succeeded'",
            'does not parse as CEL: column 30: found the end of the condition where ")" was '
            "expected",
        ),
        (
            "steps.a.phase == 'Succeeded",
            "does not parse as CEL: column 18: found a string that is never closed where a "
            "value (e.g. steps.extract.phase, 'Succeeded', 3, true, or '(') was expected (end "
            "a string with the quote that starts it)",
        ),
        (
            "steps.a.phase == 'Succeeded' &&\n  steps.b.phase = 'Failed'",
            'does not parse as CEL: line 2, column 17: found "="',
        ),
    ],
)
def test_a_syntax_error_says_where_and_what_was_expected_in_one_line(
    source: str, message: str
) -> None:
    with pytest.raises(WhenError) as raised:
        compile_when(source)
    assert str(raised.value).startswith(message)
    assert "\n" not in str(raised.value)


@pytest.mark.parametrize(
    ("source", "message"),
    [
        (
            "steps.a.phse == 'Succeeded'",
            'steps.a has no field "phse": a step has phase and outputs.<parameter>; '
            "did you mean steps.a.phase?",
        ),
        (
            "steps.a.status == 'Succeeded'",
            'steps.a has no field "status": a step has phase and outputs.<parameter>',
        ),
        (
            "steps.a.phase",
            "gives a string, steps.a.phase, not true or false: compare it, "
            "e.g. steps.a.phase == 'Succeeded'",
        ),
        (
            "steps.a.outputs.rows",
            "gives a string, steps.a.outputs.rows, not true or false: compare it, "
            "e.g. steps.a.outputs.rows == 'yes'",
        ),
        (
            "steps.a.phase == 'Succeeded' ? 'yes' : 'no'",
            "gives a string, 'no', not true or false",
        ),
        ("size(steps.a.outputs.rows)", "gives a number (size()), not true or false"),
        (
            "steps.a",
            "steps.a is a step, not a value: read steps.a.phase or steps.a.outputs.<parameter>",
        ),
        ("steps.a.phase.length == 1", 'steps.a.phase is a string: it has no field "length"'),
        (
            "steps.load-db.phase == 'Succeeded'",
            "steps.load-db.phase reads as steps.load minus db.phase: write a step name with "
            "a dash as steps['load-db'].phase",
        ),
        (
            "steps.a.phase == 'Succeded'",
            "'Succeded' is not a phase: a step's phase is one of Pending, Running, Succeeded, "
            "Failed or Skipped; did you mean 'Succeeded'?",
        ),
        ("steps.a.phase in ['Succeeded', 'skipped']", "'skipped' is not a phase"),
    ],
)
def test_what_can_only_fail_at_run_time_is_refused_before(source: str, message: str) -> None:
    with pytest.raises(WhenError) as raised:
        compile_when(source)
    assert str(raised.value).startswith(message)


@pytest.mark.parametrize(
    "source",
    [
        "steps['a'].phase in ['Succeeded', 'Skipped']",
        "'Failed' != steps.a.phase",
        "steps['a']['phase'] == 'Failed'",
        "has(steps.a.outputs.rows) && steps.a.outputs['rows'] == '3'",
        "steps.a.phase == 'Succeeded' ? true : steps.a.outputs.x.startsWith('y')",
        "size(steps.a.outputs) > 0",
    ],
)
def test_what_a_step_has_is_accepted_in_every_form(source: str) -> None:
    assert compile_when(source).steps == frozenset({"a"})


def test_a_structural_problem_is_reported_before_a_wrong_phase() -> None:
    with pytest.raises(WhenError, match="quoted step name"):
        compile_when("steps['a' + ''].phase == 'a'")


def test_a_pattern_re2_cannot_compile_is_refused_before_it_runs(
    capfd: pytest.CaptureFixture[str],
) -> None:
    with pytest.raises(WhenError) as raised:
        compile_when("steps.a.outputs.v.matches('^v[0-9+$')")
    assert str(raised.value) == ("matches('^v[0-9+$'): not a regular expression: missing ]: [0-9+$")
    assert capfd.readouterr().err == "", "the regular expression library stays quiet"
    assert compile_when("matches(steps.a.outputs.v, '^v[0-9]+$')").steps == {"a"}


def test_reading_an_output_that_is_not_there_says_how_to_guard_it() -> None:
    condition = compile_when("steps.a.outputs.rows == '3'")
    with pytest.raises(WhenError) as raised:
        condition.evaluate({"a": {"phase": "Succeeded", "outputs": {}}})
    assert str(raised.value) == (
        'evaluating "steps.a.outputs.rows == \'3\'": no output "rows" (outputs are not '
        "collected yet); test for one with has(), e.g. has(steps.<name>.outputs.rows)"
    )
