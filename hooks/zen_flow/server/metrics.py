"""Prometheus metrics of the hooks, correct under several gunicorn workers.

Under gunicorn every worker writes its samples to files in ``PROMETHEUS_MULTIPROC_DIR`` and
``/metrics`` merges them, so any worker answers for all. Labels are bounded: hook, HTTP code
and phase — never a flow's name.
"""

from __future__ import annotations

import os
from collections import Counter as Tally
from collections.abc import Sequence

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
    multiprocess,
)

MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"
LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)


class HookMetrics:
    """The hooks' counters and histograms, registered on a registry of their own."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter(
            "zen_flow_hook_requests",
            "Hook requests by hook and HTTP status code.",
            ["hook", "code"],
            registry=self.registry,
        )
        self.duration = Histogram(
            "zen_flow_hook_request_duration_seconds",
            "Time to answer a hook request.",
            ["hook"],
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.jobs_created = Counter(
            "zen_flow_jobs_created", "Step attempts started (Jobs created).", registry=self.registry
        )
        self.step_transitions = Counter(
            "zen_flow_step_transitions",
            "Steps entering a phase.",
            ["phase"],
            registry=self.registry,
        )
        self.ignored_bookkeeping = Counter(
            "zen_flow_ignored_bookkeeping",
            "Children whose last-applied annotation described another object (ignored).",
            ["kind"],
            registry=self.registry,
        )
        self.flow_transitions = Counter(
            "zen_flow_flow_transitions",
            "Flows entering a phase.",
            ["phase"],
            registry=self.registry,
        )

    def observe_request(self, hook: str, code: int, seconds: float) -> None:
        self.requests.labels(hook=hook, code=str(code)).inc()
        self.duration.labels(hook=hook).observe(seconds)

    def observe_sync(self, jobs_created: int, steps: Tally[str], flow_phase: str | None) -> None:
        if jobs_created:
            self.jobs_created.inc(jobs_created)
        for phase, count in sorted(steps.items()):
            self.step_transitions.labels(phase=phase).inc(count)
        if flow_phase is not None:
            self.flow_transitions.labels(phase=flow_phase).inc()

    def observe_ignored_bookkeeping(self, children: Sequence[str]) -> None:
        """Count children (``"Kind name"``) whose bookkeeping annotation was ignored."""
        for kind, count in sorted(Tally(child.split(" ", 1)[0] for child in children).items()):
            self.ignored_bookkeeping.labels(kind=kind).inc(count)

    def exposition(self) -> bytes:
        """The text format: merged over all workers in multiprocess mode."""
        if os.environ.get(MULTIPROC_ENV):
            merged = CollectorRegistry()
            multiprocess.MultiProcessCollector(merged)  # type: ignore[no-untyped-call]
            return generate_latest(merged)
        return generate_latest(self.registry)
