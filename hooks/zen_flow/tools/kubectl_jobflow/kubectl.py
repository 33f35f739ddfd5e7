"""kubectl as a subprocess: the plugin's only way to the API server.

The connection flags the user gave (``--kubeconfig``, ``--context``, ``--namespace``) go first
on every command line, and the environment (``KUBECONFIG`` included) is passed on unchanged,
so the plugin reaches exactly the cluster and namespace that plain ``kubectl`` would.
"""

from __future__ import annotations

import json
import re
import subprocess
from dataclasses import dataclass
from enum import IntEnum
from typing import Any, Final

KUBECTL: Final = "kubectl"
# Lines of kubectl's stderr that are not the error: warnings and client-go's log lines.
_NOISE = re.compile(r"^(Warning: |[IWE]\d{4} \d)")
_PREFIX = re.compile(r"^(Error from server \(\w+\): |error: )")


class ExitCode(IntEnum):
    """The plugin's exit codes (``kubectl jobflow --help`` lists them)."""

    OK = 0
    KUBECTL = 1  # kubectl or the API server refused (the reason is relayed), or no kubectl
    USAGE = 2  # a bad command line
    NOT_FOUND = 3  # no such flow, step or pod
    REFUSED = 4  # the request makes no sense for this flow (not an approval step, decided...)
    TIMEOUT = 5  # --wait gave up
    INTERRUPTED = 130  # Ctrl-C


class PluginError(Exception):
    """What went wrong, in one line, and the exit code that says which kind of failure."""

    def __init__(self, code: ExitCode, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


class KubectlFailed(PluginError):
    """kubectl exited with an error; ``not_found`` when the API server answered NotFound."""

    def __init__(self, stderr: str) -> None:
        line = error_line(stderr)
        if "doesn't have a resource type" in line:
            line = "the cluster has no JobFlow resource type: is zen-flow's CRD installed?"
        super().__init__(ExitCode.KUBECTL, line)
        self.not_found = "(NotFound)" in stderr


def error_line(stderr: str) -> str:
    """The line of kubectl's stderr that says what went wrong, without kubectl's prefixes."""
    lines = [line.strip() for line in stderr.splitlines() if line.strip()]
    meaningful = [line for line in lines if not _NOISE.match(line)] or lines
    if not meaningful:
        return "kubectl failed without saying why"
    return _PREFIX.sub("", meaningful[-1])


@dataclass(frozen=True)
class Kubectl:
    """Runs kubectl with the user's connection flags."""

    namespace: str | None = None
    context: str | None = None
    kubeconfig: str | None = None

    def command(self, *args: str) -> list[str]:
        flags: list[str] = []
        if self.kubeconfig:
            flags += ["--kubeconfig", self.kubeconfig]
        if self.context:
            flags += ["--context", self.context]
        if self.namespace:
            flags += ["--namespace", self.namespace]
        return [KUBECTL, *flags, *args]

    def run(self, *args: str) -> str:
        """kubectl's stdout; ``KubectlFailed`` when it fails."""
        try:
            done = subprocess.run(
                self.command(*args),
                capture_output=True,
                encoding="utf-8",
                errors="replace",
                check=False,
            )
        except OSError as error:
            raise _cannot_run(error) from error
        if done.returncode != 0:
            raise KubectlFailed(done.stderr)
        return done.stdout

    def get_json(self, *args: str) -> dict[str, Any]:
        """``kubectl get ARGS -o json``, parsed."""
        text = self.run("get", *args, "-o", "json")
        try:
            value = json.loads(text)
        except json.JSONDecodeError:
            value = None
        if not isinstance(value, dict):
            what = " ".join(args)
            raise PluginError(ExitCode.KUBECTL, f"kubectl get {what} did not answer a JSON object")
        return value

    def stream(self, *args: str) -> None:
        """Run kubectl with its output going straight to ours (logs); errors as for ``run``."""
        try:
            process = subprocess.Popen(
                self.command(*args), stderr=subprocess.PIPE, encoding="utf-8", errors="replace"
            )
        except OSError as error:
            raise _cannot_run(error) from error
        try:
            _, stderr = process.communicate()
        except KeyboardInterrupt:
            process.terminate()
            process.wait()
            raise
        if process.returncode != 0:
            raise KubectlFailed(stderr)

    def current_namespace(self) -> str:
        """The namespace kubectl acts in: ``--namespace``, else the context's, else default."""
        if self.namespace:
            return self.namespace
        try:
            text = self.run("config", "view", "--minify", "-o", "jsonpath={..namespace}")
        except PluginError:
            return "default"
        return text.strip() or "default"


def _cannot_run(error: OSError) -> PluginError:
    if isinstance(error, FileNotFoundError):
        return PluginError(ExitCode.KUBECTL, "kubectl not found on PATH")
    return PluginError(ExitCode.KUBECTL, f"cannot run kubectl: {error.strerror or error}")
