"""Talking to the API server: kubectl as a user runs it, and a small JSON client for polling.

kubectl is what users run, so the scenarios act through it. Waiting polls the API server
directly (a GET costs a millisecond where a kubectl call costs a process start), which keeps
the polls cheap and the measurements sharp.
"""

from __future__ import annotations

import json
import ssl
import subprocess
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import yaml

Obj = dict[str, Any]
T = TypeVar("T")

# Where each resource the suite reads lives: API prefix, and whether it is namespaced.
RESOURCES: Mapping[str, tuple[str, bool]] = {
    "jobflows": ("/apis/workflow.zen.io/v1alpha1", True),
    "jobs": ("/apis/batch/v1", True),
    "cronjobs": ("/apis/batch/v1", True),
    "pods": ("/api/v1", True),
    "configmaps": ("/api/v1", True),
    "persistentvolumeclaims": ("/api/v1", True),
    "serviceaccounts": ("/api/v1", True),
    "events": ("/api/v1", True),
    "leases": ("/apis/coordination.k8s.io/v1", True),
    "namespaces": ("/api/v1", False),
    "nodes": ("/api/v1", False),
    "persistentvolumes": ("/api/v1", False),
    "customresourcedefinitions": ("/apis/apiextensions.k8s.io/v1", False),
    "compositecontrollers": ("/apis/metacontroller.k8s.io/v1alpha1", False),
}


class KubectlError(RuntimeError):
    """A kubectl command that failed; the message carries its output."""

    def __init__(self, args: Sequence[str], result: subprocess.CompletedProcess[str]) -> None:
        super().__init__(
            f"kubectl {' '.join(args)} exited {result.returncode}:\n"
            f"{result.stderr.strip()}\n{result.stdout.strip()}".rstrip()
        )
        self.result = result


def wait_for(
    what: str,
    probe: Callable[[], T | None],
    timeout: float,
    interval: float = 0.2,
    detail: Callable[[], object] | None = None,
) -> T:
    """Poll ``probe`` until it returns something other than None or False; return that.

    On timeout, fail naming what was awaited and, through ``detail``, what was seen instead.
    """
    deadline = time.monotonic() + timeout
    while True:
        value = probe()
        if value is not None and value is not False:
            return value
        if time.monotonic() >= deadline:
            seen = f"\nlast seen: {detail()}" if detail else ""
            raise AssertionError(f"timed out after {timeout:g}s waiting for {what}{seen}")
        time.sleep(interval)


@dataclass(frozen=True)
class Kube:
    """One identity on one API server: kubectl for actions, HTTPS for reads."""

    kubectl_binary: Path
    kubeconfig: Path
    server: str
    ca_file: Path
    cert_file: Path
    key_file: Path

    # --- kubectl -------------------------------------------------------------------------

    def env(self) -> dict[str, str]:
        """Environment for kubectl and for scripts that call it (HOME holds its cache)."""
        return {
            "KUBECONFIG": str(self.kubeconfig),
            "PATH": f"{self.kubectl_binary.parent}:/usr/local/bin:/usr/bin:/bin",
            "HOME": str(self.kubeconfig.parent / "home"),
            "LANG": "C.UTF-8",
        }

    def kubectl(
        self,
        *args: str,
        stdin: str | None = None,
        check: bool = True,
        timeout: float = 120,
    ) -> subprocess.CompletedProcess[str]:
        result = subprocess.run(
            [str(self.kubectl_binary), *args],
            input=stdin,
            capture_output=True,
            text=True,
            env=self.env(),
            timeout=timeout,
            check=False,
        )
        if check and result.returncode != 0:
            raise KubectlError(args, result)
        return result

    def apply(self, objects: Obj | Sequence[Obj], namespace: str | None = None) -> str:
        """``kubectl apply -f -`` of one object or several."""
        docs = [objects] if isinstance(objects, dict) else list(objects)
        args = ["apply", "-f", "-"] + (["-n", namespace] if namespace else [])
        return self.kubectl(*args, stdin=yaml.safe_dump_all(docs, sort_keys=False)).stdout

    # --- HTTPS reads ---------------------------------------------------------------------

    def ssl_context(self) -> ssl.SSLContext:
        context = ssl.create_default_context(cafile=str(self.ca_file))
        context.load_cert_chain(str(self.cert_file), str(self.key_file))
        return context

    def request(
        self, method: str, path: str, body: Obj | None = None, content_type: str | None = None
    ) -> Obj | None:
        """One API call; None for 404, the decoded JSON otherwise."""
        data = json.dumps(body).encode() if body is not None else None
        request = urllib.request.Request(self.server + path, data=data, method=method)
        request.add_header("Accept", "application/json")
        if data is not None:
            request.add_header("Content-Type", content_type or "application/json")
        try:
            with urllib.request.urlopen(request, context=self.ssl_context(), timeout=30) as reply:
                decoded: Obj = json.loads(reply.read())
                return decoded
        except urllib.error.HTTPError as error:
            if error.code == 404:
                return None
            raise AssertionError(
                f"{method} {path}: HTTP {error.code}: {error.read().decode(errors='replace')}"
            ) from error

    @staticmethod
    def path(resource: str, namespace: str | None = None, name: str | None = None) -> str:
        prefix, namespaced = RESOURCES[resource]
        where = f"/namespaces/{namespace}" if namespaced and namespace else ""
        return f"{prefix}{where}/{resource}" + (f"/{name}" if name else "")

    def get(self, resource: str, name: str, namespace: str | None = None) -> Obj | None:
        return self.request("GET", self.path(resource, namespace, name))

    def objects(
        self, resource: str, namespace: str | None = None, selector: str | None = None
    ) -> list[Obj]:
        """Every object of a resource, in a namespace or everywhere, optionally by label."""
        query = "?" + urllib.parse.urlencode({"labelSelector": selector}) if selector else ""
        found = self.request("GET", self.path(resource, namespace) + query)
        items: list[Obj] = (found or {}).get("items", [])
        return items

    def delete(self, resource: str, name: str, namespace: str | None = None) -> None:
        self.request("DELETE", self.path(resource, namespace, name))

    # --- JobFlows --------------------------------------------------------------------------

    def flow(self, namespace: str, name: str) -> Obj | None:
        return self.get("jobflows", name, namespace)

    def wait_flow(
        self,
        namespace: str,
        name: str,
        phases: Sequence[str] = ("Succeeded",),
        timeout: float = 90,
    ) -> Obj:
        """Wait until the flow's phase is one of ``phases``; fail early on another end."""
        terminal = {"Succeeded", "Failed"}

        def probe() -> Obj | None:
            flow = self.flow(namespace, name)
            phase = (flow or {}).get("status", {}).get("phase")
            if flow and phase in phases:
                return flow
            if flow and phase in terminal - set(phases):
                raise AssertionError(
                    f"jobflow {namespace}/{name} ended {phase}, expected {'/'.join(phases)}:\n"
                    + describe_flow(flow)
                )
            return None

        return wait_for(
            f"jobflow {namespace}/{name} to be {'/'.join(phases)}",
            probe,
            timeout,
            detail=lambda: describe_flow(self.flow(namespace, name)),
        )

    def jobs_of(self, namespace: str, flow: str) -> list[Obj]:
        return self.objects("jobs", namespace, f"jobflow={flow}")


def steps_of(flow: Obj) -> dict[str, Obj]:
    """The flow's step statuses by step name."""
    return {s["name"]: s for s in flow.get("status", {}).get("steps", [])}


def describe_flow(flow: Obj | None) -> str:
    """A flow's phase, conditions and steps on a few lines, for failure messages."""
    if flow is None:
        return "(the flow does not exist)"
    status = flow.get("status", {})
    lines = [
        f"phase={status.get('phase')} reason={status.get('reason')} "
        f"progress={status.get('progress', {}).get('summary')}"
    ]
    for condition in status.get("conditions", []):
        lines.append(
            f"  condition {condition.get('type')}={condition.get('status')} "
            f"{condition.get('reason')}: {condition.get('message', '')[:200]}"
        )
    for step in status.get("steps", []):
        lines.append(
            f"  step {step.get('name')}: {step.get('phase')} {step.get('reason', '')} "
            f"retries={step.get('retryCount', 0)} {step.get('message', '')[:120]}"
        )
    return "\n".join(lines)


def job_attempts(jobs: Sequence[Obj]) -> list[tuple[str, str]]:
    """(step, attempt) of each Job, from the labels zen-flow puts on them."""
    return sorted(
        (
            j["metadata"]["labels"].get("workflow.zen.io/step", "?"),
            j["metadata"]["labels"].get("workflow.zen.io/attempt", "?"),
        )
        for j in jobs
    )


def condition(obj: Obj, kind: str) -> Obj | None:
    """The condition of type ``kind`` of any object with status.conditions."""
    for found in obj.get("status", {}).get("conditions", []):
        if found.get("type") == kind:
            return dict(found)
    return None
