"""The manifests and the Dockerfile: they render, they are safe, and they fit together."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import textwrap
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.support.manifests import ROOT, Obj, env_of, of_kind, pick, pod_spec, script_of
from zen_flow.api.status import FlowPhase
from zen_flow.gen.crd import crd
from zen_flow.tools.doccheck.manifests import Kustomize, kubectl_binary, pod_templates
from zen_flow.tools.doccheck.podsecurity import restricted_problems
from zen_flow.tools.doccheck.resources import CLUSTER_SCOPED

# Renders every kustomization with kubectl, or runs the benchmarks: slow.
pytestmark = pytest.mark.slow

HOOK_LABELS = {
    "app.kubernetes.io/name": "zen-flow-hooks",
    "app.kubernetes.io/part-of": "zen-flow",
    "app.kubernetes.io/component": "hooks",
}
NAMESPACE = "zen-flow-system"
COMPONENTS = ("prometheus", "kube-state-metrics", "backup")


@pytest.fixture(scope="module")
def kustomize(tmp_path_factory: pytest.TempPathFactory) -> Kustomize:
    return Kustomize(kubectl_binary(ROOT), tmp_path_factory.mktemp("kustomize"))


@pytest.fixture(scope="module")
def deploy(kustomize: Kustomize) -> list[Obj]:
    return kustomize.build(ROOT / "deploy")


@pytest.fixture(scope="module")
def with_components(kustomize: Kustomize) -> dict[str, list[Obj]]:
    """deploy/ with each component on top, as a user's overlay would have it."""
    components = ROOT / "deploy" / "components"
    return {c: kustomize.with_component(components / c, ROOT / "deploy") for c in COMPONENTS}


@pytest.fixture(scope="module")
def hooks(deploy: list[Obj]) -> Obj:
    return pick(deploy, "Deployment", "zen-flow-hooks")


@pytest.fixture(scope="module")
def container(hooks: Obj) -> Obj:
    (only,) = pod_spec(hooks)["containers"]
    found: Obj = only
    return found


# --- every file parses, every kustomization renders ----------------------------------------------

YAML_DIRS = ("crds", "deploy", "metacontroller", "examples")


def yaml_files() -> list[Path]:
    return sorted(p for d in YAML_DIRS for p in (ROOT / d).rglob("*.y*ml"))


@pytest.mark.parametrize("path", yaml_files(), ids=lambda p: str(p.relative_to(ROOT)))
def test_yaml_file_parses(path: Path) -> None:
    docs = [d for d in yaml.safe_load_all(path.read_text()) if d is not None]
    assert docs, "empty file"
    for doc in docs:
        assert isinstance(doc, dict)
        assert doc.get("kind"), "no kind"
        assert doc.get("apiVersion"), "no apiVersion"


def test_there_are_yaml_files_in_every_directory() -> None:
    found = {p.relative_to(ROOT).parts[0] for p in yaml_files()}
    assert {"crds", "deploy", "metacontroller"} <= found


@pytest.mark.parametrize("directory", ["deploy", "metacontroller", "crds"])
def test_kustomization_renders_offline(directory: str, kustomize: Kustomize) -> None:
    assert kustomize.build(ROOT / directory)


@pytest.mark.parametrize("component", COMPONENTS)
def test_component_renders_on_top_of_deploy(
    component: str, with_components: dict[str, list[Obj]], deploy: list[Obj]
) -> None:
    assert len(with_components[component]) > len(deploy)


def test_deploy_installs_crd_controller_and_hooks(deploy: list[Obj]) -> None:
    kinds = {(o["kind"], o["metadata"]["name"]) for o in deploy}
    assert kinds == {
        ("Namespace", NAMESPACE),
        ("CustomResourceDefinition", "jobflows.workflow.zen.io"),
        ("CompositeController", "zen-flow"),
        ("ServiceAccount", "zen-flow-hooks"),
        ("Deployment", "zen-flow-hooks"),
        ("Service", "zen-flow-hooks"),
        ("HorizontalPodAutoscaler", "zen-flow-hooks"),
        ("PodDisruptionBudget", "zen-flow-hooks"),
        ("NetworkPolicy", "zen-flow-hooks"),
        ("ServiceAccount", "zen-flow-janitor"),
        ("ClusterRole", "zen-flow-janitor"),
        ("ClusterRoleBinding", "zen-flow-janitor"),
        ("CronJob", "zen-flow-janitor"),
    }


def test_deploy_ships_the_generated_crd(deploy: list[Obj]) -> None:
    assert pick(deploy, "CustomResourceDefinition", "jobflows.workflow.zen.io") == crd()


def test_every_namespaced_object_names_its_namespace(
    deploy: list[Obj], with_components: dict[str, list[Obj]]
) -> None:
    everything = deploy + [o for objects in with_components.values() for o in objects]
    for obj in everything:
        namespace = obj["metadata"].get("namespace")
        if obj["kind"] in CLUSTER_SCOPED:
            assert namespace is None, obj["metadata"]["name"]
        else:
            assert namespace, f"{obj['kind']}/{obj['metadata']['name']}"


def test_every_image_is_pinned(deploy: list[Obj], with_components: dict[str, list[Obj]]) -> None:
    everything = deploy + [o for objects in with_components.values() for o in objects]
    images = [
        c["image"]
        for o in everything
        if o["kind"] in ("Deployment", "CronJob")
        for c in pod_spec(o)["containers"]
    ]
    assert images
    for image in images:
        name, _, tag = image.rpartition(":")
        assert name and tag and tag != "latest" and "/" not in tag, image


# --- the hook Deployment -------------------------------------------------------------------------


def test_hook_deployment_identity(hooks: Obj, container: Obj) -> None:
    assert hooks["metadata"]["namespace"] == NAMESPACE
    assert hooks["spec"]["replicas"] == 2
    assert hooks["spec"]["template"]["metadata"]["labels"] == HOOK_LABELS
    selector = hooks["spec"]["selector"]["matchLabels"]
    assert selector.items() <= HOOK_LABELS.items()
    assert container["image"] == "zen-flow/hooks:0.1.0"
    assert container["ports"] == [{"name": "http", "containerPort": 8080, "protocol": "TCP"}]


def test_hook_deployment_is_locked_down(hooks: Obj, container: Obj) -> None:
    pod = pod_spec(hooks)
    assert pod["serviceAccountName"] == "zen-flow-hooks"
    assert pod["automountServiceAccountToken"] is False
    pod_security = pod["securityContext"]
    assert pod_security["runAsNonRoot"] is True
    assert pod_security["seccompProfile"] == {"type": "RuntimeDefault"}
    security = container["securityContext"]
    assert security["runAsNonRoot"] is True
    for key in ("runAsUser", "runAsGroup"):
        uid = security.get(key, pod_security.get(key))
        assert isinstance(uid, int) and uid > 0, key
    assert security["readOnlyRootFilesystem"] is True
    assert security["allowPrivilegeEscalation"] is False
    assert security["capabilities"] == {"drop": ["ALL"]}
    assert security["seccompProfile"] == {"type": "RuntimeDefault"}
    assert "privileged" not in security or security["privileged"] is False


def test_hook_service_account_has_no_token(deploy: list[Obj]) -> None:
    account = pick(deploy, "ServiceAccount", "zen-flow-hooks")
    assert account["automountServiceAccountToken"] is False
    bound = {
        s["name"] for b in of_kind(deploy, "ClusterRoleBinding") for s in b.get("subjects", [])
    }
    assert "zen-flow-hooks" not in bound, "the hooks need no Kubernetes credentials"


def test_hook_probes_and_resources(container: Obj) -> None:
    assert container["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": "http"}
    assert container["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": "http"}
    resources = container["resources"]
    assert {"cpu", "memory"} <= resources["requests"].keys()
    assert "memory" in resources["limits"]


def test_hook_environment(container: Obj) -> None:
    env = env_of(container)
    assert env["ZEN_FLOW_BIND"] == "0.0.0.0:8080"
    assert env["PROMETHEUS_MULTIPROC_DIR"] == "/tmp/metrics"
    for name in ("ZEN_FLOW_WORKERS", "ZEN_FLOW_TIMEOUT", "ZEN_FLOW_GRACEFUL_TIMEOUT"):
        assert int(env[name]) > 0, name


def test_writable_directories_are_empty_dirs(hooks: Obj, container: Obj) -> None:
    volumes = {v["name"]: v for v in pod_spec(hooks)["volumes"]}
    mounts = {m["mountPath"]: m["name"] for m in container["volumeMounts"]}
    metrics_dir = env_of(container)["PROMETHEUS_MULTIPROC_DIR"]
    for path in ("/tmp", metrics_dir):
        assert "emptyDir" in volumes[mounts[path]], path


def test_graceful_shutdown_fits_in_the_grace_period(hooks: Obj, container: Obj) -> None:
    graceful = int(env_of(container)["ZEN_FLOW_GRACEFUL_TIMEOUT"])
    pre_stop = container["lifecycle"]["preStop"]["exec"]["command"]
    assert pre_stop[0] == "sleep"
    grace = pod_spec(hooks)["terminationGracePeriodSeconds"]
    assert grace > graceful + int(pre_stop[1])


def test_hook_replicas_spread_over_nodes_and_zones(hooks: Obj) -> None:
    pod = pod_spec(hooks)
    constraints = pod.get("topologySpreadConstraints", [])
    keys = {c["topologyKey"] for c in constraints}
    assert {"kubernetes.io/hostname", "topology.kubernetes.io/zone"} <= keys
    for constraint in constraints:
        assert constraint["labelSelector"]["matchLabels"].items() <= HOOK_LABELS.items()


def test_hook_service(deploy: list[Obj], container: Obj) -> None:
    service = pick(deploy, "Service", "zen-flow-hooks")
    assert service["metadata"]["namespace"] == NAMESPACE
    assert service["spec"]["selector"].items() <= HOOK_LABELS.items()
    assert service["spec"]["ports"] == [
        {"name": "http", "port": 80, "targetPort": "http", "protocol": "TCP"}
    ]
    assert any(p["name"] == "http" for p in container["ports"])


def test_hook_autoscaling_and_disruption_budget(deploy: list[Obj]) -> None:
    hpa = pick(deploy, "HorizontalPodAutoscaler", "zen-flow-hooks")
    assert hpa["apiVersion"] == "autoscaling/v2"
    assert hpa["spec"]["scaleTargetRef"] == {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "name": "zen-flow-hooks",
    }
    assert hpa["spec"]["minReplicas"] == 2
    assert hpa["spec"]["maxReplicas"] >= 2
    (metric,) = hpa["spec"]["metrics"]
    assert metric["resource"]["name"] == "cpu"
    pdb = pick(deploy, "PodDisruptionBudget", "zen-flow-hooks")
    assert pdb["spec"]["minAvailable"] == 1
    assert pdb["spec"]["selector"]["matchLabels"].items() <= HOOK_LABELS.items()


def test_network_policy_admits_only_metacontroller_and_monitoring(deploy: list[Obj]) -> None:
    policy = pick(deploy, "NetworkPolicy", "zen-flow-hooks")
    spec = policy["spec"]
    assert spec["podSelector"]["matchLabels"].items() <= HOOK_LABELS.items()
    assert spec["policyTypes"] == ["Ingress"]
    admitted = set()
    for rule in spec["ingress"]:
        assert rule["ports"] == [{"port": "http", "protocol": "TCP"}]
        for peer in rule["from"]:
            assert set(peer) == {"namespaceSelector"}, "only whole namespaces are admitted"
            labels = peer["namespaceSelector"]
            assert set(labels) == {"matchLabels"}
            assert set(labels["matchLabels"]) == {"kubernetes.io/metadata.name"}
            admitted.add(labels["matchLabels"]["kubernetes.io/metadata.name"])
    assert admitted == {"metacontroller", "monitoring"}


def test_namespace_enforces_restricted_pod_security(deploy: list[Obj]) -> None:
    labels = pick(deploy, "Namespace", NAMESPACE)["metadata"]["labels"]
    assert labels["pod-security.kubernetes.io/enforce"] == "restricted"


def test_every_pod_of_the_install_meets_the_restricted_level(
    deploy: list[Obj], with_components: dict[str, list[Obj]]
) -> None:
    objects = deploy + [o for objs in with_components.values() for o in objs]
    problems = {
        f"{obj['kind']} {obj['metadata']['name']}: {problem}"
        for obj in objects
        if obj["metadata"].get("namespace") == NAMESPACE
        for template in pod_templates(obj)
        for problem in restricted_problems(template["spec"])
    }
    assert sorted(problems) == []


# --- the CompositeController ----------------------------------------------------------------------


def test_composite_controller_matches_crd_and_service(deploy: list[Obj], container: Obj) -> None:
    controller = pick(deploy, "CompositeController", "zen-flow")
    definition = pick(deploy, "CustomResourceDefinition", "jobflows.workflow.zen.io")["spec"]
    spec = controller["spec"]
    (served,) = definition["versions"]
    assert spec["parentResource"] == {
        "apiVersion": f"{definition['group']}/{served['name']}",
        "resource": definition["names"]["plural"],
    }
    assert spec["generateSelector"] is True
    children = {
        (c["apiVersion"], c["resource"]): c["updateStrategy"] for c in spec["childResources"]
    }
    assert children == {
        ("batch/v1", "jobs"): {"method": "InPlace"},
        ("v1", "configmaps"): {"method": "InPlace"},
        ("v1", "persistentvolumeclaims"): {"method": "OnDelete"},
    }
    service = pick(deploy, "Service", "zen-flow-hooks")
    base = f"http://{service['metadata']['name']}.{service['metadata']['namespace']}"
    assert service["spec"]["ports"][0]["port"] == 80  # the URLs name no port
    worker_timeout = int(env_of(container)["ZEN_FLOW_TIMEOUT"])
    for hook in ("sync", "finalize"):
        hook_spec = spec["hooks"][hook]
        assert hook_spec["version"] in ("v1", "v2")
        assert hook_spec["webhook"]["url"] == f"{base}/{hook}"
        timeout = hook_spec["webhook"]["timeout"]
        assert re.fullmatch(r"\d+s", timeout)
        assert int(timeout[:-1]) < worker_timeout, "gunicorn must outlast Metacontroller's call"


def test_metacontroller_install_is_pinned_with_leader_election() -> None:
    path = ROOT / "metacontroller" / "install" / "kustomization.yaml"
    text = path.read_text()
    install = yaml.safe_load(text)
    (remote,) = install["resources"]
    assert re.fullmatch(
        r"https://github\.com/metacontroller/metacontroller/manifests/production\?ref=v\d+\.\d+\.\d+",
        remote,
    )
    (patch,) = install["patches"]
    assert patch["target"]["kind"] == "StatefulSet"
    assert patch["target"]["name"] == "metacontroller"
    operations = yaml.safe_load(patch["patch"])
    assert {"op": "replace", "path": "/spec/replicas", "value": 2} in operations
    args = {o["value"] for o in operations if o["path"].endswith("/args/-")}
    assert args == {
        "--leader-election",
        "--leader-election-resource-lock=leases",
        "--leader-election-namespace=metacontroller",
        "--leader-election-id=metacontroller",
    }
    # The header documents the Lease by its exact name and namespace.
    header = " ".join(line.strip("# ") for line in text.split("apiVersion:")[0].splitlines())
    assert 'Lease named "metacontroller" in namespace "metacontroller"' in header


# --- CronJobs: the TTL janitor and the backup ----------------------------------------------------


def cronjob_checks(objects: list[Obj], name: str, verbs: set[str]) -> Obj:
    cronjob = pick(objects, "CronJob", name)
    assert cronjob["metadata"]["namespace"] == NAMESPACE
    assert cronjob["spec"]["concurrencyPolicy"] == "Forbid"
    pod = pod_spec(cronjob)
    (container,) = pod["containers"]
    volumes = {v["name"]: v for v in pod.get("volumes", [])}
    mounts = {m["name"] for m in container.get("volumeMounts", [])}
    assert mounts == set(volumes), "every volume is mounted and every mount has a volume"
    for volume in volumes.values():
        claim = volume.get("persistentVolumeClaim")
        if claim:
            pvc = pick(objects, "PersistentVolumeClaim", claim["claimName"])
            assert pvc["metadata"]["namespace"] == NAMESPACE
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["securityContext"]["runAsUser"] > 0
    assert pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
    security = container["securityContext"]
    assert security["allowPrivilegeEscalation"] is False
    assert security["readOnlyRootFilesystem"] is True
    assert security["capabilities"] == {"drop": ["ALL"]}
    assert env_of(container)["HOME"] in {m["mountPath"] for m in container["volumeMounts"]}

    account = pod["serviceAccountName"]
    pick(objects, "ServiceAccount", account)
    bindings = [
        b
        for b in of_kind(objects, "ClusterRoleBinding") + of_kind(objects, "RoleBinding")
        if any(s["name"] == account and s.get("namespace") == NAMESPACE for s in b["subjects"])
    ]
    (binding,) = bindings
    role = pick(objects, binding["roleRef"]["kind"], binding["roleRef"]["name"])
    (rule,) = role["rules"]
    assert set(rule) == {"apiGroups", "resources", "verbs"}, "no resourceNames, no wildcards"
    assert rule["apiGroups"] == ["workflow.zen.io"]
    assert rule["resources"] == ["jobflows"]
    assert sorted(rule["verbs"]) == sorted(verbs)
    found: Obj = container
    return found


def test_janitor_may_only_list_and_delete_jobflows(deploy: list[Obj]) -> None:
    container = cronjob_checks(deploy, "zen-flow-janitor", {"list", "delete"})
    assert "kubectl delete jobflow" in script_of(container)


def test_backup_may_only_read_jobflows(with_components: dict[str, list[Obj]]) -> None:
    container = cronjob_checks(with_components["backup"], "zen-flow-backup", {"get", "list"})
    mounts = {m["mountPath"] for m in container["volumeMounts"]}
    assert env_of(container)["BACKUP_DIR"] in mounts


FAKE_KUBECTL = textwrap.dedent(
    """\
    #!{python}
    # Answers `kubectl get jobflows ... -o jsonpath=T` from $FAKE_FLOWS (a JSON list) by
    # evaluating the template, and records every other call in $FAKE_CALLS.
    import json, os, re, sys

    args = sys.argv[1:]
    with open(os.environ["FAKE_CALLS"], "a") as calls:
        calls.write(json.dumps(args) + "\\n")
    if args[0] != "get":
        sys.exit(0)
    flows = {{"items": json.load(open(os.environ["FAKE_FLOWS"]))}}
    output = args[args.index("-o") + 1]
    if output == "yaml":
        print(json.dumps(flows))  # JSON is YAML
        sys.exit(0)
    template = output.removeprefix("jsonpath=")
    body = re.fullmatch(r"\\{{range \\.items\\[\\*\\]\\}}(.*)\\{{end\\}}", template).group(1)

    def field(item, path):
        for key in path.strip(".").split("."):
            item = item.get(key) if isinstance(item, dict) else None
        return "" if item is None else str(item)

    for item in flows["items"]:
        for literal, path in re.findall(r'\\{{"([^"]*)"\\}}|\\{{([^}}]+)\\}}', body):
            if path:
                sys.stdout.write(field(item, path))
            else:
                sys.stdout.write(literal.encode().decode("unicode_escape"))
    """
)


def run_script(tmp_path: Path, script: str, flows: list[Obj], env: dict[str, str]) -> list[Any]:
    """Run a CronJob's shell script with /bin/sh and a fake kubectl; return kubectl's calls."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    fake = bin_dir / "kubectl"
    fake.write_text(FAKE_KUBECTL.format(python=sys.executable))
    fake.chmod(0o755)
    (tmp_path / "flows.json").write_text(json.dumps(flows))
    calls = tmp_path / "calls"
    calls.touch()
    # The script's scratch files go to /tmp in the pod; here to a private directory.
    script = script.replace("/tmp/", f"{tmp_path}/")
    result = subprocess.run(
        ["/bin/sh", "-c", script],
        env={
            "PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}",
            "FAKE_FLOWS": str(tmp_path / "flows.json"),
            "FAKE_CALLS": str(calls),
            **env,
        },
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    return [json.loads(line) for line in calls.read_text().splitlines()]


def flow(
    name: str, phase: str | None, finished: datetime | None, ttl: int | None, ns: str = "team-a"
) -> Obj:
    obj: Obj = {"metadata": {"namespace": ns, "name": name}, "spec": {}, "status": {}}
    if phase:
        obj["status"]["phase"] = phase
    if finished:
        obj["status"]["completionTime"] = finished.strftime("%Y-%m-%dT%H:%M:%SZ")
    if ttl is not None:
        obj["spec"]["executionPolicy"] = {"ttlSecondsAfterFinished": ttl}
    return obj


def test_janitor_deletes_exactly_the_flows_whose_ttl_has_passed(
    tmp_path: Path, deploy: list[Obj]
) -> None:
    (container,) = pod_spec(pick(deploy, "CronJob", "zen-flow-janitor"))["containers"]
    now = datetime.now(UTC).replace(microsecond=0)
    fraction = flow("fraction", "Succeeded", None, 60)
    fraction["status"]["completionTime"] = (now - timedelta(minutes=5)).strftime(
        "%Y-%m-%dT%H:%M:%S.123456Z"
    )
    flows = [
        flow("old-success", "Succeeded", now - timedelta(days=2), 86400),
        flow("old-failure", "Failed", now - timedelta(hours=2), 3600, ns="team-b"),
        flow("zero-ttl", "Succeeded", now - timedelta(seconds=5), 0),
        flow("default-ttl-expired", "Succeeded", now - timedelta(days=2), None),
        fraction,
        flow("recent", "Succeeded", now - timedelta(minutes=5), 3600),
        flow("default-ttl-recent", "Failed", now - timedelta(hours=1), None),
        flow("running", "Running", None, 0),
        flow("pending", None, None, 0),
        flow("suspended", "Suspended", now - timedelta(days=9), 0),  # not a finished phase
    ]
    calls = run_script(tmp_path, script_of(container), flows, env_of(container))
    assert calls[0][:3] == ["get", "jobflows", "--all-namespaces"]
    deleted = {(c[c.index("--namespace") + 1], c[c.index("--namespace") + 2]) for c in calls[1:]}
    assert all(c[:2] == ["delete", "jobflow"] for c in calls[1:])
    assert deleted == {
        ("team-a", "old-success"),
        ("team-b", "old-failure"),
        ("team-a", "zero-ttl"),
        ("team-a", "default-ttl-expired"),
        ("team-a", "fraction"),
    }
    assert all("--wait=false" in c for c in calls[1:]), "finalization must not block the run"


def test_backup_writes_a_dated_file_and_prunes_old_ones(
    tmp_path: Path, with_components: dict[str, list[Obj]]
) -> None:
    (container,) = pod_spec(pick(with_components["backup"], "CronJob", "zen-flow-backup"))[
        "containers"
    ]
    backups = tmp_path / "backup"
    backups.mkdir()
    old = backups / "jobflows-20000101T000000Z.yaml"
    old.write_text("old")
    os.utime(old, (0, 0))
    kept = backups / "jobflows-20990101T000000Z.yaml"
    kept.write_text("recent")
    env = {**env_of(container), "BACKUP_DIR": str(backups)}
    flows = [flow("a", "Running", None, 0)]
    calls = run_script(tmp_path, script_of(container), flows, env)
    assert calls == [["get", "jobflows", "--all-namespaces", "-o", "yaml"]]
    written = sorted(p.name for p in backups.iterdir())
    assert len(written) == 2 and kept.name in written and old.name not in written
    (new,) = [name for name in written if name != kept.name]
    assert re.fullmatch(r"jobflows-\d{8}T\d{6}Z\.yaml", new)
    assert json.loads((backups / new).read_text())["items"][0]["metadata"]["name"] == "a"


# --- monitoring components -----------------------------------------------------------------------


def test_service_monitor_scrapes_the_hook_service(with_components: dict[str, list[Obj]]) -> None:
    objects = with_components["prometheus"]
    monitor = pick(objects, "ServiceMonitor", "zen-flow-hooks")
    service = pick(objects, "Service", "zen-flow-hooks")
    assert (
        monitor["spec"]["selector"]["matchLabels"].items() <= service["metadata"]["labels"].items()
    )
    assert monitor["spec"]["namespaceSelector"]["matchNames"] == [NAMESPACE]
    (endpoint,) = monitor["spec"]["endpoints"]
    assert endpoint["port"] == service["spec"]["ports"][0]["name"]
    assert endpoint["path"] == "/metrics"


def test_alerts_use_the_metrics_zen_flow_exports(with_components: dict[str, list[Obj]]) -> None:
    rules = pick(with_components["prometheus"], "PrometheusRule", "zen-flow")
    alerts = {r["alert"]: r["expr"] for g in rules["spec"]["groups"] for r in g["rules"]}
    assert 'zen_flow_hook_requests_total{code=~"5.."}' in alerts["ZenFlowHookErrors"]
    assert "zen_flow_hook_request_duration_seconds_bucket" in alerts["ZenFlowHookLatencyHigh"]
    assert "histogram_quantile(0.99" in alerts["ZenFlowHookLatencyHigh"]
    assert (
        'kube_customresource_jobflow_status_phase{phase="Failed"}'
        in (alerts["ZenFlowJobFlowFailed"])
    )
    assert (
        'workqueue_retries_total{name="CompositeController-zen-flow"}'
        in (alerts["ZenFlowMetacontrollerSyncErrors"])
    )


def test_kube_state_metrics_exports_every_flow_phase(
    with_components: dict[str, list[Obj]],
) -> None:
    objects = with_components["kube-state-metrics"]
    config_map = pick(objects, "ConfigMap", "zen-flow-kube-state-metrics")
    config = yaml.safe_load(config_map["data"]["jobflow.yaml"])
    assert config["kind"] == "CustomResourceStateMetrics"
    (resource,) = config["spec"]["resources"]
    assert resource["groupVersionKind"] == {
        "group": "workflow.zen.io",
        "version": "v1alpha1",
        "kind": "JobFlow",
    }
    assert resource["labelsFromPath"] == {
        "namespace": ["metadata", "namespace"],
        "jobflow": ["metadata", "name"],
    }
    metrics = {m["name"]: m for m in resource["metrics"]}
    name = f"{resource['metricNamePrefix']}_jobflow_status_phase"
    assert name == "kube_customresource_jobflow_status_phase"
    state_set = metrics["jobflow_status_phase"]["each"]["stateSet"]
    assert state_set["path"] == ["status", "phase"]
    assert state_set["labelName"] == "phase"
    assert state_set["list"] == [phase.value for phase in FlowPhase]
    role = pick(objects, "ClusterRole", "zen-flow-kube-state-metrics")
    jobflow_rule = next(r for r in role["rules"] if r["apiGroups"] == ["workflow.zen.io"])
    assert jobflow_rule == {
        "apiGroups": ["workflow.zen.io"],
        "resources": ["jobflows"],
        "verbs": ["list", "watch"],
    }


# --- the Dockerfile ------------------------------------------------------------------------------


def dockerfile_stages() -> list[list[str]]:
    """The Dockerfile's instructions (continuations joined), split into stages."""
    text = (ROOT / "Dockerfile").read_text()
    logical = re.sub(r"\\\n\s*", " ", text)
    lines = [ln.strip() for ln in logical.splitlines() if ln.strip() and not ln.startswith("#")]
    stages: list[list[str]] = []
    for line in lines:
        if line.upper().startswith("FROM "):
            stages.append([])
        assert stages, f"instruction before FROM: {line}"
        stages[-1].append(line)
    return stages


def test_dockerfile_is_multi_stage_on_a_pinned_base() -> None:
    stages = dockerfile_stages()
    assert len(stages) >= 2
    bases = [stage[0].split()[1] for stage in stages]
    for base in bases:
        name, _, tag = base.partition(":")
        assert name == "python", base
        assert re.fullmatch(r"3\.11\.\d+-slim-bookworm(@sha256:[0-9a-f]{64})?", tag), base
    assert bases[0] == bases[-1], "builder and final image share the base"


def test_dockerfile_final_stage_runs_as_numeric_non_root_user() -> None:
    final = dockerfile_stages()[-1]
    users = [line.split()[1] for line in final if line.upper().startswith("USER ")]
    assert users, "no USER in the final stage"
    uid, _, gid = users[-1].partition(":")
    assert uid.isdigit() and int(uid) > 0
    assert not gid or (gid.isdigit() and int(gid) > 0)
    assert any(f"--uid {uid}" in line for line in final)


def test_dockerfile_final_stage_has_no_build_tools() -> None:
    final = " ".join(dockerfile_stages()[-1])
    for tool in ("gcc", "g++", "build-essential", "make ", "clang", "python3-dev", "apt-get"):
        assert tool not in final, tool
    assert "COPY --from=builder /opt/venv /opt/venv" in final
    assert "pip install" not in final


def test_dockerfile_builds_from_the_lock_file() -> None:
    builder = " ".join(dockerfile_stages()[0])
    assert "python -m venv /opt/venv" in builder
    assert "pip install --no-cache-dir --require-hashes -r requirements-runtime.lock" in builder
    # The build itself uses the locked setuptools, not one fetched unpinned.
    assert "pip install --no-cache-dir --no-deps --no-build-isolation ." in builder
    lock = (ROOT / "requirements-runtime.lock").read_text()
    assert "setuptools==" in lock
    pinned = [line for line in lock.splitlines() if "==" in line and not line.startswith("#")]
    assert pinned and all(line.rstrip().endswith("\\") for line in pinned), "hashes on every pin"


def test_dockerfile_runtime_settings() -> None:
    final = dockerfile_stages()[-1]
    joined = " ".join(final)
    for setting in (
        "ZEN_FLOW_BIND=0.0.0.0:8080",
        "PROMETHEUS_MULTIPROC_DIR=/tmp/metrics",
        "PYTHONDONTWRITEBYTECODE=1",
    ):
        assert setting in joined, setting
    assert "EXPOSE 8080" in final
    (entrypoint,) = [line for line in final if line.startswith("ENTRYPOINT")]
    assert json.loads(entrypoint.removeprefix("ENTRYPOINT")) == [
        "gunicorn",
        "--config",
        "python:zen_flow.server.gunicorn_conf",
    ]


def test_dockerignore_keeps_what_the_build_copies() -> None:
    patterns = (ROOT / ".dockerignore").read_text().splitlines()
    kept = {p[1:].rstrip("/") for p in patterns if p.startswith("!")}
    copied = set()
    for stage in dockerfile_stages():
        for line in stage:
            parts = line.split()
            if parts[0] == "COPY" and not parts[1].startswith("--from"):
                copied |= {p.rstrip("/") for p in parts[1:-1]}
    assert copied <= kept
    for source in copied:
        assert (ROOT / source).exists(), f"the Dockerfile copies {source}, which is missing"
    assert "*" in patterns, "everything else (.venv, .git, tests) stays out of the context"
