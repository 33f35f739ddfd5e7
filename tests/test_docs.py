"""The documentation says only what is true of this project.

- docs/API.md is exactly what ``python -m zen_flow.apidoc`` prints, and every field of the
  models is documented there and in the user guide;
- every ``kubectl`` command in the docs' shell blocks (and in the examples' comments) names
  namespaces, resources, labels, annotations, condition types, status fields and files that
  the manifests, ``zen_flow.constants`` and ``zen_flow.api`` define; never ``apply
  --previous``, never a patch of ``status`` (the hooks own it);
- every section of the disaster-recovery procedures the users asked for has its counterpart;
- relative links resolve; environment variables and metric names exist in the code.
"""

from __future__ import annotations

import functools
import os
import re
import shlex
import shutil
import subprocess
import types
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any, Union, get_args, get_origin

import pytest
import yaml
from pydantic import BaseModel

from zen_flow import api, apidoc, constants

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"
MY_DOCS = [
    "API.md",
    "USER_GUIDE.md",
    "OPERATOR_GUIDE.md",
    "TROUBLESHOOTING.md",
    "ARCHITECTURE.md",
    "DISASTER_RECOVERY.md",
]
KUBECTL = shutil.which("kubectl") or str(ROOT / ".venv" / "bin" / "kubectl")
CRD_FILE = ROOT / "crds" / "workflow.zen.io_jobflows.yaml"
COMPOSITE_CONTROLLER = ROOT / "metacontroller" / "compositecontroller.yaml"
METACONTROLLER_INSTALL = ROOT / "metacontroller" / "install"
# Only the procedures of these files may delete the CRD (uninstalling deletes every JobFlow).
MAY_DELETE_CRD = {"OPERATOR_GUIDE.md"}


def read(name: str) -> str:
    path = DOCS / name
    if not path.exists():
        pytest.fail(f"docs/{name} is missing")
    return path.read_text()


def command_sources() -> list[Path]:
    """Every file whose kubectl commands users copy: the docs, the README, the examples."""
    files = sorted(DOCS.glob("*.md")) + sorted((ROOT / "examples").glob("*.yaml"))
    readme = ROOT / "README.md"
    return [readme, *files] if readme.exists() else files


# --- API reference ---------------------------------------------------------------------------


def test_api_reference_is_generated_from_the_models() -> None:
    assert read("API.md") == apidoc.render(), f"docs/API.md is stale: {apidoc.REGENERATE}"


def model_fields() -> list[tuple[type[BaseModel], str]]:
    roots = [(api.JobFlowSpec, "spec"), (api.JobFlowStatus, "status")]
    return [
        (section.model, apidoc.field_name(name, info))
        for section in apidoc.sections(roots)
        for name, info in section.model.model_fields.items()
    ]


def test_every_model_field_is_in_the_api_reference() -> None:
    text = read("API.md")
    parts = re.split(r"^### ", text, flags=re.M)
    by_model = {part.split("\n", 1)[0].strip(): part for part in parts[1:]}
    missing = [
        f"{model.__name__}.{name}"
        for model, name in model_fields()
        if f"| `{name}` |" not in by_model.get(model.__name__, "")
    ]
    assert missing == []


def test_every_model_field_is_explained_in_the_user_guide() -> None:
    text = read("USER_GUIDE.md")
    missing = sorted(
        {
            f"{model.__name__}.{name}"
            for model, name in model_fields()
            if f"`{name}`" not in text and not re.search(rf"^\s*-?\s*{name}:", text, re.M)
        }
    )
    assert missing == []


# --- the user asked for every disaster-recovery procedure, adapted -------------------------

# Each heading of the user's seed document (for an older controller) → its counterpart.
SEED_TO_DR = {
    "Table of Contents": "Contents",
    "Recovery from Controller Failures": "Recovery from controller failures",
    "Controller Pod Crash": "Hook pod crash",
    "Leader Election Failure": "Metacontroller crash and leader election",
    "Recovery from JobFlow Failures": "Recovery from JobFlow failures",
    "JobFlow Stuck in Running": "JobFlow stuck in Running",
    "Step Execution Failure": "Step failure and retrying",
    "Backup Strategies": "Backup and restore",
    "JobFlow Backup": "One-off backup",
    "Regular Backups": "Scheduled backups",
    "Emergency Stop Procedures": "Emergency stop",
    "Stop All JobFlows": "Stop all JobFlows",
    "Suspend Specific JobFlow": "Suspend one JobFlow",
    "Rollback Scenarios": "Rollback",
    "Rollback Controller Version": "Roll back the hooks",
    "Rollback CRD Version": "Roll back the CRD",
    "Prevention Measures": "Prevention",
    "See Also": "See also",
}


def headings(text: str) -> list[str]:
    return [h.strip() for h in re.findall(r"^#{2,4} (.+)$", strip_blocks(text), re.M)]


def test_every_seed_section_has_a_counterpart_in_disaster_recovery() -> None:
    present = headings(read("DISASTER_RECOVERY.md"))
    missing = [f"{seed} → {ours}" for seed, ours in SEED_TO_DR.items() if ours not in present]
    assert missing == []


def test_disaster_recovery_gives_the_commands_that_work() -> None:
    text = read("DISASTER_RECOVERY.md")
    for needed in (
        "kubectl -n metacontroller scale statefulset metacontroller --replicas=0",
        "kubectl -n zen-flow-system rollout undo deployment/zen-flow-hooks",
        "kubectl -n zen-flow-system logs deploy/zen-flow-hooks --previous",
        "kubectl -n metacontroller get lease",
        "kubectl patch jobflow <name> --type=json -p "
        """'[{"op":"remove","path":"/metadata/finalizers"}]'""",
        "metacontroller.io/compositecontroller-zen-flow",
        f"{constants.ANNOTATION_SUSPENDED}=true",
    ):
        assert needed in text, f"DISASTER_RECOVERY.md lacks: {needed}"


def test_features_not_built_yet_are_marked_so() -> None:
    for name in ("USER_GUIDE.md", "DISASTER_RECOVERY.md"):
        text = read(name)
        assert "Not yet implemented" in text, name
        for annotation in ("workflow.zen.io/terminate", "workflow.zen.io/rerun"):
            assert annotation in text, f"{name} does not say {annotation} is not implemented"


# --- links, environment variables, metrics ---------------------------------------------------


def slug(heading: str) -> str:
    """GitHub's anchor for a heading."""
    text = re.sub(r"[^\w\- ]", "", heading.strip().lower().replace("`", ""))
    return text.replace(" ", "-")


def strip_blocks(text: str) -> str:
    """Text without fenced code blocks (whose "#" lines are not headings)."""
    return re.sub(r"^```.*?^```", "", text, flags=re.M | re.S)


def strip_code(text: str) -> str:
    """Text without code blocks and inline code, where brackets are not links."""
    return re.sub(r"`[^`\n]*`", "``", strip_blocks(text))


@pytest.mark.parametrize("name", MY_DOCS)
def test_relative_links_resolve(name: str) -> None:
    text = strip_code(read(name))
    broken = []
    for target in re.findall(r"\]\(([^)\s]+)\)", text):
        if re.match(r"[a-z]+:", target):
            continue
        path, _, fragment = target.partition("#")
        file = (DOCS / path).resolve() if path else DOCS / name
        if not file.exists():
            broken.append(target)
        elif fragment and file.suffix == ".md":
            anchors = {
                slug(h) for h in re.findall(r"^#+ (.+)$", strip_blocks(file.read_text()), re.M)
            }
            if fragment not in anchors:
                broken.append(target)
    assert broken == [], f"docs/{name}: broken relative links {broken}"


def hooks_source() -> str:
    return "\n".join(p.read_text() for p in sorted((ROOT / "hooks" / "zen_flow").glob("*.py")))


@pytest.mark.parametrize("name", MY_DOCS)
def test_environment_variables_exist_in_the_code(name: str) -> None:
    source = hooks_source()
    unknown = sorted(
        {var for var in re.findall(r"\bZEN_FLOW_[A-Z_]+\b", read(name)) if var not in source}
    )
    assert unknown == []


@pytest.mark.parametrize("name", MY_DOCS)
def test_metric_names_exist_in_the_code(name: str) -> None:
    metrics = ROOT / "hooks" / "zen_flow" / "metrics.py"
    used = set(re.findall(r"\bzen_flow_[a-z_]+\b", read(name)))
    if not used:
        return
    if not metrics.exists():
        pytest.fail("hooks/zen_flow/metrics.py is missing")
    source = metrics.read_text()
    unknown = sorted(
        metric
        for metric in used
        if not any(
            base in source
            for base in {metric, re.sub(r"_(total|bucket|sum|count|created)$", "", metric)}
        )
    )
    assert unknown == []


# --- what the manifests define ---------------------------------------------------------------

RUNTIME_KINDS = {
    "JobFlow",
    "Job",
    "Pod",
    "ConfigMap",
    "PersistentVolumeClaim",
    "Event",
    "ReplicaSet",
    "ControllerRevision",
    "Namespace",
    "Node",
    "Secret",
    "Lease",
    "Endpoints",
    "EndpointSlice",
}
CLUSTER_SCOPED = {
    "Namespace",
    "Node",
    "CustomResourceDefinition",
    "CompositeController",
    "DecoratorController",
    "ClusterRole",
    "ClusterRoleBinding",
}
KIND_ALIASES = {
    "JobFlow": ["jobflow", "jobflows", "jf", "flow", "jobflows.workflow.zen.io"],
    "Job": ["job", "jobs", "jobs.batch"],
    "CronJob": ["cronjob", "cronjobs", "cj"],
    "Pod": ["pod", "pods", "po"],
    "Deployment": ["deployment", "deployments", "deploy"],
    "StatefulSet": ["statefulset", "statefulsets", "sts"],
    "ReplicaSet": ["replicaset", "replicasets", "rs"],
    "Service": ["service", "services", "svc"],
    "Endpoints": ["endpoints", "ep"],
    "EndpointSlice": ["endpointslice", "endpointslices"],
    "ConfigMap": ["configmap", "configmaps", "cm"],
    "Secret": ["secret", "secrets"],
    "PersistentVolumeClaim": ["persistentvolumeclaim", "persistentvolumeclaims", "pvc"],
    "Lease": ["lease", "leases"],
    "Event": ["event", "events", "ev"],
    "Namespace": ["namespace", "namespaces", "ns"],
    "Node": ["node", "nodes", "no"],
    "CustomResourceDefinition": ["crd", "crds", "customresourcedefinition"],
    "CompositeController": ["compositecontroller", "compositecontrollers", "cc"],
    "ControllerRevision": ["controllerrevision", "controllerrevisions"],
    "HorizontalPodAutoscaler": ["horizontalpodautoscaler", "hpa"],
    "PodDisruptionBudget": ["poddisruptionbudget", "pdb"],
    "NetworkPolicy": ["networkpolicy", "networkpolicies", "netpol"],
    "ServiceMonitor": ["servicemonitor", "servicemonitors"],
    "PrometheusRule": ["prometheusrule", "prometheusrules"],
    "ServiceAccount": ["serviceaccount", "serviceaccounts", "sa"],
    "Role": ["role", "roles"],
    "RoleBinding": ["rolebinding", "rolebindings"],
    "ClusterRole": ["clusterrole", "clusterroles"],
    "ClusterRoleBinding": ["clusterrolebinding", "clusterrolebindings"],
}
KINDS = {alias: kind for kind, aliases in KIND_ALIASES.items() for alias in aliases}
# Labels that Kubernetes or Metacontroller put on children.
SYSTEM_LABELS = {
    "controller-uid",
    "batch.kubernetes.io/controller-uid",
    "batch.kubernetes.io/job-name",
    "job-name",
    "kubernetes.io/service-name",
    constants.LABEL_KUEUE_QUEUE,
}
FLOW_LABELS = {
    constants.LABEL_JOBFLOW_SHORT,
    constants.LABEL_JOBFLOW,
    constants.LABEL_STEP,
    constants.LABEL_ATTEMPT,
    constants.LABEL_RESOURCE,
}
# Annotations a user sets on a JobFlow (the others of SPEC §6 are not implemented).
USER_ANNOTATIONS = {constants.ANNOTATION_SUSPENDED: {"true", "false"}}


@dataclass
class Manifests:
    """The objects the install creates, as rendered by kustomize."""

    objects: list[dict[str, Any]]
    lease: tuple[str, str]  # namespace, name
    example_flows: set[str] = field(default_factory=set)

    @functools.cached_property
    def namespaces(self) -> set[str]:
        found = {o["metadata"].get("namespace") for o in self.objects} - {None}
        found |= {o["metadata"]["name"] for o in self.objects if o["kind"] == "Namespace"}
        return {str(n) for n in found}

    def find(self, kind: str, name: str) -> list[dict[str, Any]]:
        return [o for o in self.objects if o["kind"] == kind and o["metadata"]["name"] == name]

    def pod_templates(self, obj: dict[str, Any]) -> list[dict[str, Any]]:
        spec = obj.get("spec") or {}
        if obj["kind"] == "CronJob":
            spec = (spec.get("jobTemplate") or {}).get("spec") or {}
        template = spec.get("template")
        return [template] if isinstance(template, dict) else []

    @functools.cached_property
    def label_sets(self) -> list[tuple[str | None, dict[str, str]]]:
        """(namespace, labels) of every object and of every pod a workload makes."""
        sets = []
        for obj in self.objects:
            namespace = obj["metadata"].get("namespace")
            sets.append((namespace, obj["metadata"].get("labels") or {}))
            for template in self.pod_templates(obj):
                sets.append((namespace, (template.get("metadata") or {}).get("labels") or {}))
        return sets

    @functools.cached_property
    def label_values(self) -> dict[str, set[str]]:
        values: dict[str, set[str]] = {}
        for _, labels in self.label_sets:
            for key, value in labels.items():
                values.setdefault(key, set()).add(value)
        return values


def render_kustomization(directory: Path, tmp: Path) -> list[dict[str, Any]]:
    kustomization = yaml.safe_load((directory / "kustomization.yaml").read_text()) or {}
    target = directory
    if kustomization.get("kind") == "Component":
        # A component renders only on top of the base it patches.
        target = tmp / directory.relative_to(ROOT).as_posix().replace("/", "_")
        target.mkdir(parents=True, exist_ok=True)
        (target / "kustomization.yaml").write_text(
            yaml.safe_dump(
                {
                    "resources": [os.path.relpath(ROOT / "deploy", target)],
                    "components": [os.path.relpath(directory, target)],
                }
            )
        )
    result = subprocess.run(
        [KUBECTL, "kustomize", str(target)], capture_output=True, text=True, check=False
    )
    remote = any("://" in str(r) for r in kustomization.get("resources", []))
    if result.returncode != 0 and remote and "accumulating resources" in result.stderr:
        return upstream_stand_in(kustomization)
    if result.returncode != 0:
        pytest.fail(f"kubectl kustomize {directory.relative_to(ROOT)} failed: {result.stderr}")
    return [doc for doc in yaml.safe_load_all(result.stdout) if isinstance(doc, dict)]


# Without network access the remote base of metacontroller/install cannot be fetched. Its
# objects are then these, named as in Metacontroller's release manifests (manifests/production:
# namespace, ServiceAccount, RBAC, CRDs and the StatefulSet "metacontroller" with one container
# "metacontroller", all labelled app.kubernetes.io/name=metacontroller), and the
# kustomization's own JSON patches are applied to them, so its flags are the real ones.
UPSTREAM_METACONTROLLER = """
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


def upstream_stand_in(kustomization: dict[str, Any]) -> list[dict[str, Any]]:
    objects = [d for d in yaml.safe_load_all(UPSTREAM_METACONTROLLER) if d]
    for patch in kustomization.get("patches", []):
        target = patch.get("target", {})
        for obj in objects:
            if obj["kind"] == target.get("kind") and obj["metadata"]["name"] == target.get("name"):
                for operation in yaml.safe_load(patch["patch"]):
                    json_patch(obj, operation)
    return objects


def json_patch(obj: dict[str, Any], operation: dict[str, Any]) -> None:
    """Apply one RFC 6902 ``add``/``replace``/``remove`` operation in place."""
    *parents, last = [
        p.replace("~1", "/").replace("~0", "~") for p in operation["path"][1:].split("/")
    ]
    node: Any = obj
    for part in parents:
        node = node[int(part)] if isinstance(node, list) else node[part]
    if operation["op"] == "remove":
        del node[int(last) if isinstance(node, list) else last]
    elif isinstance(node, list):
        index = len(node) if last == "-" else int(last)
        if operation["op"] == "add":
            node.insert(index, operation["value"])
        else:
            node[index] = operation["value"]
    else:
        node[last] = operation["value"]


def lease_of(objects: list[dict[str, Any]]) -> tuple[str, str]:
    """Metacontroller's leader-election Lease, from its StatefulSet's flags and their defaults.

    Defaults (Metacontroller's configuration guide): id ``metacontroller``, namespace the pod's.
    """
    for obj in objects:
        if obj["kind"] == "StatefulSet" and obj["metadata"]["name"] == "metacontroller":
            namespace = obj["metadata"].get("namespace", "metacontroller")
            name = "metacontroller"
            for template in Manifests(objects, ("", "")).pod_templates(obj):
                for container in template["spec"]["containers"]:
                    for arg in [*container.get("args", []), *container.get("command", [])]:
                        flag, _, value = str(arg).partition("=")
                        if flag == "--leader-election-id":
                            name = value
                        elif flag == "--leader-election-namespace":
                            namespace = value
            return namespace, name
    pytest.fail("no StatefulSet metacontroller in the rendered manifests")


@pytest.fixture(scope="module")
def manifests(tmp_path_factory: pytest.TempPathFactory) -> Manifests:
    tmp = tmp_path_factory.mktemp("kustomize")
    for needed in (ROOT / "deploy", METACONTROLLER_INSTALL):
        if not (needed / "kustomization.yaml").exists():
            pytest.fail(f"{needed.relative_to(ROOT)}/kustomization.yaml is missing")
    if not CRD_FILE.exists():
        pytest.fail(f"{CRD_FILE.relative_to(ROOT)} is missing")
    objects: list[dict[str, Any]] = []
    for base in (ROOT / "deploy", ROOT / "metacontroller"):
        for kustomization in sorted(base.rglob("kustomization.yaml")):
            objects += render_kustomization(kustomization.parent, tmp)
    for file in (CRD_FILE, COMPOSITE_CONTROLLER):
        if file.exists():
            objects += [d for d in yaml.safe_load_all(file.read_text()) if isinstance(d, dict)]
    flows = {
        yaml.safe_load(p.read_text())["metadata"]["name"]
        for p in (ROOT / "examples").glob("*.yaml")
    }
    return Manifests(objects, lease_of(objects), flows)


def test_lease_in_the_docs_is_the_one_metacontroller_uses(manifests: Manifests) -> None:
    namespace, name = manifests.lease
    comment = (METACONTROLLER_INSTALL / "kustomization.yaml").read_text()
    assert name in comment, "the install's kustomization.yaml should document the lease name"
    text = read("DISASTER_RECOVERY.md")
    assert f"kubectl -n {namespace} get lease {name}" in text


# Metacontroller's command-line flags (its main.go and configuration guide, v4).
METACONTROLLER_FLAGS = {
    "--discovery-interval", "--cache-flush-interval", "--metrics-address", "--client-go-qps",
    "--client-go-burst", "--workers", "--events-qps", "--events-burst", "--pprof-address",
    "--leader-election", "--leader-election-resource-lock", "--leader-election-namespace",
    "--leader-election-id", "--api", "--api-port", "--api-trigger-sync", "--kubeconfig",
    "--zap-log-level", "--zap-devel", "--zap-encoder", "--zap-stacktrace-level",
    "--zap-time-encoding",
}  # fmt: skip


def test_metacontroller_flags_exist(manifests: Manifests) -> None:
    """The flags the install sets and the operator guide explains are Metacontroller's."""
    used = set()
    for obj in manifests.find("StatefulSet", "metacontroller"):
        for template in manifests.pod_templates(obj):
            for container in template["spec"]["containers"]:
                used |= {str(a).split("=")[0] for a in container.get("args", []) if "--" in a}
    guide = read("OPERATOR_GUIDE.md")
    section = guide.split("## Metacontroller settings that matter")[1].split("\n## ")[0]
    used |= set(re.findall(r"`(--[a-z-]+)`", section))
    assert "--workers" in used and "--client-go-qps" in used
    assert used - METACONTROLLER_FLAGS == set()


# --- kubectl commands ------------------------------------------------------------------------

PLACEHOLDER = "PLACEHOLDER"
SHELL_BLOCKS = {"", "bash", "sh", "shell", "console", "zsh"}
VALUE_FLAGS = {
    "-n", "--namespace", "-l", "--selector", "-o", "--output", "-p", "--patch", "--type",
    "-c", "--container", "-f", "--filename", "-k", "--kustomize", "--for", "--timeout",
    "-L", "--label-columns", "--field-selector", "--since", "--tail", "--sort-by", "--from",
    "--to-revision", "--subresource", "--context", "--replicas", "--image", "--as",
    "--field-manager", "--revision", "--since-time", "--grace-period", "--cascade",
    "--overrides", "--restart", "--max-log-requests", "--dry-run", "--show-kind",
}  # fmt: skip
RESOURCE_VERBS = {
    "get", "describe", "delete", "edit", "patch", "annotate", "label", "scale", "wait",
    "logs", "exec", "port-forward", "top", "events", "explain",
}  # fmt: skip
NO_CHECK_VERBS = {"version", "cluster-info", "api-resources", "api-versions", "config"}


@dataclass
class Command:
    where: str
    text: str
    args: list[str]
    flags: dict[str, list[str]]
    bool_flags: set[str]


def is_placeholder(text: str) -> bool:
    return PLACEHOLDER in text


def _mark_placeholders(line: str) -> str:
    """``<name>`` and ``$VAR`` stand for values the reader chooses."""
    line = re.sub(
        r"<([A-Za-z][A-Za-z0-9 _./:-]*)>", lambda m: PLACEHOLDER + re.sub(r"\W", "_", m[1]), line
    )
    line = re.sub(r"\$\{?([A-Za-z_][A-Za-z0-9_]*)\}?", PLACEHOLDER + r"\1", line)
    line = re.sub(r"\s\d?>&\d", " ", line)
    return re.sub(r"\s\d>\s*\S+", " ", line)


def shell_lines(path: Path) -> Iterator[tuple[int, str]]:
    """(line number, command line) of shell code: markdown blocks or example comments."""
    lines = path.read_text().splitlines()
    if path.suffix == ".yaml":
        for number, line in enumerate(lines, 1):
            match = re.match(r"\s*#\s+(kubectl .*)$", line)
            if match:
                yield number, match[1]
        return
    in_block, language, pending, start = False, "", "", 0
    for number, line in enumerate(lines, 1):
        fence = re.match(r"\s*```\s*(\S*)", line)
        if fence:
            in_block, language = (not in_block), fence[1].lower()
            continue
        if not in_block or language not in SHELL_BLOCKS:
            continue
        stripped = re.sub(r"^\s*\$ ", "", line)
        if not pending:
            start = number
        if stripped.rstrip().endswith("\\"):
            pending += stripped.rstrip()[:-1] + " "
            continue
        yield start, pending + stripped
        pending = ""


def kubectl_commands(path: Path) -> Iterator[Command]:
    for number, line in shell_lines(path):
        if "kubectl" not in line or line.lstrip().startswith("#"):
            continue
        lexer = shlex.shlex(_mark_placeholders(line), posix=True, punctuation_chars=";&|()<>")
        lexer.whitespace_split = True
        try:
            tokens = list(lexer)
        except ValueError as error:
            pytest.fail(f"{path.name}:{number}: cannot parse {line!r}: {error}")
        words: list[str] = []
        skip_next = False
        for token in [*tokens, ";"]:
            if skip_next:
                skip_next = False
                continue
            if token in (">", ">>"):
                skip_next = True
                continue
            if set(token) <= set(";&|()<>"):
                if words and words[0].endswith("kubectl"):
                    yield parse_command(f"{path.name}:{number}", line, words[1:])
                words = []
                continue
            words.append(token)


def parse_command(where: str, text: str, words: list[str]) -> Command:
    args: list[str] = []
    flags: dict[str, list[str]] = {}
    bools: set[str] = set()
    index = 0
    while index < len(words):
        word = words[index]
        if word == "--":
            break
        if word.startswith("--") and "=" in word:
            name, _, value = word.partition("=")
            flags.setdefault(name, []).append(value)
        elif word in VALUE_FLAGS and index + 1 < len(words):
            flags.setdefault(word, []).append(words[index + 1])
            index += 1
        elif re.match(r"-[nlocpfkL].+", word) and not word.startswith("--"):
            flags.setdefault(word[:2], []).append(word[2:].lstrip("="))
        elif word.startswith("-") and word != "-":
            bools.add(word)
        else:
            args.append(word)
        index += 1
    return Command(where, text, args, flags, bools)


def flag(command: Command, *names: str) -> list[str]:
    return [value for name in names for value in command.flags.get(name, [])]


# Status and spec fields that a jsonpath may read, walked on the models.
JOBFLOW_ROOT: dict[str, Any] = {
    "apiVersion": str,
    "kind": str,
    "metadata": dict[str, Any],
    "spec": api.JobFlowSpec,
    "status": api.JobFlowStatus,
}


def _unwrap(tp: Any) -> Any:
    while True:
        origin = get_origin(tp)
        if origin in (Union, types.UnionType):
            tp = next(a for a in get_args(tp) if a is not type(None))
        elif origin in (list, Annotated):
            tp = get_args(tp)[0]
        else:
            return tp


def field_path_error(parts: list[str]) -> str | None:
    """Why ``.a.b.c`` is not a JobFlow field, or None when it is."""
    current: Any = JOBFLOW_ROOT
    for position, part in enumerate(parts):
        current = _unwrap(current)
        if isinstance(current, dict) and current is JOBFLOW_ROOT:
            if part not in current:
                return f".{part} is not a JobFlow field"
            current = current[part]
        elif isinstance(current, type) and issubclass(current, BaseModel):
            aliases = {
                apidoc.field_name(n, i): i.annotation for n, i in current.model_fields.items()
            }
            if part in aliases:
                current = aliases[part]
            elif current.model_config.get("extra") == "allow":
                return None
            else:
                path = "." + ".".join(parts[: position + 1])
                return f"{path}: {current.__name__} has no field {part!r}"
        elif get_origin(current) is dict:
            value = get_args(current)[1]
            if value is Any:
                return None
            current = value
        else:
            return f".{'.'.join(parts[: position + 1])}: {part!r} is below a plain value"
    return None


def _path_parts(expression: str) -> list[str]:
    expression = re.sub(r"\[[^\]]*\]", "", expression.strip())
    return [p for p in re.split(r"\.", expression.lstrip("@")) if p]


def jsonpath_paths(template: str) -> Iterator[list[str]]:
    """Absolute field paths a kubectl jsonpath template reads (``{range}`` resolved)."""
    stack: list[list[str]] = [[]]
    for expression in re.findall(r"\{([^{}]*)\}", template):
        expression = expression.strip()
        if expression == "end":
            if len(stack) > 1:
                stack.pop()
            continue
        is_range = expression.startswith("range ")
        expression = expression.removeprefix("range ").strip()
        if not expression.startswith((".", "@")):
            continue
        parts = _path_parts(expression)
        if not is_range and stack == [[]] and parts[:1] == ["items"]:
            parts = parts[1:]
        full = stack[-1] + parts
        if full and full[0] == "items":
            full = full[1:]
        if is_range:
            stack.append(full)
        elif full:
            yield full


def output_paths(command: Command) -> Iterator[list[str]]:
    for output in flag(command, "-o", "--output"):
        kind, _, template = output.partition("=")
        if kind in ("jsonpath", "jsonpath-as-json"):
            yield from jsonpath_paths(template)
        elif kind == "custom-columns":
            for column in template.split(","):
                yield _path_parts(column.partition(":")[2])
    for sort in flag(command, "--sort-by"):
        yield from jsonpath_paths(sort if sort.startswith("{") else "{" + sort + "}")
    for wait in flag(command, "--for"):
        if wait.startswith("jsonpath="):
            template = re.match(r"jsonpath=(\{[^}]*\}|[^=]*)", wait)
            if template:
                text = template[1] if template[1].startswith("{") else "{" + template[1] + "}"
                yield from jsonpath_paths(text)


@dataclass
class Target:
    kind: str
    name: str | None


def resource_targets(command: Command, words: list[str]) -> tuple[list[Target], list[str]]:
    """Resources named by ``type/name``, ``type name...`` or ``type[,type]``; and the rest."""
    if not words:
        return [], []
    if "/" in words[0]:
        targets, rest = [], []
        for word in words:
            kind, slash, name = word.partition("/")
            if slash and kind.lower() in KINDS:
                targets.append(Target(KINDS[kind.lower()], name))
            elif slash and not re.match(r"[a-z.]+/", word):
                rest.append(word)
            elif slash:
                targets.append(Target("?" + kind, name))
            else:
                rest.append(word)
        return targets, rest
    kinds = [KINDS.get(k.lower(), "?" + k) for k in words[0].split(",")]
    names = [w for w in words[1:] if "=" not in w and not w.endswith("-")]
    rest = [w for w in words[1:] if w not in names]
    if not names:
        return [Target(kind, None) for kind in kinds], rest
    return [Target(kind, name) for kind in kinds for name in names], rest


class Checker:
    """Finds what in a kubectl command does not exist in this project."""

    def __init__(self, manifests: Manifests, doc: str) -> None:
        self.m = manifests
        self.doc = doc
        self.created: set[tuple[str, str]] = set()  # (kind, name) made by earlier commands

    def check(self, command: Command) -> list[str]:
        errors: list[str] = []
        verb, *rest = command.args or ["<none>"]
        namespace = (flag(command, "-n", "--namespace") or [None])[-1]
        all_namespaces = bool({"-A", "--all-namespaces"} & command.bool_flags)
        if namespace and not is_placeholder(namespace) and namespace not in self.m.namespaces:
            errors.append(f"namespace {namespace!r} is not created by the manifests")
        errors += self.check_paths(command, verb)
        targets: list[Target] = []
        if verb in NO_CHECK_VERBS or verb == "kustomize":
            return errors
        if verb in ("apply", "diff", "replace"):
            if "--previous" in command.bool_flags:
                errors.append("kubectl apply has no --previous flag")
            return errors
        if verb == "rollout":
            targets, _ = resource_targets(command, rest[1:])
        elif verb == "create":
            errors += self.check_create(command, rest, namespace)
            return errors
        elif verb == "run":
            if rest:
                self.created.add(("Pod", rest[0]))
            return errors
        elif verb == "set" and rest[:1] in (["env"], ["image"], ["resources"]):
            targets, _ = resource_targets(command, rest[1:])
        elif verb == "cp":
            pods = [w.partition(":")[0].rpartition("/")[2] for w in rest if ":" in w]
            targets = [Target("Pod", pod) for pod in pods]
        elif verb == "auth":
            return errors + self.check_auth(command)
        elif verb == "events":
            for value in flag(command, "--for"):
                targets += resource_targets(command, [value])[0]
        elif verb == "explain":
            parts = rest[0].split(".") if rest else []
            if parts and KINDS.get(parts[0].lower()) == "JobFlow" and len(parts) > 1:
                error = field_path_error(parts[1:])
                errors += [error] if error else []
            return errors
        elif verb in ("logs", "exec", "port-forward") and rest and "/" not in rest[0]:
            targets = [Target("Pod", rest[0])]
            rest = rest[1:]
        elif verb in RESOURCE_VERBS and flag(command, "-f", "--filename"):
            pass  # the objects come from files: every word is an argument (an annotation...)
        elif verb in RESOURCE_VERBS:
            targets, rest = resource_targets(command, rest)
        else:
            return [*errors, f"unknown kubectl verb {verb!r}: teach tests/test_docs.py about it"]
        crd = any(t.kind == "CustomResourceDefinition" for t in targets)
        if verb == "delete" and crd and self.doc not in MAY_DELETE_CRD:
            errors.append("never delete the CRD: it deletes every JobFlow")
        for target in targets:
            errors += self.check_target(command, verb, target, namespace, all_namespaces)
        errors += self.check_selector(command, namespace, all_namespaces)
        if verb == "annotate":
            errors += self.check_annotations(rest)
        if verb == "patch":
            errors += self.check_patch(command)
        if verb == "wait":
            errors += self.check_wait(command, targets)
        if any(t.kind == "JobFlow" for t in targets):
            for parts in output_paths(command):
                error = field_path_error(parts)
                errors += [error] if error else []
        return errors

    def check_paths(self, command: Command, verb: str) -> list[str]:
        errors = []
        paths = flag(command, "-f", "--filename", "-k", "--kustomize")
        if verb == "kustomize":
            paths += command.args[1:]
        for value in paths:
            first = value.split("/")[0]
            if is_placeholder(value) or first not in {p.name for p in ROOT.iterdir()}:
                continue
            if not (ROOT / value).exists():
                errors.append(f"{value} does not exist in the repository")
            deletes_crd = value.startswith(("crds", "deploy")) and "components" not in value
            if verb == "delete" and deletes_crd and self.doc not in MAY_DELETE_CRD:
                errors.append(f"never delete {value}: it deletes the CRD and every JobFlow")
        return errors

    def check_target(
        self, command: Command, verb: str, target: Target, namespace: str | None, every: bool
    ) -> list[str]:
        kind, name = target.kind, target.name
        if kind.startswith("?"):
            return [f"unknown resource type {kind[1:]!r}"]
        defined = [o for o in self.m.objects if o["kind"] == kind]
        if kind not in RUNTIME_KINDS and not defined:
            return [f"the manifests define no {kind}"]
        if name is None or is_placeholder(name):
            return []
        where = namespace if not every else None
        if (kind, name) in self.created:
            return []
        if kind == "Lease":
            if (namespace, name) != self.m.lease:
                return [f"Metacontroller's lease is {self.m.lease[1]} in {self.m.lease[0]}"]
            return []
        found = self.m.find(kind, name)
        if found:
            namespaces = {o["metadata"].get("namespace") for o in found}
            if kind in CLUSTER_SCOPED or where in namespaces or every:
                return self.check_container(command, verb, found[0])
            return [f"{kind} {name} lives in namespace {sorted(map(str, namespaces))}: add -n"]
        if kind == "Pod" and self.is_statefulset_pod(name, where):
            return []
        if kind == "Endpoints" and self.m.find("Service", name):
            return []
        if kind in RUNTIME_KINDS and where not in self.m.namespaces:
            flows = self.m.example_flows
            if name in flows or any(name.startswith(flow + "-") for flow in flows):
                return []
        return [f"no {kind} named {name!r} in the manifests or examples (namespace {where})"]

    def is_statefulset_pod(self, name: str, namespace: str | None) -> bool:
        base, _, ordinal = name.rpartition("-")
        return ordinal.isdigit() and any(
            o["metadata"].get("namespace") == namespace for o in self.m.find("StatefulSet", base)
        )

    def check_container(self, command: Command, verb: str, obj: dict[str, Any]) -> list[str]:
        wanted = flag(command, "-c", "--container")
        if not wanted or verb not in ("logs", "exec"):
            return []
        names = {
            container["name"]
            for template in self.m.pod_templates(obj)
            for group in ("containers", "initContainers")
            for container in template["spec"].get(group, [])
        }
        return [f"{obj['kind']} has no container {c!r}" for c in wanted if c not in names]

    def check_selector(self, command: Command, namespace: str | None, every: bool) -> list[str]:
        errors = []
        for selector in flag(command, "-l", "--selector"):
            required: dict[str, str] = {}
            for requirement in re.split(r",(?![^()]*\))", selector):
                match = re.match(r"\s*!?([\w./-]+)\s*(==|=|!=| in | notin )?\s*(.*)", requirement)
                if not match:
                    errors.append(f"cannot read label requirement {requirement!r}")
                    continue
                key, operator, value = match[1], match[2], match[3].strip()
                known = FLOW_LABELS | SYSTEM_LABELS | set(self.m.label_values)
                if key not in known:
                    errors.append(f"label {key!r} is set by nothing in this project")
                    continue
                manifest_only = key not in FLOW_LABELS | SYSTEM_LABELS
                if operator in ("=", "==") and not is_placeholder(value):
                    required[key] = value
                    if manifest_only and value not in self.m.label_values.get(key, set()):
                        errors.append(f"no object is labelled {key}={value}")
            matched = any(
                ns == namespace and all(labels.get(k) == v for k, v in required.items())
                for ns, labels in self.m.label_sets
            )
            if required and namespace in self.m.namespaces and not every and not matched:
                errors.append(f"nothing in namespace {namespace} matches -l {selector}")
        return errors

    def check_annotations(self, words: list[str]) -> list[str]:
        errors = []
        for word in words:
            key, equals, value = word.partition("=")
            key = key if equals else word.removesuffix("-")
            if key not in USER_ANNOTATIONS:
                errors.append(f"annotation {key!r} does nothing in this version")
            elif equals and value not in USER_ANNOTATIONS[key]:
                errors.append(f"{key} takes one of {sorted(USER_ANNOTATIONS[key])}, not {value!r}")
        return errors

    def check_patch(self, command: Command) -> list[str]:
        if "status" in flag(command, "--subresource"):
            return ["status is written by the hooks only: never patch it"]
        errors = []
        for body in flag(command, "-p", "--patch"):
            if is_placeholder(body):
                continue
            try:
                patch = yaml.safe_load(body)
            except yaml.YAMLError:
                errors.append(f"patch {body!r} does not parse")
                continue
            operations = patch if isinstance(patch, list) else []
            if (isinstance(patch, dict) and "status" in patch) or any(
                str(op.get("path", "")).startswith("/status") for op in operations
            ):
                errors.append("status is written by the hooks only: never patch it")
        return errors

    def check_wait(self, command: Command, targets: list[Target]) -> list[str]:
        errors = []
        for value in flag(command, "--for"):
            kind, _, rest = value.partition("=")
            if kind == "condition" and any(t.kind == "JobFlow" for t in targets):
                condition = rest.partition("=")[0]
                if condition not in constants.ConditionType.ALL:
                    errors.append(f"JobFlows have no condition {condition!r}")
            match = re.match(r"jsonpath=\{?\.status\.phase\}?=(\w+)", value)
            if match and match[1] not in {p.value for p in api.FlowPhase}:
                errors.append(f"{match[1]!r} is not a flow phase")
        return errors

    def check_create(self, command: Command, words: list[str], namespace: str | None) -> list[str]:
        if words[:1] == ["job"] and len(words) > 1:
            self.created.add(("Job", words[1]))
            errors = []
            for source in flag(command, "--from"):
                for target in resource_targets(command, [source])[0]:
                    errors += self.check_target(command, "create", target, namespace, False)
            return errors
        return []

    def check_auth(self, command: Command) -> list[str]:
        errors = []
        for who in flag(command, "--as"):
            match = re.match(r"system:serviceaccount:([^:]+):(.+)", who)
            if match and not is_placeholder(who):
                accounts = self.m.find("ServiceAccount", match[2])
                if not any(a["metadata"].get("namespace") == match[1] for a in accounts):
                    errors.append(f"no ServiceAccount {match[2]} in {match[1]}")
        return errors


def all_commands() -> list[tuple[Path, Command]]:
    return [(path, command) for path in command_sources() for command in kubectl_commands(path)]


@pytest.mark.parametrize("path", command_sources(), ids=lambda p: p.relative_to(ROOT).as_posix())
def test_kubectl_commands_refer_to_what_the_project_defines(
    path: Path, manifests: Manifests
) -> None:
    checker = Checker(manifests, path.name)
    errors = [
        f"{command.where}: {command.text.strip()}\n    {error}"
        for command in kubectl_commands(path)
        for error in checker.check(command)
    ]
    assert not errors, "\n".join(errors)


def test_the_docs_show_kubectl_commands() -> None:
    """Guard the checker itself: it must find the commands the docs are made of."""
    found = {path.name for path, _ in all_commands()}
    assert {"USER_GUIDE.md", "OPERATOR_GUIDE.md", "DISASTER_RECOVERY.md"} <= found


# --- the checker itself ----------------------------------------------------------------------


def toy_manifests() -> Manifests:
    deployment = {
        "kind": "Deployment",
        "metadata": {
            "name": "zen-flow-hooks",
            "namespace": "zen-flow-system",
            "labels": {"app.kubernetes.io/name": "zen-flow-hooks"},
        },
        "spec": {
            "template": {
                "metadata": {"labels": {"app.kubernetes.io/name": "zen-flow-hooks"}},
                "spec": {"containers": [{"name": "hooks"}]},
            }
        },
    }
    statefulset = {"kind": "StatefulSet", "metadata": {"name": "mc", "namespace": "mc"}}
    return Manifests([deployment, statefulset], ("mc", "mc"), {"linear-flow"})


@pytest.mark.parametrize(
    ("line", "error"),
    [
        ("kubectl logs -n zen-flow-system -l app=zen-flow-controller", "label 'app'"),
        ("kubectl -n zen-flow-system get deploy zen-flow-controller", "no Deployment"),
        ("kubectl get deployment zen-flow-hooks", "add -n"),
        ("kubectl -n other get pods", "namespace 'other'"),
        ("kubectl -n zen-flow-system logs deploy/zen-flow-hooks -c app", "no container 'app'"),
        ("kubectl apply -f deploy/manifests/deployment.yaml --previous", "no --previous"),
        ("""kubectl patch jobflow x --type=merge -p '{"status":{"phase":"Failed"}}'""", "status"),
        ("kubectl annotate jobflow <name> workflow.zen.io/terminate=true", "does nothing"),
        ("kubectl annotate jobflow <name> workflow.zen.io/suspended=yes", "takes one of"),
        ("kubectl annotate -f flows.json workflow.zen.io/suspended=yes", "takes one of"),
        ("kubectl wait --for=condition=Done jobflow/<name>", "no condition 'Done'"),
        ("kubectl get jobflow <n> -o jsonpath='{.status.stepz}'", "no field 'stepz'"),
        ("kubectl get jf <n> -o jsonpath='{range .status.steps[*]}{.nam}{end}'", "'nam'"),
        ("kubectl -n mc delete lease other", "lease is mc in mc"),
        ("kubectl delete crd jobflows.workflow.zen.io", "never delete the CRD"),
        ("kubectl get widgets", "unknown resource type"),
        ("kubectl frobnicate jobflow x", "unknown kubectl verb"),
    ],
)
def test_checker_catches_what_does_not_work(line: str, error: str, tmp_path: Path) -> None:
    doc = tmp_path / "DOC.md"
    doc.write_text(f"```bash\n{line}\n```\n")
    (command,) = list(kubectl_commands(doc))
    found = Checker(toy_manifests(), "DOC.md").check(command)
    assert any(error in e for e in found), found


@pytest.mark.parametrize(
    "line",
    [
        "kubectl -n zen-flow-system logs deploy/zen-flow-hooks -c hooks --previous",
        "kubectl -n zen-flow-system get pods -l app.kubernetes.io/name=zen-flow-hooks",
        "kubectl get jobs -l jobflow=<name>,workflow.zen.io/step=<step>",
        "kubectl get jobflow linear-flow -o jsonpath='{.status.steps[?(@.name==\"x\")].phase}'",
        "kubectl wait --for=condition=Complete jobflow/linear-flow --timeout=10m",
        "kubectl annotate jobflow <name> workflow.zen.io/suspended-",
        "kubectl annotate -f flows.json workflow.zen.io/suspended-",
        "kubectl -n mc logs mc-0 | grep error",
        "kubectl -n mc get lease mc",
        "X=$(kubectl get jobflow <name> -o jsonpath='{.status.phase}') && echo $X",
    ],
)
def test_checker_accepts_what_works(line: str, tmp_path: Path) -> None:
    doc = tmp_path / "DOC.md"
    doc.write_text(f"```bash\n{line}\n```\n")
    (command,) = list(kubectl_commands(doc))
    assert Checker(toy_manifests(), "DOC.md").check(command) == []
