"""The ``kubectl jobflow`` commands.

Each command reads the flow with ``kubectl get -o json``; suspend, resume, terminate, rerun,
approve and reject then set or remove the flow's own annotations (``workflow.zen.io/suspended``,
``/terminate``, ``/rerun``, ``/approve-<step>``) with ``kubectl annotate``. Nothing else is
ever written. Exit codes: ``ExitCode``.
"""

from __future__ import annotations

import json
import os
import sys
import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import Any, Final, TypeVar

import click

from zen_flow.api.labels import (
    ANNOTATION_APPROVE_PREFIX,
    ANNOTATION_RERUN,
    ANNOTATION_SUSPENDED,
    ANNOTATION_TERMINATE,
    LABEL_ATTEMPT,
    LABEL_JOBFLOW,
    LABEL_STEP,
)
from zen_flow.api.naming import label_value
from zen_flow.tools import diagram
from zen_flow.tools.durationtype import Duration
from zen_flow.tools.kubectl_jobflow.flows import RESOURCE, FlowView, StepView, flow_view, new_token
from zen_flow.tools.kubectl_jobflow.kubectl import ExitCode, Kubectl, KubectlFailed, PluginError
from zen_flow.tools.kubectl_jobflow.render import flow_list, flow_report, flow_tree

PROG: Final = "kubectl jobflow"
ERROR_PREFIX: Final = "kubectl-jobflow: error: "
# Clear the screen and go home: a watched flow is redrawn in place on a terminal.
CLEAR_SCREEN: Final = "\x1b[H\x1b[2J"
_META: Final = "zen_flow.kubectl_jobflow"
_EXIT_CODES: Final = """\b
Exit codes:
  0    done
  1    kubectl or the API server refused (its reason is printed), or no kubectl
  2    a bad command line
  3    no such flow, step or pod
  4    refused: not an approval step, already decided, a token already used
  5    --wait timed out
  130  interrupted (Ctrl-C)
"""

F = TypeVar("F", bound=Callable[..., Any])


def _remember(ctx: click.Context, param: click.Parameter, value: str | None) -> str | None:
    """Keep a connection flag, given before or after the command, for ``_kubectl``."""
    if value is not None:
        ctx.meta[f"{_META}.{param.name}"] = value
    return value


def _with_connection(function: F) -> F:
    """``--namespace/-n``, ``--context`` and ``--kubeconfig``, passed on to kubectl."""
    options = [
        click.option(
            "--kubeconfig",
            metavar="FILE",
            expose_value=False,
            callback=_remember,
            help="kubeconfig file (default: $KUBECONFIG, then ~/.kube/config).",
        ),
        click.option(
            "--context",
            metavar="CONTEXT",
            expose_value=False,
            callback=_remember,
            help="kubeconfig context to use.",
        ),
        click.option(
            "--namespace",
            "-n",
            metavar="NAMESPACE",
            expose_value=False,
            callback=_remember,
            help="Namespace of the flow (default: the context's).",
        ),
    ]
    for option in options:
        function = option(function)
    return function


def _kubectl() -> Kubectl:
    meta = click.get_current_context().meta
    return Kubectl(
        namespace=meta.get(f"{_META}.namespace"),
        context=meta.get(f"{_META}.context"),
        kubeconfig=meta.get(f"{_META}.kubeconfig"),
    )


DURATION = Duration(bare_seconds=True, positive=True)


def _interval_option(command: F) -> F:
    return click.option(
        "--interval",
        type=DURATION,
        default="2s",
        show_default=True,
        help="How often to read the flow again (e.g. 500ms, 5s).",
    )(command)


@click.group(context_settings={"help_option_names": ["-h", "--help"]}, epilog=_EXIT_CODES)
@click.version_option(package_name="zen-flow", prog_name=PROG)
@_with_connection
def plugin() -> None:
    """Follow and operate JobFlows (workflow.zen.io) from kubectl.

    The connection flags --namespace/-n, --context and --kubeconfig (and the KUBECONFIG
    variable) work as for kubectl, before or after the command. Reads go through
    `kubectl get -o json`; suspend, resume, terminate, rerun, approve and reject set the
    flow's annotations with `kubectl annotate`, and nothing else is written.
    """


def _command(name: str) -> Callable[[Callable[..., None]], click.Command]:
    """A subcommand that takes the connection flags, like the group."""

    def decorate(function: Callable[..., None]) -> click.Command:
        return plugin.command(name=name, epilog=_EXIT_CODES)(_with_connection(function))

    return decorate


# --- reading ---------------------------------------------------------------------------------


@_command("get")
@click.argument("name", required=False)
@click.option("--watch", "-w", is_flag=True, help="Redraw as the flow changes, until it ends.")
@_interval_option
@click.option(
    "--all-namespaces", "-A", is_flag=True, help="List the flows of every namespace (no NAME)."
)
def get(name: str | None, watch: bool, interval: float, all_namespaces: bool) -> None:
    """Show a flow's steps, or list the flows.

    With NAME: the flow's phase and progress, then each step with its phase, attempt,
    duration and reason, and the message of steps that failed, were skipped or wait.
    Without NAME: every flow of the namespace with its phase, progress, the steps awaiting
    approval, and age.
    """
    kubectl = _kubectl()
    if name is None:
        if watch:
            raise click.UsageError("--watch needs a NAME")
        _list_flows(kubectl, all_namespaces)
    elif all_namespaces:
        raise click.UsageError("--all-namespaces lists flows: give no NAME")
    elif watch:
        _watch(kubectl, name, flow_report, interval)
    else:
        click.echo(flow_report(flow_view(_read_flow(kubectl, name)), _now()), nl=False)


@_command("tree")
@click.argument("name")
@click.option("--watch", "-w", is_flag=True, help="Redraw as the flow changes, until it ends.")
@_interval_option
def tree(name: str, watch: bool, interval: float) -> None:
    """Draw a flow's DAG, with each step's state.

    The steps layer by layer, placed by their longest chain of dependencies as in
    `zen-flow graph`, each with its phase, attempt, duration, reason and dependencies.
    """
    kubectl = _kubectl()
    markers = diagram.UNICODE_MARKERS if _unicode_ok() else diagram.ASCII_MARKERS

    def draw(flow: FlowView, now: datetime) -> str:
        return flow_tree(flow, now, markers)

    if watch:
        _watch(kubectl, name, draw, interval)
    else:
        click.echo(draw(flow_view(_read_flow(kubectl, name)), _now()), nl=False)


def _list_flows(kubectl: Kubectl, all_namespaces: bool) -> None:
    answer = kubectl.get_json(RESOURCE, *(["--all-namespaces"] if all_namespaces else []))
    items = answer.get("items")
    flows = [flow_view(item) for item in items if isinstance(item, dict)] if items else []
    if not flows:
        where = "" if all_namespaces else f" in namespace {kubectl.current_namespace()}"
        click.echo(f"No jobflows found{where}.", err=True)
        return
    click.echo(flow_list(flows, _now(), namespaces=all_namespaces), nl=False)


def _watch(
    kubectl: Kubectl, name: str, draw: Callable[[FlowView, datetime], str], interval: float
) -> None:
    """Draw the flow every ``interval`` until it has finished: in place on a terminal; on a
    pipe, a new drawing each time the flow changed."""
    out = sys.stdout
    in_place = out.isatty()
    drawn: str | None = None
    while True:
        obj = _read_flow(kubectl, name)
        flow = flow_view(obj)
        state = json.dumps([obj.get("spec"), obj.get("status")], sort_keys=True)
        if in_place:
            out.write(CLEAR_SCREEN + draw(flow, _now()))
        elif state != drawn:
            out.write(("\n" if drawn is not None else "") + draw(flow, _now()))
        drawn = state
        out.flush()
        if flow.finished:
            return
        time.sleep(interval)


# --- suspend, resume, terminate, rerun -------------------------------------------------------


@_command("suspend")
@click.argument("name")
def suspend(name: str) -> None:
    """Suspend a flow.

    No new step starts, and running Jobs are suspended. Sets the annotation
    workflow.zen.io/suspended=true.
    """
    _annotate(_kubectl(), name, f"{ANNOTATION_SUSPENDED}=true")
    click.echo(f'jobflow "{name}" suspended')


@_command("resume")
@click.argument("name")
def resume(name: str) -> None:
    """Resume a suspended flow.

    Removes the annotation workflow.zen.io/suspended.
    """
    _annotate(_kubectl(), name, f"{ANNOTATION_SUSPENDED}-")
    click.echo(f'jobflow "{name}" resumed')


@_command("terminate")
@click.argument("name")
def terminate(name: str) -> None:
    """Stop a flow now.

    Running Jobs are deleted, pending steps skipped, and the flow Failed. Sets the
    annotation workflow.zen.io/terminate=true.
    """
    _annotate(_kubectl(), name, f"{ANNOTATION_TERMINATE}=true")
    click.echo(f'jobflow "{name}" terminating')


@_command("rerun")
@click.argument("name")
@click.option("--token", help="The rerun token (default: a new one from the time and chance).")
@click.option("--wait", is_flag=True, help="Wait until the hooks have started the rerun.")
@_interval_option
@click.option(
    "--timeout", type=DURATION, default="5m", show_default=True, help="How long --wait waits."
)
def rerun(name: str, token: str | None, wait: bool, interval: float, timeout: float) -> None:
    """Rerun a flow's failed and skipped steps.

    Succeeded steps keep their results. Sets the annotation workflow.zen.io/rerun=TOKEN,
    and removes workflow.zen.io/terminate so that a terminated flow can run again. A
    token acts once: the hooks record the last one they handled in .status.rerun.token.
    Prints the token.
    """
    if token is not None and not token.strip():
        raise click.BadParameter("the token is empty", param_hint="'--token'")
    kubectl = _kubectl()
    flow = flow_view(_read_flow(kubectl, name))
    token = token or new_token(_now())
    if flow.rerun_token == token:
        raise PluginError(
            ExitCode.REFUSED,
            f'jobflow "{name}" has already handled rerun token "{token}": give a new one',
        )
    _annotate(kubectl, name, f"{ANNOTATION_RERUN}={token}", f"{ANNOTATION_TERMINATE}-")
    click.echo(f'jobflow "{name}" rerun requested: token {token}')
    if wait:
        _wait_for_rerun(kubectl, name, token, interval, timeout)
        click.echo(f'jobflow "{name}" rerun {token} started')


def _wait_for_rerun(
    kubectl: Kubectl, name: str, token: str, interval: float, timeout: float
) -> None:
    deadline = time.monotonic() + timeout
    while True:
        seen = flow_view(_read_flow(kubectl, name)).rerun_token
        if seen == token:
            return
        left = deadline - time.monotonic()
        if left <= 0:
            raise PluginError(
                ExitCode.TIMEOUT,
                f'timed out waiting for jobflow "{name}" to start rerun {token} '
                f'(.status.rerun.token is "{seen}")',
            )
        time.sleep(min(interval, left))


# --- approval gates --------------------------------------------------------------------------


@_command("approve")
@click.argument("name")
@click.argument("step")
def approve(name: str, step: str) -> None:
    """Approve a step that awaits approval.

    STEP must be a step of type Approval that has not been decided yet. Sets the
    annotation workflow.zen.io/approve-STEP=true.
    """
    _decide(name, step, approved=True)


@_command("reject")
@click.argument("name")
@click.argument("step")
def reject(name: str, step: str) -> None:
    """Reject a step that awaits approval.

    STEP must be a step of type Approval that has not been decided yet. Sets the
    annotation workflow.zen.io/approve-STEP=false.
    """
    _decide(name, step, approved=False)


def _decide(name: str, step_name: str, *, approved: bool) -> None:
    kubectl = _kubectl()
    flow = flow_view(_read_flow(kubectl, name))
    step = _step_of(flow, step_name)
    if not step.is_approval:
        raise PluginError(
            ExitCode.REFUSED,
            f'step "{step_name}" of jobflow "{name}" is a {step.type} step, not an Approval '
            "step: there is nothing to decide",
        )
    if step.decided:
        raise PluginError(
            ExitCode.REFUSED,
            f'step "{step_name}" of jobflow "{name}" is no longer waiting for approval: '
            f"{_state(step)}",
        )
    _annotate(kubectl, name, f"{ANNOTATION_APPROVE_PREFIX}{step_name}={str(approved).lower()}")
    verb = "approved" if approved else "rejected"
    if step.awaiting_approval:
        click.echo(f'step "{step_name}" of jobflow "{name}" {verb}')
    else:
        click.echo(
            f'step "{step_name}" of jobflow "{name}" {verb} in advance: it is '
            f"{_state(step)}, not waiting for approval yet"
        )


def _state(step: StepView) -> str:
    phase = step.phase or "Pending"
    return f"{phase} ({step.reason})" if step.reason else phase


# --- logs ------------------------------------------------------------------------------------


@_command("logs")
@click.argument("name")
@click.argument("step")
@click.option(
    "--attempt", type=click.IntRange(min=1), help="Attempt number (default: the current one)."
)
@click.option("--follow", "-f", is_flag=True, help="Keep streaming new lines.")
@click.option("--container", "-c", help="Container of the pod (default: kubectl's choice).")
def logs(name: str, step: str, attempt: int | None, follow: bool, container: str | None) -> None:
    """Print the logs of a step's pods.

    Those of the step's current attempt, or of --attempt N, found by their labels
    (workflow.zen.io/jobflow, /step, /attempt). A step's Jobs are kept with the flow,
    but their pods may already be gone.
    """
    kubectl = _kubectl()
    flow = flow_view(_read_flow(kubectl, name))
    found = _step_of(flow, step)
    if found.is_approval:
        raise PluginError(
            ExitCode.REFUSED, f'step "{step}" of jobflow "{name}" is an approval step: no pods'
        )
    selector = f"{LABEL_JOBFLOW}={label_value(name)},{LABEL_STEP}={step}"
    number = attempt or found.attempt or _last_attempt(kubectl, selector)
    if not number:
        raise PluginError(
            ExitCode.NOT_FOUND, f'step "{step}" of jobflow "{name}" has not started: no pods yet'
        )
    selector += f",{LABEL_ATTEMPT}={number}"
    pods = _pods(kubectl, selector)
    if not pods:
        raise PluginError(
            ExitCode.NOT_FOUND,
            f'no pod of step "{step}" attempt {number} of jobflow "{name}" exists any more '
            f"(pods may be garbage-collected); its Job is kept: "
            f"kubectl get jobs -n {flow.namespace or kubectl.current_namespace()} -l {selector}",
        )
    if len(pods) == 1:
        arguments = ["logs", f"pod/{pods[0]}"]
    else:
        arguments = ["logs", "-l", selector, "--prefix", "--tail=-1"]
        arguments.append(f"--max-log-requests={len(pods)}")
    if container:
        arguments += ["--container", container]
    if follow:
        arguments.append("--follow")
    kubectl.stream(*arguments)


def _pods(kubectl: Kubectl, selector: str) -> list[str]:
    """Names of the pods ``selector`` matches, oldest first."""
    items = kubectl.get_json("pods", "-l", selector).get("items") or []
    pods = [item.get("metadata") or {} for item in items if isinstance(item, dict)]
    pods.sort(key=lambda meta: (str(meta.get("creationTimestamp", "")), str(meta.get("name"))))
    return [str(meta["name"]) for meta in pods if meta.get("name")]


def _last_attempt(kubectl: Kubectl, selector: str) -> int:
    """The highest attempt among the step's pods, 0 when there are none."""
    items = kubectl.get_json("pods", "-l", selector).get("items") or []
    numbers = [
        ((item.get("metadata") or {}).get("labels") or {}).get(LABEL_ATTEMPT, "")
        for item in items
        if isinstance(item, dict)
    ]
    return max((int(n) for n in numbers if isinstance(n, str) and n.isdigit()), default=0)


# --- shared ----------------------------------------------------------------------------------


def _read_flow(kubectl: Kubectl, name: str) -> dict[str, Any]:
    try:
        return kubectl.get_json(RESOURCE, name)
    except KubectlFailed as error:
        raise _not_found(kubectl, name, error) from error


def _annotate(kubectl: Kubectl, name: str, *changes: str) -> None:
    """Set (KEY=VALUE) or remove (KEY-) annotations of the flow."""
    try:
        kubectl.run("annotate", RESOURCE, name, *changes, "--overwrite")
    except KubectlFailed as error:
        raise _not_found(kubectl, name, error) from error


def _not_found(kubectl: Kubectl, name: str, error: KubectlFailed) -> PluginError:
    if not error.not_found:
        return error
    namespace = kubectl.current_namespace()
    return PluginError(ExitCode.NOT_FOUND, f'jobflow "{name}" not found in namespace "{namespace}"')


def _step_of(flow: FlowView, name: str) -> StepView:
    step = flow.step(name)
    if step is None:
        steps = ", ".join(s.name for s in flow.steps)
        raise PluginError(
            ExitCode.NOT_FOUND, f'jobflow "{flow.name}" has no step "{name}" (steps: {steps})'
        )
    return step


def _now() -> datetime:
    return datetime.now(UTC)


def _unicode_ok() -> bool:
    encoding = getattr(sys.stdout, "encoding", None) or ""
    return encoding.lower().replace("-", "") in ("utf8", "utf_8")


def run(arguments: Sequence[str]) -> int:
    """Run the plugin on ``arguments``; its exit code. Errors are one line on stderr."""
    try:
        code = plugin.main(list(arguments), prog_name=PROG, standalone_mode=False)
    except click.UsageError as error:
        where = error.ctx.command_path if error.ctx else PROG
        _error(f"{error.format_message().rstrip('.')} (see '{where} --help')")
        return ExitCode.USAGE
    except PluginError as error:
        _error(error.message)
        return error.code
    except click.ClickException as error:
        _error(error.format_message())
        return error.exit_code
    except (click.Abort, KeyboardInterrupt):
        return ExitCode.INTERRUPTED  # click turns Ctrl-C into Abort
    except BrokenPipeError:
        # Whoever read our output stopped reading (`| head`): nothing more to say.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return ExitCode.OK
    return code if isinstance(code, int) else ExitCode.OK


def _error(message: str) -> None:
    click.echo(ERROR_PREFIX + " ".join(message.split()), err=True)


def main() -> None:
    """The ``kubectl-jobflow`` executable."""
    sys.exit(run(sys.argv[1:]))
