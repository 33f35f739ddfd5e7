"""The ``zen-flow`` command: lint, graph and simulate, offline, with the hooks' own code."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml
from click.testing import CliRunner, Result

from zen_flow.tools import cli
from zen_flow.tools.sim.run import StopReason, simulate
from zen_flow.tools.sim.scenario import Outcome, Scenario
from zen_flow.tools.sim.timeline import Event, EventKind


def job_template(**spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "spec": {
            **spec,
            "template": {
                "spec": {
                    "restartPolicy": "Never",
                    "containers": [{"name": "main", "image": "busybox:1.36"}],
                }
            },
        },
    }


def step(name: str, *dependencies: str, **extra: Any) -> dict[str, Any]:
    return {"name": name, "dependencies": list(dependencies), "template": job_template(), **extra}


def jobflow(name: str, *steps: dict[str, Any], **spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": "workflow.zen.io/v1alpha1",
        "kind": "JobFlow",
        "metadata": {"name": name},
        "spec": {**spec, "steps": list(steps)},
    }


DIAMOND = jobflow("diamond", step("a"), step("b", "a"), step("c", "a"), step("d", "b", "c"))
FIXED_RETRY = {"limit": 2, "backoff": {"type": "Fixed", "duration": "30s"}}


def write(tmp_path: Path, name: str, *documents: Any) -> str:
    path = tmp_path / name
    path.write_text(yaml.safe_dump_all(documents, sort_keys=False))
    return str(path)


def run(*args: str, input: str | None = None) -> Result:
    return CliRunner().invoke(cli.main, list(args), input=input)


def assert_no_traceback(result: Result) -> None:
    assert "Traceback" not in result.output
    assert "Traceback" not in result.stderr


def timeline(result: Result) -> list[str]:
    """The timeline lines, with the offset column's padding collapsed."""
    return [" ".join(line.split()) for line in result.stdout.splitlines() if line.startswith("+")]


# --- lint ------------------------------------------------------------------------------------


def test_lint_accepts_a_valid_flow(tmp_path: Path) -> None:
    path = write(tmp_path, "flow.yaml", DIAMOND)
    result = run("lint", path)
    assert result.exit_code == 0, result.output
    assert result.stdout == ""
    assert "ok: 1 JobFlow in 1 file" in result.stderr


BAD_NAMES = """\
apiVersion: workflow.zen.io/v1alpha1
kind: JobFlow
metadata:
  name: Bad_Name
spec:
  steps:
    - name: extract
      template: {spec: {template: {spec: {containers: [{name: m, image: busybox:1.36}]}}}}
    - name: load
      dependencies: [extract, lod]
      template: {spec: {template: {spec: {containers: [{name: m, image: busybox:1.36}]}}}}
    - name: load
      template: {spec: {template: {spec: {containers: [{name: m, image: busybox:1.36}]}}}}
"""


def test_lint_reports_each_problem_at_its_line_and_column_with_its_path(tmp_path: Path) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text(BAD_NAMES)
    result = run("lint", str(path))
    assert result.exit_code == 1
    assert result.stdout.splitlines() == [
        f"{path}:4:9: metadata.name: 'Bad_Name' is not a valid name: lowercase letters, "
        "digits, '-' and '.', starting and ending with a letter or digit, at most 253 "
        "characters",
        f'{path}:10:31: spec.steps[1].dependencies[1]: unknown step "lod" (did you mean "load"?)',
        f'{path}:12:13: spec.steps[2].name: duplicate step name "load" (also spec.steps[1])',
    ]
    assert_no_traceback(result)


def test_lint_checks_every_jobflow_of_a_multi_document_file(tmp_path: Path) -> None:
    config_map = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "x"}}
    typo = {**jobflow("typo", step("a")), "kind": "JobFlo"}
    cycle = jobflow("cycle", step("a", "b"), step("b", "a"))
    path = write(tmp_path, "many.yaml", DIAMOND, config_map, typo, cycle)
    result = run("lint", path)
    assert result.exit_code == 1
    lines = Path(path).read_text().splitlines()
    typo_line = lines.index("kind: JobFlo") + 1
    cycle_steps = len(lines) - lines[::-1].index("  steps:")
    assert result.stdout.splitlines() == [
        f"{path}:{typo_line}:7: kind: unknown kind 'JobFlo' in workflow.zen.io (expected JobFlow)",
        f"{path}:{cycle_steps}:3: spec.steps: dependency cycle: a -> b -> a",
    ]


def test_lint_json_output_lists_problems(tmp_path: Path) -> None:
    good = write(tmp_path, "good.yaml", DIAMOND)
    bad = write(tmp_path, "bad.yaml", jobflow("bad", step("a", "a")))
    result = run("lint", "--output", "json", good, bad)
    assert result.exit_code == 1
    assert json.loads(result.stdout) == [
        {
            "file": bad,
            "line": 9,
            "column": 7,
            "document": 1,
            "path": "spec.steps[0].dependencies[0]",
            "message": 'step "a" depends on itself',
        }
    ]
    assert json.loads(run("lint", "-o", "json", good).stdout) == []


def test_lint_reports_a_yaml_syntax_error_as_one_line_with_its_line(tmp_path: Path) -> None:
    path = tmp_path / "broken.yaml"
    path.write_text("apiVersion: workflow.zen.io/v1alpha1\nkind: JobFlow\nspec: [unclosed\n")
    result = run("lint", str(path))
    assert result.exit_code == 1
    [line] = result.stdout.splitlines()
    assert line.startswith(f"{path}:4:1: YAML syntax error")
    assert_no_traceback(result)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            "metadata:\n\tname: x\n",
            ":2:1: YAML syntax error: while scanning for the next token "
            "found character that cannot start any token (a tab: YAML indents with spaces only)",
        ),
        (
            "metadata:\n  name: x: y\n",
            ":2:10: YAML syntax error: mapping values are not "
            'allowed in this context (quote a value that contains ": ")',
        ),
        (
            'metadata:\n  name: "x\n',
            ":2:9: YAML syntax error: while scanning a quoted scalar "
            "found unexpected end of stream (a quoted string that is never closed)",
        ),
        (
            "metadata:\n  name: x\n spec: {}\n",
            ":3:2: YAML syntax error: while parsing a block "
            "mapping did not find expected key (check this line's indentation)",
        ),
    ],
)
def test_a_yaml_syntax_error_says_what_usually_causes_it(
    tmp_path: Path, text: str, expected: str
) -> None:
    path = tmp_path / "broken.yaml"
    path.write_text(text)
    assert run("lint", str(path)).stdout == f"{path}{expected}\n"


def test_lint_reads_stdin_and_reports_unreadable_files(tmp_path: Path) -> None:
    result = run("lint", "-", input=yaml.safe_dump(DIAMOND))
    assert result.exit_code == 0, result.output
    missing = str(tmp_path / "missing.yaml")
    result = run("lint", missing)
    assert result.exit_code == 1
    assert result.stdout.strip() == f"{missing}: cannot read: No such file or directory"


def test_lint_ignores_other_objects_and_says_so(tmp_path: Path) -> None:
    path = write(tmp_path, "cm.yaml", {"apiVersion": "v1", "kind": "ConfigMap"})
    result = run("lint", path)
    assert result.exit_code == 0
    assert "no JobFlow in this file" in result.stderr


DUPLICATE_KEY = """\
apiVersion: workflow.zen.io/v1alpha1
kind: JobFlow
metadata:
  name: twice
spec:
  steps:
    - name: a
      template: {spec: {template: {spec: {containers: [{name: m, image: busybox:1.36}]}}}}
    - name: b
      template: {spec: {template: {spec: {containers: [{name: m, image: busybox:1.36}]}}}}
    - name: c
      dependencies: [a]
      dependencies: [b]
      template: {spec: {template: {spec: {containers: [{name: m, image: busybox:1.36}]}}}}
"""


def test_lint_refuses_a_key_given_twice_at_its_line(tmp_path: Path) -> None:
    path = tmp_path / "twice.yaml"
    path.write_text(DUPLICATE_KEY)
    result = run("lint", str(path))
    assert result.exit_code == 1
    assert result.stdout.splitlines() == [
        f'{path}:13:7: spec.steps[2].dependencies: key "dependencies" given twice '
        "(first at line 12): only the last one would be used"
    ]


WHEN_IN_EVERY_STYLE = """\
apiVersion: workflow.zen.io/v1alpha1
kind: JobFlow
metadata:
  name: styles
spec:
  steps:
    - name: a
      template: {spec: {template: {spec: {containers: [{name: m, image: busybox:1.36}]}}}}
    - name: plain
      dependencies: [a]
      when: steps.a.phase = 'Succeeded'
      template: {spec: {template: {spec: {containers: [{name: m, image: busybox:1.36}]}}}}
    - name: quoted
      dependencies: [a]
      when: "steps.a.phse == 'Succeeded'"
      template: {spec: {template: {spec: {containers: [{name: m, image: busybox:1.36}]}}}}
    - name: literal
      dependencies: [a]
      when: |
        steps.a.phase == 'Succeeded' &&
          steps.a.phase = 'Failed'
      template: {spec: {template: {spec: {containers: [{name: m, image: busybox:1.36}]}}}}
    - name: folded
      dependencies: [a]
      when: >-
        steps.a.phase == 'Succeeded' &&
        steps.a.outputs.x.y == 'z'
      template: {spec: {template: {spec: {containers: [{name: m, image: busybox:1.36}]}}}}
"""


def test_lint_points_into_a_when_at_the_character_the_problem_is_about(tmp_path: Path) -> None:
    path = tmp_path / "styles.yaml"
    path.write_text(WHEN_IN_EVERY_STYLE)
    result = run("lint", str(path))
    assert result.exit_code == 1
    places = [line.split(": ")[0].removeprefix(f"{path}:") for line in result.stdout.splitlines()]
    # the "=", the "phse", the "=" on the block's second line, the "y" after outputs.x
    assert places == ["11:27", "15:22", "21:25", "27:27"]
    assert "does not parse as CEL: line 2, column 17" in result.stdout


def test_lint_locates_problems_inside_a_list(tmp_path: Path) -> None:
    listed = {
        "apiVersion": "v1",
        "kind": "List",
        "items": [DIAMOND, jobflow("bad", step("a", "x"))],
    }
    path = write(tmp_path, "list.yaml", listed)
    result = run("lint", path)
    assert result.exit_code == 1
    [line] = result.stdout.splitlines()
    number = Path(path).read_text().splitlines().index("      - x") + 1
    assert line == f'{path}:{number}:9: items[1].spec.steps[0].dependencies[0]: unknown step "x"'


def with_resources(name: str, **metadata: Any) -> dict[str, Any]:
    flow = jobflow(name, step("a"))
    flow["metadata"] = metadata or {"name": name}
    flow["spec"]["resourceTemplates"] = {
        "configMapTemplates": [{"metadata": {"name": "settings"}, "data": {"k": "v"}}]
    }
    return flow


def test_lint_refuses_a_flow_whose_copies_could_not_be_named(tmp_path: Path) -> None:
    path = write(tmp_path, "long.yaml", with_resources("f" * 250))
    result = run("lint", path)
    assert result.exit_code == 1
    [line] = result.stdout.splitlines()
    assert (
        "spec.resourceTemplates.configMapTemplates[0].metadata.name: the flow's copy "
        f'"{"f" * 28}...{"f" * 19}-settings" would have 259 characters, more than the 253 a '
        "name may have: shorten the flow's name (250 characters) or this one (8)"
    ) in line
    fits = write(tmp_path, "fits.yaml", with_resources("f" * 244))
    assert run("lint", fits).exit_code == 0


def test_a_flow_named_by_the_api_server_is_linted_drawn_and_simulated(tmp_path: Path) -> None:
    path = write(tmp_path, "gen.yaml", with_resources("", generateName="nightly-etl-"))
    assert run("lint", path).exit_code == 0
    drawn = run("graph", path)
    assert drawn.stdout.splitlines()[0] == "JobFlow nightly-etl-(generated): 1 step in 1 layer"
    simulated = run("simulate", path)
    assert simulated.exit_code == 0, simulated.output
    header = simulated.stdout.splitlines()[0]
    assert header.startswith("Simulating JobFlow nightly-etl-")
    name = header.split()[2].rstrip(":")
    assert len(name) == len("nightly-etl-") + 5
    assert f"ConfigMap {name}-settings created" in simulated.stdout
    assert f"Job {name}-a-1-" in simulated.stdout
    assert run("simulate", path).stdout == simulated.stdout
    long = write(tmp_path, "long.yaml", with_resources("", generateName="g" * 250))
    assert "more than the 253 a name may have" not in run("lint", long).stdout  # cut to 58
    bad = write(tmp_path, "bad.yaml", with_resources("", generateName="Nightly-"))
    assert "metadata.generateName: 'Nightly-' cannot start a valid name" in run("lint", bad).stdout


# --- graph -----------------------------------------------------------------------------------


def with_status(tmp_path: Path) -> str:
    """The diamond as `kubectl get -o yaml` shows it mid-run: a done, b failed, c running, d
    skipped (b failed)."""
    scenario = Scenario(outcomes={"b": (Outcome.FAIL,)}, durations={"c": 100.0}, max_time=30.0)
    result = simulate(DIAMOND, scenario)
    assert result.stop is StopReason.MAX_TIME
    return write(tmp_path, "live.yaml", {**DIAMOND, "status": result.status})


def test_graph_text_lists_steps_layer_by_layer(tmp_path: Path) -> None:
    result = run("graph", write(tmp_path, "flow.yaml", DIAMOND))
    assert result.exit_code == 0, result.output
    assert [" ".join(line.split()) for line in result.stdout.splitlines()] == [
        "JobFlow diamond: 4 steps in 3 layers",
        "layer 1",
        "a",
        "layer 2",
        "b after a",
        "c after a",
        "layer 3",
        "d after b, c",
    ]


def test_graph_text_with_status_marks_each_step(tmp_path: Path) -> None:
    result = run("graph", with_status(tmp_path), "--status")
    assert result.exit_code == 0, result.output
    lines = [" ".join(line.split()) for line in result.stdout.splitlines()]
    assert lines[0] == "JobFlow diamond: Running, 3/4 steps done"
    assert "✓ a Succeeded (JobComplete)" in lines
    assert any(line.startswith("✗ b Failed") for line in lines)
    assert "⟳ c Running (JobRunning) after a" in lines
    assert "⊘ d Skipped (UpstreamFailed) after b, c" in lines


def test_graph_mermaid_draws_edges_and_colours_phases(tmp_path: Path) -> None:
    plain = run("graph", "--format", "mermaid", write(tmp_path, "flow.yaml", DIAMOND))
    assert plain.exit_code == 0, plain.output
    lines = [line.strip() for line in plain.stdout.splitlines()]
    assert lines[0] == "flowchart TD"
    assert {'n0["a"]', "n0 --> n1", "n0 --> n2", "n1 --> n3", "n2 --> n3"} <= set(lines)
    assert not any(line.startswith("classDef") for line in lines)
    live = run("graph", "-f", "mermaid", "--status", with_status(tmp_path))
    lines = [line.strip() for line in live.stdout.splitlines()]
    assert 'n0["✓ a"]' in lines
    assert "class n0 succeeded" in lines
    assert "class n1 failed" in lines
    assert "class n2 running" in lines
    assert "class n3 skipped" in lines
    assert any(line.startswith("classDef failed fill:") for line in lines)


def test_graph_dot_draws_a_digraph_filled_by_phase(tmp_path: Path) -> None:
    plain = run("graph", "--format", "dot", write(tmp_path, "flow.yaml", DIAMOND))
    assert plain.exit_code == 0, plain.output
    assert plain.stdout.startswith('digraph "diamond" {')
    assert '"a" -> "b";' in plain.stdout
    assert '"c" -> "d";' in plain.stdout
    assert "fillcolor" not in plain.stdout
    live = run("graph", "-f", "dot", "--status", with_status(tmp_path)).stdout
    assert '"a" [label="a\\nSucceeded (JobComplete)", style="rounded,filled"' in live
    assert 'fillcolor="#ffe3e3"' in live  # b failed


def test_graph_status_flag_needs_a_status(tmp_path: Path) -> None:
    path = write(tmp_path, "flow.yaml", DIAMOND)
    result = run("graph", path, "--status")
    assert result.exit_code == 1
    assert result.stderr.strip() == (
        f"zen-flow: error: {path}: the JobFlow has no .status "
        "(save one with kubectl get jobflow NAME -o yaml)"
    )


def test_graph_of_an_invalid_flow_prints_its_problems(tmp_path: Path) -> None:
    path = write(tmp_path, "bad.yaml", jobflow("bad", step("a", "ghost")))
    result = run("graph", path)
    assert result.exit_code == 1
    assert result.stderr.strip() == (
        f'{path}:9:7: spec.steps[0].dependencies[0]: unknown step "ghost"'
    )
    assert_no_traceback(result)


# --- simulate --------------------------------------------------------------------------------


def test_simulate_runs_a_flow_to_success(tmp_path: Path) -> None:
    path = write(tmp_path, "flow.yaml", DIAMOND)
    result = run("simulate", path)
    assert result.exit_code == 0, result.output
    lines = timeline(result)
    assert lines[0] == "+0s step a: Pending -> Running (JobCreated)"
    assert any(
        line.startswith("+0s Job diamond-a-1-") and line.endswith("created (step a, attempt 1)")
        for line in lines
    )
    assert "+0s flow Pending -> Running (Started)" in lines
    assert "+20s step d: Pending -> Running (JobCreated)" in lines
    assert lines[-1] == "+30s flow Running -> Succeeded (AllStepsDone)"
    assert "flow diamond Succeeded (AllStepsDone) at +30s" in result.stdout
    assert "progress: 4/4 steps done (4 succeeded, 0 failed, 0 skipped)" in result.stdout
    assert run("simulate", path).stdout == result.stdout  # the same run, the same timeline


def test_simulate_retries_with_fixed_backoff_then_fails(tmp_path: Path) -> None:
    flow = jobflow("retry", step("a", retryPolicy=FIXED_RETRY), step("b", "a"))
    path = write(tmp_path, "flow.yaml", flow)
    result = run("simulate", path, "--outcome", "a=fail,fail,fail")
    assert result.exit_code == 3, result.output
    lines = timeline(result)
    created = [line for line in lines if "created (step a" in line]
    assert [line.split()[0] for line in created] == ["+0s", "+40s", "+1m20s"]
    assert "+10s step a: retry 1 of 2 in 30s (at +40s)" in lines
    assert "+50s step a: retry 2 of 2 in 30s (at +1m20s)" in lines
    assert any(
        line.startswith("+1m30s step a: Running -> Failed (RetryLimitReached") for line in lines
    )
    assert any(
        line.startswith("+1m30s step b: Pending -> Skipped (UpstreamFailed") for line in lines
    )
    assert "flow retry Failed (StepFailed) at +1m30s" in result.stdout
    rows = {line.split()[0]: line.split() for line in result.stdout.splitlines()[-2:]}
    assert rows["a"][1:] == ["Failed", "RetryLimitReached", "3"]
    assert rows["b"][1:] == ["Skipped", "UpstreamFailed", "0"]


def test_simulate_retry_that_succeeds_counts_attempts(tmp_path: Path) -> None:
    flow = jobflow("retry", step("a", retryPolicy=FIXED_RETRY))
    result = simulate(flow, Scenario(outcomes={"a": (Outcome.FAIL, Outcome.SUCCEED)}))
    assert result.phase == "Succeeded"
    [state] = result.status["steps"]
    assert (state["attempt"], state["retryCount"]) == (2, 1)
    finished = [e.at for e in result.events if e.kind is EventKind.JOB_SUCCEEDED]
    assert finished == [50.0]  # failed at 10s, retried at 40s, ran 10s


def test_simulate_suspends_and_resumes(tmp_path: Path) -> None:
    path = write(tmp_path, "flow.yaml", jobflow("pause", step("a"), step("b", "a")))
    args = ["--default-duration", "30s", "--suspend-at", "10s", "--resume-at", "1m"]
    result = run("simulate", path, *args)
    assert result.exit_code == 0, result.output
    lines = timeline(result)
    assert '+10s flow suspended (workflow.zen.io/suspended="true")' in lines
    assert any(
        line.startswith("+10s Job pause-a-1-") and "suspended (step a" in line for line in lines
    )
    assert "+10s flow Running -> Suspended (Suspended)" in lines
    assert "+1m0s flow resumed (workflow.zen.io/suspended removed)" in lines
    assert any(
        line.startswith("+1m0s Job pause-a-1-") and "resumed (step a" in line for line in lines
    )
    # The pods start again on resume: the Job runs its 30s from there.
    assert any(line.startswith("+1m30s Job pause-a-1-") and "succeeded" in line for line in lines)
    assert lines[-1] == "+2m0s flow Running -> Succeeded (AllStepsDone)"


def test_simulate_reports_progress_of_long_runs_on_stderr(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(cli, "PROGRESS_EVERY_SYNCS", 4)
    result = run("simulate", write(tmp_path, "flow.yaml", DIAMOND))
    assert result.exit_code == 0
    progress = [line for line in result.stderr.splitlines() if line.startswith("...")]
    assert progress
    assert progress[0].endswith("syncs") and "steps done" in progress[0]
    assert not any(line.startswith("...") for line in result.stdout.splitlines())


def test_simulate_tells_each_event_as_it_happens() -> None:
    told: list[Event] = []
    told_by_tick: list[int] = []
    result = simulate(
        DIAMOND,
        Scenario(),
        progress=lambda tick: told_by_tick.append(len(told)),
        events=told.append,
    )
    assert told == result.events
    # Each instant's events are told before the instant's progress, not all at the end.
    assert told_by_tick[0] < len(told) and told_by_tick == sorted(told_by_tick)
    assert told_by_tick[-1] == len(told)


def test_simulate_pads_offsets_to_the_longest_the_run_can_reach(tmp_path: Path) -> None:
    path = write(tmp_path, "flow.yaml", DIAMOND)
    lines = [line for line in run("simulate", path).stdout.splitlines() if line.startswith("+")]
    assert lines[0].startswith("+0s".ljust(len("+24h0m0s")) + "  step a:")
    short = run("simulate", path, "--max-time", "59s").stdout.splitlines()
    assert "+0s   step a: Pending -> Running (JobCreated)" in short


def test_simulate_suspended_for_good_stops_with_exit_code_4(tmp_path: Path) -> None:
    path = write(tmp_path, "flow.yaml", jobflow("pause", step("a")))
    result = run("simulate", path, "--suspend-at", "5s")
    assert result.exit_code == 4
    assert "nothing more happens after +5s: flow pause Suspended" in result.stdout


def test_simulate_timeout_outcome_fails_at_the_deadline(tmp_path: Path) -> None:
    flow = jobflow("slow", step("a", timeoutSeconds=20))
    path = write(tmp_path, "flow.yaml", flow)
    result = run("simulate", path, "--outcome", "a=timeout", "--default-duration", "1h")
    assert result.exit_code == 3, result.output
    lines = timeline(result)
    assert any(
        line.startswith("+20s Job slow-a-1-") and "failed: DeadlineExceeded (step a" in line
        for line in lines
    )
    assert any(
        line.startswith("+20s step a: Running -> Failed (DeadlineExceeded") for line in lines
    )


def test_simulate_max_time_stops_a_long_run(tmp_path: Path) -> None:
    path = write(tmp_path, "flow.yaml", DIAMOND)
    result = run("simulate", path, "--default-duration", "1h", "--max-time", "90m")
    assert result.exit_code == 4
    assert "stopped at --max-time 1h30m0s: flow diamond Running (Started)" in result.stdout


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--outcome", "nope=fail"], '--outcome: unknown step "nope" (steps: a, b, c, d)'),
        (["--default-duration", "0s"], "--default-duration must be more than 0s"),
        (["--outcome", "a=explode"], 'unknown outcome "explode" (use succeed, fail, timeout)'),
        (["--duration", "a=soon"], 'invalid duration "soon"'),
        (["--resume-at", "10s"], "--resume-at needs --suspend-at"),
    ],
)
def test_simulate_option_errors_are_one_line(tmp_path: Path, args: list[str], message: str) -> None:
    result = run("simulate", write(tmp_path, "flow.yaml", DIAMOND), *args)
    assert result.exit_code == 2
    assert message in result.stderr
    assert result.stdout == "", "nothing runs, and no header, when an option is wrong"
    assert len(result.stderr.strip().splitlines()) <= 4  # click's usage line, hint and error
    assert_no_traceback(result)


def test_simulate_exit_codes_tell_each_outcome_apart(tmp_path: Path) -> None:
    flow = write(tmp_path, "flow.yaml", jobflow("codes", step("a")))
    invalid = write(tmp_path, "invalid.yaml", jobflow("codes", step("a", "ghost")))
    assert run("simulate", flow).exit_code == 0
    assert run("simulate", invalid).exit_code == 1
    assert run("simulate", flow, "--outcome", "a=explode").exit_code == 2
    assert run("simulate", flow, "--outcome", "ghost=fail").exit_code == 2
    assert run("simulate", flow, "--outcome", "a=fail").exit_code == 3
    assert run("simulate", flow, "--suspend-at", "1s").exit_code == 4
    assert run("simulate", flow, "--max-time", "5s").exit_code == 4


def test_simulate_of_a_file_without_one_jobflow_is_an_error(tmp_path: Path) -> None:
    path = write(tmp_path, "two.yaml", DIAMOND, DIAMOND)
    result = run("simulate", path)
    assert result.exit_code == 1
    assert result.stderr.strip() == (
        f"{path}: 2 JobFlows in the file (at lines 1 and 60); "
        "put the one to use in a file of its own"
    )


def test_missing_file_is_one_line_without_traceback(tmp_path: Path) -> None:
    missing = str(tmp_path / "missing.yaml")
    result = run("simulate", missing)
    assert result.exit_code == 1
    assert result.stderr == f"{missing}: cannot read: No such file or directory\n"


def test_unexpected_errors_are_one_line_unless_debug(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(*args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("boom\nsecond line")

    monkeypatch.setattr(cli, "simulate", broken)
    path = write(tmp_path, "flow.yaml", DIAMOND)
    result = run("simulate", path)
    assert result.exit_code == 70
    assert result.stderr.strip().splitlines()[-1] == (
        "zen-flow: error: unexpected RuntimeError: boom second line "
        "(run with --debug for the traceback)"
    )
    assert_no_traceback(result)
    debug = run("--debug", "simulate", path)
    assert isinstance(debug.exception, RuntimeError)


# --- the installed command -------------------------------------------------------------------


@pytest.mark.slow
def test_installed_console_script_runs(tmp_path: Path) -> None:
    command = shutil.which("zen-flow", path=os.path.dirname(sys.executable))
    assert command is not None, "the project is not installed (make .venv/.installed)"
    path = write(tmp_path, "flow.yaml", DIAMOND)
    done = subprocess.run(
        [command, "simulate", path], capture_output=True, text=True, timeout=120, check=False
    )
    assert done.returncode == 0, done.stderr
    assert "flow diamond Succeeded (AllStepsDone) at +30s" in done.stdout
    lint = subprocess.run(
        [command, "lint", path], capture_output=True, text=True, timeout=120, check=False
    )
    assert lint.returncode == 0, lint.stderr


def test_the_help_lists_the_exit_codes() -> None:
    text = run("--help").stdout
    for code, meaning in [
        ("0", "all good"),
        ("1", "the input has problems"),
        ("2", "wrong usage"),
        ("3", "simulate: the flow Failed"),
        ("4", "simulate: the flow did not finish"),
        ("70", "an unexpected error"),
    ]:
        assert any(line.split()[:1] == [code] and meaning in line for line in text.splitlines())
    assert [cli.EXIT_OK, cli.EXIT_PROBLEMS, cli.EXIT_USAGE] == [0, 1, 2]
    assert [cli.EXIT_FAILED, cli.EXIT_UNFINISHED, cli.EXIT_BUG] == [3, 4, 70]
