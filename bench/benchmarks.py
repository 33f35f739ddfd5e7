"""The benchmarks, one function each; ``run.py`` runs them all and writes the report.

1. ``sync_costs``: the pure path (warm and cold), the floors and the HTTP round trip for
   every shape, size and progress.
2. The floor ratios and the growth exponents are derived from (1) by ``report.py``.
3. ``throughput``: syncs per second through gunicorn under concurrent clients.
4. Status size: part of (1), for every request.
5. ``memory``: peak RSS of a fresh worker handling the largest request, and the gunicorn
   workers' own peaks after (1).
7. ``simulations``: ``zen-flow simulate`` of large flows, as a user runs it.
And ``profile``: where the time of the largest sync goes.
"""

from __future__ import annotations

import cProfile
import gc
import io
import os
import pstats
import re
import resource
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from bench import fixtures, measure, memory, server
from bench.fixtures import Fixture
from bench.flows import SHAPES, items_flow, jobflow
from bench.hostile import QUICK_HOSTILE, HostileConfig
from bench.measure import Budget, Stats


@dataclass(frozen=True)
class Config:
    """What to measure and how long to spend on each measurement."""

    sizes: tuple[int, ...] = (10, 100, 1000, 5000)
    shapes: tuple[str, ...] = SHAPES
    progress: tuple[int, ...] = fixtures.PROGRESS
    pure_seconds: float = 1.5
    floor_seconds: float = 1.0
    typed_seconds: float = 0.5
    http_seconds: float = 1.5
    least: int = 5
    most: int = 200
    http: bool = True
    throughput_sizes: tuple[int, ...] = (10, 100)
    throughput_shape: str = "layered"
    throughput_clients: int = 4
    throughput_seconds: float = 10.0
    throughput_max_requests: int = 50_000
    status_sizes: tuple[int, ...] = (1000, 5000)
    gc_threshold: int = 50_000
    gc_shape: str = "layered"
    hostile: HostileConfig = field(default_factory=HostileConfig)
    # (shape, steps) simulated with ``zen-flow simulate``; a flow has at most 5000 steps;
    # "items" is one step over that many items.
    simulations: tuple[tuple[str, int], ...] = (
        ("chain", 500),
        ("chain", 2000),
        ("chain", 5000),
        ("fan-out", 5000),
        ("items", 10_000),
    )

    def budget(self, seconds: float) -> Budget:
        return Budget(seconds, self.least, self.most)


QUICK = Config(
    sizes=(5, 20),
    pure_seconds=0.1,
    floor_seconds=0.1,
    typed_seconds=0.1,
    http_seconds=0.1,
    least=2,
    most=20,
    throughput_sizes=(5,),
    throughput_clients=2,
    throughput_seconds=0.5,
    throughput_max_requests=50,
    status_sizes=(20,),
    hostile=QUICK_HOSTILE,
    simulations=(("chain", 20), ("fan-out", 30), ("items", 30)),
)


@dataclass(frozen=True)
class SyncRow:
    """Everything measured for one request."""

    shape: str
    steps: int
    progress: int
    jobs: int
    request_bytes: int
    response_bytes: int
    parent_bytes: int
    spec_bytes: int
    status_bytes: int
    warm: Stats
    cold: Stats
    floor: Stats
    typed: Stats
    http: Stats | None

    @property
    def label(self) -> str:
        return f"{self.shape}/{self.steps}/{self.progress}%"


@dataclass
class Kept:
    """The requests later benchmarks reuse: the largest ones, and the throughput ones."""

    largest: dict[str, Fixture] = field(default_factory=dict)  # by shape, 50 % progress
    biggest_running: Fixture | None = None  # the largest request of a flow still running
    throughput: dict[int, Fixture] = field(default_factory=dict)
    by_size: dict[int, Fixture] = field(default_factory=dict)  # the GC shape at 50 %, by size
    finished_step: dict[str, Any] | None = None  # one step's status, largest flow at 100 %


def all_fixtures(config: Config, log: Callable[[str], None]) -> Iterator[Fixture]:
    """Every request of the matrix, built one at a time (the large ones are tens of MB)."""
    for steps in config.sizes:
        for shape in config.shapes:
            for progress in config.progress:
                log(f"building {shape}/{steps}/{progress}%")
                yield fixtures.build(shape, steps, progress)


def sync_cost(config: Config, fixture: Fixture, hook: server.Server | None) -> SyncRow:
    """Benchmark 1 (and 4) for one request: pure path warm and cold, floors, HTTP."""
    response = measure.response_of(fixture)
    status = measure.status_of(fixture)
    # Interleaved, so that the ratios to the floors are of samples taken side by side.
    seconds = 2 * config.pure_seconds + config.floor_seconds + config.typed_seconds
    warm, cold, floor, typed = measure.repeat_together(
        [
            measure.pure_path(fixture),
            measure.pure_path(fixture, cold=True),
            measure.floor(fixture),
            measure.typed_floor(fixture),
        ],
        config.budget(seconds),
    )
    http = None
    if hook is not None:
        http = measure.repeat(
            lambda: server.round_trip(hook, fixture.body, fixture.now),
            config.budget(config.http_seconds),
        )
    return SyncRow(
        shape=fixture.shape,
        steps=fixture.steps,
        progress=fixture.progress,
        jobs=fixture.jobs,
        request_bytes=len(fixture.body),
        response_bytes=len(response),
        parent_bytes=measure.parent_bytes(fixture),
        spec_bytes=len(measure.spec_json(fixture)),
        status_bytes=measure.compact_size(status),
        warm=warm,
        cold=cold,
        floor=floor,
        typed=typed,
        http=http,
    )


def keep(config: Config, kept: Kept, fixture: Fixture) -> None:
    """Hold on to the requests the later benchmarks need."""
    largest = max(config.sizes)
    if fixture.steps == largest and fixture.progress == 50:
        kept.largest[fixture.shape] = fixture
    if fixture.steps == largest and fixture.progress < 100:
        current = kept.biggest_running
        if current is None or len(fixture.body) > len(current.body):
            kept.biggest_running = fixture
    if (
        fixture.steps in config.throughput_sizes
        and fixture.shape == config.throughput_shape
        and fixture.progress == 50
    ):
        kept.throughput[fixture.steps] = fixture
    if fixture.shape == config.gc_shape and fixture.progress == 50:
        kept.by_size[fixture.steps] = fixture
    if fixture.steps == largest and fixture.progress == 100 and kept.finished_step is None:
        kept.finished_step = measure.status_of(fixture)["steps"][-1]


@dataclass(frozen=True)
class ThroughputRow:
    steps: int
    request_bytes: int
    load: server.Load


def throughput(config: Config, kept: Kept, hook: server.Server) -> list[ThroughputRow]:
    """Benchmark 3: concurrent clients posting the same request for a while."""
    rows = []
    for steps, fixture in sorted(kept.throughput.items()):
        result = server.load(
            hook,
            fixture.body,
            fixture.now,
            clients=config.throughput_clients,
            seconds=config.throughput_seconds,
            max_requests=config.throughput_max_requests,
        )
        rows.append(ThroughputRow(steps, len(fixture.body), result))
    return rows


@dataclass(frozen=True)
class MemoryResult:
    label: str
    fresh: memory.Memory
    workers_kib: list[int]


def memory_use(kept: Kept, hook: server.Server | None) -> MemoryResult | None:
    """Benchmark 5: a fresh worker's peak RSS on the largest running request, and the
    gunicorn workers' peaks after all the requests they answered."""
    fixture = kept.biggest_running
    if fixture is None:
        return None
    fresh = memory.worker_peak(fixture.body, fixture.now)
    workers: list[int] = []
    if hook is not None:
        workers = [
            kib for pid in hook.worker_pids() if (kib := server.peak_rss_kib(pid)) is not None
        ]
    return MemoryResult(fixture.label, fresh, workers)


@dataclass(frozen=True)
class Profile:
    label: str
    cold: bool
    total: float
    top: list[tuple[str, int, float, float]]  # function, calls, own seconds, cumulative


def profile(fixture: Fixture, cold: bool, entries: int = 12) -> Profile:
    """Where one sync's time goes (cProfile, sorted by time spent in the function itself)."""
    call = measure.pure_path(fixture, cold=cold)
    call()  # warm: imports, caches
    profiler = cProfile.Profile()
    if cold:
        measure.forget_flows()
    profiler.enable()
    measure.pure_path(fixture)()
    profiler.disable()
    stats = pstats.Stats(profiler, stream=io.StringIO())
    raw = stats.stats  # type: ignore[attr-defined]
    total = max(cumulative for (_, _, _, cumulative, _) in raw.values())
    rows = sorted(raw.items(), key=lambda item: item[1][2], reverse=True)[:entries]
    top = [
        (_function_name(where), calls, own, cumulative)
        for where, (_, calls, own, cumulative, _) in rows
    ]
    return Profile(fixture.label, cold, total, top)


def _function_name(where: tuple[str, int, str]) -> str:
    """``zen_flow/plan.py:97(<dictcomp>)``, ``copy.py:128(deepcopy)``: paths cut to the package."""
    path, line, name = where
    if path == "~":
        return name
    if "/zen_flow/" in path:
        path = "zen_flow/" + path.split("/zen_flow/", 1)[1]
    elif "/site-packages/" in path:
        path = path.split("/site-packages/", 1)[1]
    else:
        path = re.sub(r"^.*/lib/python3\.\d+/", "", path)
    return f"{path}:{line}({name})"


@dataclass(frozen=True)
class GcRow:
    label: str
    steps: int
    threshold: int
    default_warm: Stats
    raised_warm: Stats
    default_cold: Stats
    raised_cold: Stats


def gc_sensitivity(config: Config, kept: Kept) -> list[GcRow]:
    """The pure path with the collector's default thresholds and with a raised first
    generation, at every size: how much of a sync, and of its growth, is garbage collection."""
    budget = config.budget(config.pure_seconds)
    rows = []
    for steps, fixture in sorted(kept.by_size.items()):
        results = []
        for cold in (False, True):
            call = measure.pure_path(fixture, cold=cold)
            results.append(measure.repeat(call, budget))
            raised = measure.with_gc_threshold(config.gc_threshold, call)
            results.append(measure.repeat(raised, budget))
        gc.collect()
        rows.append(GcRow(fixture.label, steps, config.gc_threshold, *results))
    return rows


@dataclass(frozen=True)
class SimulationRow:
    """One run of ``zen-flow simulate``: what it printed, and how long it took."""

    shape: str
    steps: int
    syncs: int
    lines: int  # lines of the timeline
    first_line: float  # seconds from the start of the command to the first timeline line
    seconds: float  # the whole command, start to exit
    cpu_seconds: float
    outcome: str  # the summary's headline

    @property
    def label(self) -> str:
        return f"{self.shape}/{self.steps}"


_SYNCS = re.compile(r"after (\d+) syncs?")


def simulations(config: Config, log: Callable[[str], None]) -> list[SimulationRow]:
    """Benchmark 7: ``zen-flow simulate FILE`` of each flow of ``config.simulations`` (every
    Job succeeds after 10 s), in a process of its own, its timeline read as it is printed."""
    command = Path(sys.executable).parent / "zen-flow"
    rows = []
    with tempfile.TemporaryDirectory() as folder:
        for shape, steps in config.simulations:
            path = Path(folder) / f"{shape}-{steps}.yaml"
            flow = items_flow(steps) if shape == "items" else jobflow(shape, steps)
            path.write_text(yaml.dump(flow, Dumper=_Dumper, sort_keys=False))
            log(f"simulate {shape}/{steps}")
            rows.append(_simulated(str(command), shape, steps, path))
    return rows


_Dumper: Any = getattr(yaml, "CSafeDumper", yaml.SafeDumper)


def _simulated(command: str, shape: str, steps: int, path: Path) -> SimulationRow:
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    first_line: float | None = None
    lines = 0
    output = []
    with subprocess.Popen(
        [command, "simulate", str(path)],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    ) as process:
        assert process.stdout is not None
        for line in process.stdout:
            if line.startswith("+"):
                lines += 1
                if first_line is None:
                    first_line = time.perf_counter() - started
            else:
                output.append(line)
    seconds = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if process.returncode not in (0, 3, 4):  # Succeeded, Failed, not finished: outcomes
        raise RuntimeError(f"zen-flow simulate {path.name} exited with {process.returncode}")
    text = "".join(output)
    headline = next((line for line in output if line.startswith("flow ")), "").strip()
    syncs = _SYNCS.search(text)
    return SimulationRow(
        shape=shape,
        steps=steps,
        syncs=int(syncs.group(1)) if syncs else 0,
        lines=lines,
        first_line=first_line if first_line is not None else seconds,
        seconds=seconds,
        cpu_seconds=(after.ru_utime + after.ru_stime) - (before.ru_utime + before.ru_stime),
        outcome=headline.split(" at ")[0],
    )


Log = Callable[[str], None]


def stderr_log(text: str) -> None:
    print(text, file=sys.stderr, flush=True)
