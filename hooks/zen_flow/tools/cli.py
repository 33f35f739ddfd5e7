"""The ``zen-flow`` command: lint, graph and simulate JobFlows offline, and serve the hooks.

Exit codes, the same for every command:

- 0: all good: no problem found (lint), drawn (graph), the flow Succeeded (simulate).
- 1: the input has problems: a file that cannot be read, a YAML syntax error, an invalid
  JobFlow, not exactly one JobFlow (graph, simulate), no status (graph --status).
- 2: wrong usage: an unknown or bad option or argument, an option naming a step the flow
  does not have (simulate).
- 3: simulate: the flow Failed.
- 4: simulate: the flow did not finish (suspended and never resumed, or --max-time).
- 70: an unexpected error, a bug: one line, or the traceback with ``--debug``.

Problems and errors are one line each, on stderr (lint prints its problems on stdout).
``serve`` runs gunicorn: a bad ZEN_FLOW_* setting or an address in use stops it at once with
one line, ``Error: ...``, and exit code 1.
"""

from __future__ import annotations

import gc
import json
import os
import sys
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from typing import Any, TextIO

import click
import pydantic

from zen_flow.api.durations import parse_duration
from zen_flow.api.spec import JobFlowSpec
from zen_flow.api.status import JobFlowStatus
from zen_flow.spec.messages import describe, path_text
from zen_flow.spec.validation import InvalidSpecError
from zen_flow.tools import diagram as drawing
from zen_flow.tools.durationtype import Duration
from zen_flow.tools.lint import (
    Document,
    LintError,
    LintProblem,
    flow_name,
    lint_text,
    single_flow,
)
from zen_flow.tools.sim.metacontroller import simulated_name
from zen_flow.tools.sim.run import Simulation, StopReason, Tick, simulate
from zen_flow.tools.sim.scenario import (
    Annotation,
    Outcome,
    Scenario,
    SimulationError,
    check_scenario,
)
from zen_flow.tools.sim.timeline import Event, format_offset

DEBUG = "zen_flow.debug"
# Off a terminal, a progress line every so many syncs, or every so many seconds.
PROGRESS_EVERY_SYNCS = 1000
PROGRESS_EVERY_SECONDS = 10.0
# On a terminal, the progress line is redrawn at most this often.
REDRAW_SECONDS = 0.1
BAR_WIDTH = 24


EXIT_OK = 0
EXIT_PROBLEMS = 1
EXIT_USAGE = 2
EXIT_FAILED = 3
EXIT_UNFINISHED = 4
EXIT_BUG = 70


class CliError(click.ClickException):
    """A one-line error, ``zen-flow: error: ...``: the command cannot do what was asked."""

    exit_code = EXIT_USAGE

    def show(self, file: Any = None) -> None:
        click.echo(f"zen-flow: error: {self.format_message()}", err=True)


class InputError(CliError):
    """The input lacks what the command needs (e.g. a status to draw)."""

    exit_code = EXIT_PROBLEMS


class UnexpectedError(CliError):
    """A bug: the simulator or the hooks did what they never should."""

    exit_code = EXIT_BUG


class ProblemsFound(click.ClickException):
    """Problems in the user's file, printed one per line; exit code 1."""

    exit_code = EXIT_PROBLEMS

    def __init__(self, problems: Iterable[LintProblem]) -> None:
        self.problems = list(problems)
        super().__init__("\n".join(str(p) for p in self.problems))

    def show(self, file: Any = None) -> None:
        for problem in self.problems:
            click.echo(str(problem), err=True)


class _Main(click.Group):
    """Turns unexpected exceptions into one line unless ``--debug`` was given."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except (click.exceptions.ClickException, click.exceptions.Exit, click.exceptions.Abort):
            raise
        except Exception as error:
            if ctx.meta.get(DEBUG):
                raise
            text = " ".join(str(error).split()) or type(error).__name__
            raise UnexpectedError(
                f"unexpected {type(error).__name__}: {text} (run with --debug for the traceback)"
            ) from error


@click.group(cls=_Main)
@click.option("--debug", is_flag=True, help="Show the traceback of unexpected errors.")
@click.version_option(package_name="zen-flow", prog_name="zen-flow")
@click.pass_context
def main(ctx: click.Context, debug: bool) -> None:
    """zen-flow: DAGs of Kubernetes Jobs.

    Lint a JobFlow file, draw its DAG and simulate a run, all offline and with the very same
    code as the hooks; or serve the hooks for Metacontroller.

    \b
    Exit codes, for every command:
      0   all good (simulate: the flow Succeeded)
      1   the input has problems (unreadable, YAML, invalid JobFlow)
      2   wrong usage (an unknown or bad option)
      3   simulate: the flow Failed
      4   simulate: the flow did not finish (suspended, or --max-time)
      70  an unexpected error (a bug; --debug shows the traceback)
    """
    ctx.meta[DEBUG] = debug


@main.command()
def serve() -> None:
    """Serve the hooks with gunicorn (settings from ZEN_FLOW_* environment variables).

    A bad setting, or an address already in use, stops it at once with one line naming the
    variable (gunicorn's "Error: ...", exit code 1).
    """
    gunicorn = os.path.join(os.path.dirname(sys.executable), "gunicorn")
    os.execv(gunicorn, [gunicorn, "--config", "python:zen_flow.server.gunicorn_conf"])


# --- lint ------------------------------------------------------------------------------------


@main.command()
@click.argument("files", nargs=-1, required=True, type=click.Path(dir_okay=False, allow_dash=True))
@click.option(
    "--output",
    "-o",
    type=click.Choice(["text", "json"]),
    default="text",
    show_default=True,
    help="text: file:line:column: path: message per line; json: a list of problems.",
)
def lint(files: tuple[str, ...], output: str) -> None:
    """Check JobFlow YAML files with the same models and rules as the hooks.

    Every document of every FILE (- for stdin) that is a JobFlow is checked: apiVersion,
    kind, metadata.name and the whole spec, keys given twice, and the names its children
    would have. Other objects are ignored. Each problem is one line, file:line:column:
    path: message. Exit code 1 when any problem is found.
    """
    problems: list[LintProblem] = []
    flows = 0
    for file in files:
        try:
            text = _read_text(file)
        except (OSError, UnicodeDecodeError) as error:
            problems.append(LintProblem(file, _read_error(error)))
            continue
        report = lint_text(file, text)
        problems.extend(report.problems)
        flows += len(report.flows)
        if not report.flows and not report.problems:
            click.echo(f"{file}: no JobFlow in this file, nothing checked", err=True)
    if output == "json":
        click.echo(json.dumps([p.as_dict() for p in problems], indent=2))
    else:
        for problem in problems:
            click.echo(str(problem))
        files_text = _plural(len(files), "file")
        if problems:
            click.echo(f"{_plural(len(problems), 'problem')} in {files_text}", err=True)
        else:
            click.echo(f"ok: {_plural(flows, 'JobFlow')} in {files_text}", err=True)
    if problems:
        sys.exit(1)


# --- graph -----------------------------------------------------------------------------------


@main.command()
@click.argument("file", type=click.Path(dir_okay=False, allow_dash=True))
@click.option(
    "--format",
    "-f",
    "fmt",
    type=click.Choice(["text", "mermaid", "dot"]),
    default="text",
    show_default=True,
    help="text: layers for the terminal; mermaid: a flowchart; dot: a Graphviz digraph.",
)
@click.option(
    "--status",
    "with_status",
    is_flag=True,
    help="Mark each step with its phase from the JobFlow's .status "
    "(e.g. kubectl get jobflow NAME -o yaml | zen-flow graph - --status).",
)
def graph(file: str, fmt: str, with_status: bool) -> None:
    """Draw the DAG of the JobFlow in FILE (- for stdin)."""
    document, spec = _load_flow(file)
    name = _shown_name(document.body)
    status = _status_of(file, document.body) if with_status else None
    if fmt == "mermaid":
        text = drawing.to_mermaid(spec, status)
    elif fmt == "dot":
        text = drawing.to_dot(spec, status, name=name)
    else:
        markers = drawing.UNICODE_MARKERS if _unicode_ok() else drawing.ASCII_MARKERS
        text = drawing.to_text(spec, status, name=name, markers=markers)
    click.echo(text, nl=False)


def _status_of(file: str, body: dict[str, Any]) -> JobFlowStatus:
    raw = body.get("status")
    if not raw:
        raise InputError(
            f"{file}: the JobFlow has no .status (save one with kubectl get jobflow NAME -o yaml)"
        )
    try:
        return JobFlowStatus.model_validate(raw)
    except pydantic.ValidationError as error:
        detail = error.errors(include_url=False)[0]
        where = path_text(JobFlowStatus, detail["loc"], prefix="status")
        raise InputError(f"{file}: {where}: {describe(detail, JobFlowStatus)}") from error


def _shown_name(body: dict[str, Any]) -> str:
    """The flow's name; a flow named by the API server shows its ``generateName``."""
    name, length = flow_name(body)
    if length is not None:
        return f"{name}(generated)"
    return name or "jobflow"


# --- simulate --------------------------------------------------------------------------------


DURATION = Duration()


@main.command(name="simulate")
@click.argument("file", type=click.Path(dir_okay=False, allow_dash=True))
@click.option(
    "--outcome",
    "outcomes",
    multiple=True,
    metavar="STEP=OUTCOME[,OUTCOME...]",
    help="Outcomes of the step's attempts in order: succeed, fail or timeout (fails with "
    "DeadlineExceeded at the Job's activeDeadlineSeconds). Later attempts succeed.",
)
@click.option(
    "--duration",
    "durations",
    multiple=True,
    metavar="STEP=DURATION",
    help="How long each attempt of the step runs, e.g. build=2m.",
)
@click.option(
    "--default-duration",
    type=DURATION,
    default="10s",
    show_default=True,
    help="How long attempts of other steps run.",
)
@click.option("--suspend-at", type=DURATION, help="Suspend the flow at this time, e.g. 40s.")
@click.option("--resume-at", type=DURATION, help="Resume it at this time, e.g. 90s.")
@click.option(
    "--annotate",
    "annotations",
    multiple=True,
    metavar="TIME:KEY=VALUE|TIME:KEY-",
    help="Set (or with KEY-, remove) an annotation of the flow at TIME, e.g. "
    "40s:workflow.zen.io/terminate=true, 2m:workflow.zen.io/rerun=again, "
    "30s:workflow.zen.io/approve-deploy=true.",
)
@click.option(
    "--output",
    "outputs",
    multiple=True,
    metavar="STEP=NAME=VALUE",
    help="A value the step's succeeded Jobs write to their termination message (declared "
    "outputs not given are written as STEP.NAME).",
)
@click.option(
    "--max-time",
    type=DURATION,
    default="24h",
    show_default=True,
    help="Stop the simulation at this time.",
)
def simulate_command(  # noqa: PLR0913 - click passes one argument per option
    file: str,
    outcomes: tuple[str, ...],
    durations: tuple[str, ...],
    default_duration: float,
    suspend_at: float | None,
    resume_at: float | None,
    annotations: tuple[str, ...],
    outputs: tuple[str, ...],
    max_time: float,
) -> None:
    """Run the JobFlow in FILE on a virtual clock through the hooks' own sync.

    Each Job runs for its step's duration, then finishes with the next scripted outcome of
    its step. Prints the timeline as it happens, then the final status; progress goes to
    stderr. Exit code 0 when the flow Succeeded, 3 when it Failed, 4 when it had not
    finished (suspended, or --max-time); 1 when the file has problems, 2 for a bad option.
    """
    scenario = Scenario(
        outcomes=_step_options("--outcome", outcomes, _outcomes),
        durations=_step_options("--duration", durations, _positive_duration),
        default_duration=default_duration,
        suspend_at=suspend_at,
        resume_at=resume_at,
        annotations=tuple(_annotation(value) for value in annotations),
        outputs=_outputs(outputs),
        max_time=max_time,
    )
    document, spec = _load_flow(file)
    try:
        check_scenario(spec, scenario)
    except SimulationError as error:
        raise click.UsageError(str(error)) from error
    name = simulated_name(document.body)
    total = len(spec.all_steps)
    click.echo(
        f"Simulating JobFlow {name}: {_plural(total, 'step')}; Jobs run "
        f"{format_offset(default_duration)} unless --duration says otherwise"
    )
    # The offset column is printed before the run's end is known: as wide as --max-time needs.
    width = len(format_offset(max_time)) + 1
    try:
        with _quiet_collector(), _Progress() as progress:

            def show(event: Event) -> None:
                progress.clear()
                click.echo(f"{('+' + format_offset(event.at)).ljust(width)}  {event.message}")

            result = simulate(document.body, scenario, progress=progress.update, events=show)
    except SimulationError as error:
        raise UnexpectedError(f"{file}: {error}") from error
    except InvalidSpecError as error:
        raise ProblemsFound(document.problem(p.path, p.message) for p in error.problems) from error
    _print_summary(name, result, max_time)
    sys.exit({"Succeeded": EXIT_OK, "Failed": EXIT_FAILED}.get(result.phase, EXIT_UNFINISHED))


@contextmanager
def _quiet_collector() -> Iterator[None]:
    """Fewer, cheaper garbage collections while the run lasts, as in the hook server's
    workers (gunicorn_conf): a large flow's syncs allocate many short-lived objects that
    form no cycles, and what exists already is frozen out of the collector's way."""
    thresholds = gc.get_threshold()
    gc.freeze()
    gc.set_threshold(50_000, 20, 100)
    try:
        yield
    finally:
        gc.set_threshold(*thresholds)
        gc.unfreeze()


class _Progress:
    """Progress of a simulation on stderr: on a terminal, a line kept up to date under the
    timeline; else a line now and then (every ``PROGRESS_EVERY_SYNCS`` syncs or
    ``PROGRESS_EVERY_SECONDS`` seconds)."""

    def __init__(self) -> None:
        self.terminal = _stderr_is_terminal()
        # The timeline and the progress line share the screen only when both are on it.
        self.shared = self.terminal and _is_terminal(sys.stdout)
        self.shown = False
        self.drawn_at = 0.0
        self.next_sync = PROGRESS_EVERY_SYNCS
        self.next_time = time.monotonic() + PROGRESS_EVERY_SECONDS

    def __enter__(self) -> _Progress:
        return self

    def __exit__(self, *exc: object) -> None:
        self.clear(final=True)

    def update(self, tick: Tick) -> None:
        now = time.monotonic()
        if self.terminal:
            if now - self.drawn_at >= REDRAW_SECONDS:
                self.drawn_at = now
                self.shown = True
                click.echo(f"\r\x1b[K{_bar(tick)}", nl=False, err=True)
        elif tick.syncs >= self.next_sync or now >= self.next_time:
            self.next_sync = tick.syncs + PROGRESS_EVERY_SYNCS
            self.next_time = now + PROGRESS_EVERY_SECONDS
            click.echo(
                f"... +{format_offset(tick.elapsed)} simulated: "
                f"{tick.completed_steps}/{tick.total_steps} steps done, {tick.syncs} syncs",
                err=True,
            )

    def clear(self, final: bool = False) -> None:
        """Take the progress line off the screen: before a timeline line when both share the
        screen, and at the end."""
        if self.shown and (self.shared or final):
            click.echo("\r\x1b[K", nl=False, err=True)
            self.shown = False
            self.drawn_at = 0.0


def _bar(tick: Tick) -> str:
    total = max(tick.total_steps, 1)
    filled = BAR_WIDTH * tick.completed_steps // total
    return (
        f"simulating [{'#' * filled}{'.' * (BAR_WIDTH - filled)}] "
        f"{tick.completed_steps}/{tick.total_steps} steps, "
        f"+{format_offset(tick.elapsed)} simulated, {tick.syncs} syncs"
    )


def _print_summary(name: str, result: Simulation, max_time: float) -> None:
    status = result.status
    at = f"+{format_offset(result.elapsed)}"
    phase = result.phase
    reason = status.get("reason")
    headline = f"flow {name} {phase}" + (f" ({reason})" if reason else "")
    if result.stop is StopReason.FINISHED:
        click.echo(f"\n{headline} at {at}, after {_plural(result.syncs, 'sync')}")
    elif result.stop is StopReason.MAX_TIME:
        click.echo(f"\nstopped at --max-time {format_offset(max_time)}: {headline}")
    else:
        click.echo(f"\nnothing more happens after {at}: {headline}")
    if status.get("message"):
        click.echo(f"  {status['message']}")
    counts = status.get("progress") or {}
    click.echo(
        f"progress: {counts.get('completedSteps', 0)}/{counts.get('totalSteps', 0)} steps done "
        f"({counts.get('successfulSteps', 0)} succeeded, {counts.get('failedSteps', 0)} failed, "
        f"{counts.get('skippedSteps', 0)} skipped)"
    )
    rows = [("STEP", "PHASE", "REASON", "ATTEMPTS")]
    for step in status.get("steps") or []:
        attempts = int(step.get("attempt", 0))
        rows.append((step["name"], step["phase"], step.get("reason") or "", str(attempts)))
    widths = [max(len(row[i]) for row in rows) for i in range(4)]
    for row in rows:
        click.echo("  ".join(cell.ljust(widths[i]) for i, cell in enumerate(row)).rstrip())


def _step_options(
    option: str, values: Iterable[str], convert: Callable[[str], Any]
) -> dict[str, Any]:
    parsed: dict[str, Any] = {}
    for value in values:
        step, sep, rest = value.partition("=")
        step = step.strip()
        if not sep or not step or not rest.strip():
            raise click.BadParameter(f"{value!r}: use STEP=VALUE", param_hint=option)
        if step in parsed:
            raise click.BadParameter(f'step "{step}" given twice', param_hint=option)
        try:
            parsed[step] = convert(rest.strip())
        except ValueError as error:
            raise click.BadParameter(f"{value!r}: {error}", param_hint=option) from error
    return parsed


def _annotation(value: str) -> Annotation:
    """``TIME:KEY=VALUE`` or ``TIME:KEY-``."""
    when, colon, change = value.partition(":")
    key, equals, text = change.partition("=")
    removal = not equals and key.endswith("-")
    if not colon or not key or not (equals or removal):
        raise click.BadParameter(
            f"{value!r}: use TIME:KEY=VALUE or TIME:KEY-", param_hint="--annotate"
        )
    try:
        at = parse_duration(when.strip())
    except ValueError as error:
        raise click.BadParameter(f"{value!r}: {error}", param_hint="--annotate") from error
    return Annotation(at, key.strip().removesuffix("-"), None if removal else text)


def _outputs(values: Iterable[str]) -> dict[str, dict[str, str]]:
    """``STEP=NAME=VALUE`` options, by step."""
    found: dict[str, dict[str, str]] = {}
    for value in values:
        step, first, rest = value.partition("=")
        name, second, text = rest.partition("=")
        if not (first and second and step.strip() and name.strip()):
            raise click.BadParameter(f"{value!r}: use STEP=NAME=VALUE", param_hint="--output")
        found.setdefault(step.strip(), {})[name.strip()] = text
    return found


def _outcomes(text: str) -> tuple[Outcome, ...]:
    choices = ", ".join(o.value for o in Outcome)
    parsed = []
    for word in text.split(","):
        try:
            parsed.append(Outcome(word.strip().lower()))
        except ValueError:
            raise ValueError(f'unknown outcome "{word.strip()}" (use {choices})') from None
    return tuple(parsed)


def _positive_duration(text: str) -> float:
    seconds = parse_duration(text)
    if seconds <= 0:
        raise ValueError("must be more than 0s")
    return seconds


# --- shared ----------------------------------------------------------------------------------


def _load_flow(file: str) -> tuple[Document, JobFlowSpec]:
    try:
        text = _read_text(file)
    except (OSError, UnicodeDecodeError) as error:
        raise ProblemsFound([LintProblem(file, _read_error(error))]) from error
    try:
        return single_flow(file, text)
    except LintError as error:
        raise ProblemsFound(error.problems) from error


def _read_text(file: str) -> str:
    if file == "-":
        return sys.stdin.read()
    with open(file, encoding="utf-8") as handle:
        return handle.read()


def _read_error(error: OSError | UnicodeDecodeError) -> str:
    if isinstance(error, UnicodeDecodeError):
        return f"not UTF-8 text ({error.reason} at byte {error.start})"
    return f"cannot read: {error.strerror or error}"


def _plural(count: int, noun: str) -> str:
    return f"{count} {noun}" + ("" if count == 1 else "s")


def _unicode_ok() -> bool:
    encoding = getattr(sys.stdout, "encoding", None) or ""
    return encoding.lower().replace("-", "") in ("utf8", "utf_8")


def _stderr_is_terminal() -> bool:
    return _is_terminal(sys.stderr)


def _is_terminal(stream: TextIO) -> bool:
    return hasattr(stream, "isatty") and stream.isatty()
