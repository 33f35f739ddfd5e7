"""The benchmark code keeps working: every benchmark runs at tiny sizes. No timing asserted."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import cachetools
import pytest

from bench import fixtures, flows, measure, report, run, sections
from bench.benchmarks import QUICK
from zen_flow.api.labels import ANNOTATION_LAST_APPLIED, CHILD_JOBS
from zen_flow.engine.cache import Cache
from zen_flow.engine.sync import sync
from zen_flow.engine.wire import decode_request
from zen_flow.spec.validation import parse_spec

# Runs the benchmarks at tiny sizes, with a server: slow.
pytestmark = pytest.mark.slow


@pytest.mark.parametrize("shape", flows.SHAPES)
def test_benchmark_flows_are_valid(shape: str) -> None:
    flow = flows.jobflow(shape, 30)
    spec = parse_spec(flow["spec"])
    assert len(spec.steps) == 30
    assert spec.steps[0].dependencies == []
    if shape != "layered":
        assert all(len(step.dependencies) == 1 for step in spec.steps[1:])


def test_layered_dag_is_the_same_every_time() -> None:
    assert flows.dependencies("layered", 50) == flows.dependencies("layered", 50)
    layers = flows.dependencies("layered", 49)  # layers of 7
    assert all(deps == [] for deps in layers[:7])
    # Every later step depends on 1-3 steps of the layer just above.
    assert all(
        1 <= len(deps) <= 3 and all(d // 7 == i // 7 - 1 for d in deps)
        for i, deps in enumerate(layers[7:], 7)
    )


@pytest.mark.parametrize("progress", [0, 50, 100])
def test_fixture_is_a_metacontroller_request_with_api_server_jobs(progress: int) -> None:
    fixture = fixtures.build("fan-out", 20, progress)
    request = json.loads(fixture.body)
    assert set(request) == {"controller", "parent", "children", "related", "finalizing"}
    children = request["children"][CHILD_JOBS]
    # 0 %: only the root runs; 50 %: root and 9 leaves done, the other 10 leaves started.
    assert fixture.jobs == len(children) == (1 if progress == 0 else 20)
    job = next(iter(children.values()))
    meta = job["metadata"]
    assert {
        "uid",
        "resourceVersion",
        "creationTimestamp",
        "ownerReferences",
        "managedFields",
    } <= set(meta)
    assert meta["labels"]["controller-uid"] == request["parent"]["metadata"]["uid"]
    assert (
        json.loads(meta["annotations"][ANNOTATION_LAST_APPLIED])["metadata"]["name"] == meta["name"]
    )
    assert (
        job["spec"]["selector"]["matchLabels"]["batch.kubernetes.io/controller-uid"] == meta["uid"]
    )
    assert "uncountedTerminatedPods" in job["status"]
    assert 3000 <= len(json.dumps(job, separators=(",", ":"))) <= 8000
    done = sum(1 for s in request["parent"]["status"]["steps"] if s["phase"] == "Succeeded")
    assert done == {0: 0, 50: 10, 100: 20}[progress]


def test_hook_answers_a_fixture_with_every_job() -> None:
    fixture = fixtures.build("layered", 25, 50)
    answer = sync(decode_request(fixture.body), fixture.now).response
    assert len(answer.children) >= fixture.jobs
    assert answer.status["progress"]["completedSteps"] >= 12


AnyCache = Cache[Any, Any] | cachetools.Cache[Any, Any]


def _caches() -> dict[str, AnyCache]:
    """Every module-level cache of the hook's packages, by where it is."""
    found: dict[str, AnyCache] = {}
    for name, module in list(sys.modules.items()):
        if name.startswith("zen_flow."):
            for attribute, value in vars(module).items():
                if isinstance(value, Cache | cachetools.Cache):
                    found[f"{name}.{attribute}"] = value
    return found


def test_a_cold_sync_finds_every_cache_of_the_hook_empty() -> None:
    fixture = fixtures.build("layered", 25, 50)
    measure.pure_path(fixture)()
    filled = {where for where, cache in _caches().items() if _size(cache)}
    # Specs, conditions, children, status entries and identities were all cached.
    assert len(filled) >= 5, filled
    measure.forget_flows()
    assert {where: _size(cache) for where, cache in _caches().items() if _size(cache)} == {}


def _size(cache: AnyCache) -> int:
    return cache.bytes if isinstance(cache, Cache) else len(cache)


def test_statistics() -> None:
    assert measure.percentile([1.0, 2.0, 3.0, 4.0, 5.0], 50) == 3.0
    assert measure.percentile([1.0, 2.0], 99) == pytest.approx(1.99)
    stats = measure.Stats.of([3.0, 1.0, 2.0])
    assert (stats.p50, stats.n) == (2.0, 3)
    assert measure.fitted_exponent([(10, 20.0), (100, 200.0), (1000, 2000.0)]) == pytest.approx(1.0)
    assert measure.fitted_exponent([(10, 100.0), (100, 10000.0)]) == pytest.approx(2.0)
    assert measure.Budget(1.0, least=3, most=10).repetitions(0.001) == 10
    assert measure.Budget(1.0, least=3, most=10).repetitions(5.0) == 3


def test_every_benchmark_runs_at_tiny_sizes(tmp_path: Path) -> None:
    """The whole run, gunicorn, load generator, memory probe and profile included."""
    results = run.run(QUICK, "bench/run.py --quick", log=lambda _: None)
    assert len(results.rows) == len(QUICK.sizes) * 3 * 3
    assert all(row.http is not None and row.http.n >= QUICK.least for row in results.rows)
    [load] = results.throughput
    assert load.load.requests > 0
    assert load.load.errors == 0
    assert results.memory is not None
    assert results.memory.fresh.peak_kib >= results.memory.fresh.loaded_kib > 0
    assert [p.cold for p in results.profiles] == [False, True]
    assert results.gc is not None
    assert [(row.label, row.outcome) for row in results.simulations] == [
        ("chain/20", "flow bench-chain-20 Succeeded (AllStepsDone)"),
        ("fan-out/30", "flow bench-fan-out-30 Succeeded (AllStepsDone)"),
        ("items/30", "flow bench-items-30 Succeeded (AllStepsDone)"),
    ]
    assert all(0 < row.first_line <= row.seconds for row in results.simulations)
    assert results.simulations[0].lines > 20 and results.simulations[0].syncs >= 60
    text = report.markdown(results)
    headings = ("## 1.", "## 2.", "## 3.", "## 4.", "## 5.", "## 7.", "## Profile", "CPU:")
    for heading in (*headings, "Python:"):
        assert heading in text
    assert "layered/20/50%" in report.terminal(results)


def test_command_line_writes_the_report(tmp_path: Path) -> None:
    target = tmp_path / "BENCHMARKS.md"
    assert run.main(["--quick", "--no-http", "--sizes", "6", "--write", str(target)]) == 0
    written = target.read_text()
    assert written.startswith("# Benchmarks")
    assert "chain/6/50%" in written


def test_the_report_keeps_the_section_written_on_a_real_control_plane(tmp_path: Path) -> None:
    target = tmp_path / "BENCHMARKS.md"
    target.write_text(sections.replace("# Benchmarks\n\nold figures\n", "e2e", "## Real\n\n42 s"))
    assert run.main(["--quick", "--no-http", "--sizes", "6", "--write", str(target)]) == 0
    written = target.read_text()
    assert "old figures" not in written and "chain/6/50%" in written
    assert sections.extract(written, "e2e") == sections.extract(
        sections.replace("", "e2e", "## Real\n\n42 s"), "e2e"
    )
    # And the other way round: rewriting the section leaves the rest alone.
    rewritten = sections.replace(written, "e2e", "## Real\n\n41 s")
    assert rewritten.replace("41 s", "42 s") == written
