"""Run every benchmark and print the tables; with ``--write PATH``, write the report there.

.venv/bin/python bench/run.py                          # the full matrix (several minutes)
.venv/bin/python bench/run.py --quick                  # tiny sizes, a few seconds
.venv/bin/python bench/run.py --write docs/BENCHMARKS.md   # what `make bench` runs
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
import time
from collections.abc import Sequence
from contextlib import ExitStack
from pathlib import Path

if not __package__:  # run as a script (python bench/run.py): make ``bench`` importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench import benchmarks, hostile, measure, report, sections, server
from bench.benchmarks import QUICK, Config, Kept


def run(
    config: Config, command: str, log: benchmarks.Log = benchmarks.stderr_log
) -> report.Results:
    """Every benchmark, in one run, against one gunicorn server."""
    started = time.perf_counter()
    rows = []
    kept = Kept()
    with ExitStack() as stack:
        hook = stack.enter_context(server.gunicorn()) if config.http else None
        if hook is not None:
            log(f"gunicorn on 127.0.0.1:{hook.port}, workers {hook.worker_pids()}")
        for fixture in benchmarks.all_fixtures(config, log):
            row = benchmarks.sync_cost(config, fixture, hook)
            warm, cold, floor = (report.ms(s.p50) for s in (row.warm, row.cold, row.floor))
            log(
                f"  {row.label}: {report.size(row.request_bytes)}, "
                f"warm {warm} ms, cold {cold} ms, floor {floor} ms"
            )
            rows.append(row)
            benchmarks.keep(config, kept, fixture)
        throughput = []
        if hook is not None:
            log("throughput")
            throughput = benchmarks.throughput(config, kept, hook)
        log("memory")
        memory = benchmarks.memory_use(kept, hook)
    log("profile")
    largest = kept.largest.get("layered") or next(iter(kept.largest.values()), None)
    profiles = []
    spec_memory = None
    if largest is not None:
        profiles = [benchmarks.profile(largest, cold=False), benchmarks.profile(largest, cold=True)]
        spec_memory = (largest.steps, measure.retained_spec_bytes(largest))
    log("garbage collection")
    gc_rows = benchmarks.gc_sensitivity(config, kept)
    hostile_results = None
    if config.http:
        hostile_results = hostile.run(config.hostile, log)
    log("simulations")
    simulated = benchmarks.simulations(config, log)
    return report.Results(
        config=config,
        rows=rows,
        throughput=throughput,
        memory=memory,
        profiles=profiles,
        gc=gc_rows,
        finished_step=kept.finished_step,
        spec_memory=spec_memory,
        hostile=hostile_results,
        simulations=simulated,
        seconds=time.perf_counter() - started,
        command=command,
    )


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="tiny sizes, short runs")
    parser.add_argument("--write", metavar="PATH", help="write the Markdown report to PATH")
    parser.add_argument(
        "--sizes", help="comma-separated step counts instead of the default 10,100,1000,5000"
    )
    parser.add_argument("--no-http", action="store_true", help="skip everything through gunicorn")
    args = parser.parse_args(argv)
    config = QUICK if args.quick else Config()
    if args.sizes:
        sizes = tuple(int(s) for s in args.sizes.split(","))
        config = dataclasses.replace(config, sizes=sizes)
    if args.no_http:
        config = dataclasses.replace(config, http=False)
    command = "make bench" if args.write and not args.quick and not args.sizes else "bench/run.py"
    if args.quick:
        command += " --quick"
    results = run(config, command)
    sys.stdout.write(report.terminal(results))
    if args.write:
        target = Path(args.write)
        old = target.read_text() if target.exists() else ""
        # Sections written by `make bench-e2e` stay as they are.
        target.write_text(sections.keep(old, report.markdown(results)))
        print(f"wrote {args.write}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
