"""The documentation says only what is true of this project.

- docs/API.md is exactly what ``python -m zen_flow.gen.apidoc`` prints, and every field of the
  models is documented there and in the user guide;
- every ``kubectl`` command in the docs' shell blocks (and in the examples' comments) names
  namespaces, resources, labels, annotations, condition types, status fields and files that
  the manifests and ``zen_flow.api`` define; never ``apply --previous``, never a patch of
  ``status`` (the hooks own it), as ``zen_flow.tools.doccheck`` checks;
- every section of the disaster-recovery procedures the users asked for has its counterpart;
- relative links resolve; environment variables and metric names exist in the code.
"""

from __future__ import annotations

import dataclasses
import json
import re
import subprocess
from pathlib import Path

import pytest
from pydantic import BaseModel

from tests.support.fakeapiserver import fake_api_server
from zen_flow.api.fields import field_name
from zen_flow.api.labels import ANNOTATION_SUSPENDED
from zen_flow.api.spec import JobFlowSpec
from zen_flow.api.status import JobFlowStatus
from zen_flow.gen import apidoc
from zen_flow.server.settings import PREFIX, Settings, variable_names
from zen_flow.tools.doccheck.checker import Checker
from zen_flow.tools.doccheck.commands import Command, kubectl_commands
from zen_flow.tools.doccheck.manifests import (
    Kustomize,
    Manifests,
    kubectl_binary,
    pod_templates,
    project_manifests,
)
from zen_flow.tools.doccheck.markdown import broken_links, headings, table_rows

ROOT = Path(__file__).resolve().parents[2]
DOCS = ROOT / "docs"
MY_DOCS = [
    "API.md",
    "USER_GUIDE.md",
    "OPERATOR_GUIDE.md",
    "TROUBLESHOOTING.md",
    "ARCHITECTURE.md",
    "DISASTER_RECOVERY.md",
]
CRD_FILE = ROOT / "crds" / "workflow.zen.io_jobflows.yaml"
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


# A default as the reader writes it: a YAML scalar, an empty list or object, or none.
DEFAULT_CELL = re.compile(
    r'required|none|`(\[\]|\{\}|-?[0-9.]+|true|false|"[^"<>=]*")`( \(all defaults\))?'
)


def test_api_reference_defaults_are_what_a_user_writes() -> None:
    rows = table_rows(read("API.md"), "Field")
    assert rows, "no field tables in docs/API.md"
    odd = [
        f"{row['Field']}: {row['Default']}"
        for row in rows
        if not DEFAULT_CELL.fullmatch(row["Default"])
    ]
    assert odd == [], "a Python value leaked into the reference (gen/apidoc.py)"


def model_fields() -> list[tuple[type[BaseModel], str]]:
    roots: list[tuple[type[BaseModel], str]] = [(JobFlowSpec, "spec"), (JobFlowStatus, "status")]
    return [
        (section.model, field_name(name, info))
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


def test_every_seed_section_has_a_counterpart_in_disaster_recovery() -> None:
    present = headings(read("DISASTER_RECOVERY.md"), "2,4")
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
        f"{ANNOTATION_SUSPENDED}=true",
    ):
        assert needed in text, f"DISASTER_RECOVERY.md lacks: {needed}"


def test_the_operations_are_documented_where_users_look() -> None:
    """Terminate, rerun and approval gates: the user guide explains them, the disaster-
    recovery guide stops a flow with terminate, and nothing calls them unimplemented."""
    guide, recovery = read("USER_GUIDE.md"), read("DISASTER_RECOVERY.md")
    for annotation in ("workflow.zen.io/terminate", "workflow.zen.io/rerun", "approve-"):
        assert annotation in guide, annotation
    assert "kubectl annotate jobflow <name> workflow.zen.io/terminate=true" in recovery
    for text in (guide, recovery, read("TROUBLESHOOTING.md")):
        assert "Not yet implemented" not in text and "not-yet-implemented" not in text


# --- links, environment variables, metrics ---------------------------------------------------


@pytest.mark.parametrize("name", MY_DOCS)
def test_relative_links_resolve(name: str) -> None:
    read(name)
    broken = broken_links(DOCS / name)
    assert broken == [], f"docs/{name}: broken relative links {broken}"


def hooks_source() -> str:
    return "\n".join(p.read_text() for p in sorted((ROOT / "hooks" / "zen_flow").rglob("*.py")))


@pytest.mark.parametrize("name", MY_DOCS)
def test_environment_variables_exist_in_the_code(name: str) -> None:
    source = hooks_source()
    unknown = sorted(
        {var for var in re.findall(r"\bZEN_FLOW_[A-Z_]+\b", read(name)) if var not in source}
    )
    assert unknown == []


def documented_default(value: object) -> set[str]:
    """How a settings table may show a default."""
    if value is False:
        return {"unset", "off"}
    return {f"`{value}`"}


SETTINGS_TABLES = [ROOT / "README.md", DOCS / "OPERATOR_GUIDE.md"]


@pytest.mark.parametrize("path", SETTINGS_TABLES, ids=lambda p: p.name)
def test_settings_tables_list_every_setting_with_its_default(path: Path) -> None:
    rows = {
        row["variable"].strip("`"): row
        for row in table_rows(path.read_text(), "variable")
        if row["variable"].startswith("`ZEN_FLOW_")
    }
    assert sorted(rows) == sorted(variable_names())
    defaults = {PREFIX + f.name.upper(): f.default for f in dataclasses.fields(Settings)}
    wrong = [
        f"{name}: {rows[name]['default']} (the code says {defaults[name]})"
        for name in rows
        if rows[name]["default"] not in documented_default(defaults[name])
    ]
    assert wrong == []


@pytest.mark.slow
def test_the_operator_guide_gives_the_deployments_values(manifests: Manifests) -> None:
    deployment = manifests.find("Deployment", "zen-flow-hooks")[0]
    [container] = pod_templates(deployment)[0]["spec"]["containers"]
    env = {item["name"]: str(item["value"]) for item in container.get("env", [])}
    defaults = {PREFIX + f.name.upper(): f.default for f in dataclasses.fields(Settings)}
    rows = table_rows(read("OPERATOR_GUIDE.md"), "variable")
    wrong = []
    for row in rows:
        name = row["variable"].strip("`")
        expected = {f"`{env[name]}`"} if name in env else documented_default(defaults.get(name))
        if row["in the Deployment"] not in expected:
            wrong.append(f"{name}: {row['in the Deployment']} (the Deployment: {expected})")
    assert wrong == []


@pytest.mark.parametrize("name", MY_DOCS)
def test_metric_names_exist_in_the_code(name: str) -> None:
    metrics = ROOT / "hooks" / "zen_flow" / "server" / "metrics.py"
    used = set(re.findall(r"\bzen_flow_[a-z_]+\b", read(name)))
    if not used:
        return
    if not metrics.exists():
        pytest.fail("hooks/zen_flow/server/metrics.py is missing")
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


@pytest.fixture(scope="module")
def manifests(tmp_path_factory: pytest.TempPathFactory) -> Manifests:
    for needed in (ROOT / "deploy", METACONTROLLER_INSTALL):
        if not (needed / "kustomization.yaml").exists():
            pytest.fail(f"{needed.relative_to(ROOT)}/kustomization.yaml is missing")
    if not CRD_FILE.exists():
        pytest.fail(f"{CRD_FILE.relative_to(ROOT)} is missing")
    return project_manifests(ROOT, tmp_path_factory.mktemp("kustomize"))


@pytest.mark.slow
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


@pytest.mark.slow
def test_metacontroller_flags_exist(manifests: Manifests) -> None:
    """The flags the install sets and the operator guide explains are Metacontroller's."""
    used = set()
    for obj in manifests.find("StatefulSet", "metacontroller"):
        for template in pod_templates(obj):
            for container in template["spec"]["containers"]:
                used |= {str(a).split("=")[0] for a in container.get("args", []) if "--" in a}
    guide = read("OPERATOR_GUIDE.md")
    section = guide.split("## Metacontroller settings that matter")[1].split("\n## ")[0]
    used |= set(re.findall(r"`(--[a-z-]+)`", section))
    assert "--workers" in used and "--client-go-qps" in used
    assert used - METACONTROLLER_FLAGS == set()


# --- kubectl commands ------------------------------------------------------------------------


def all_commands() -> list[tuple[Path, Command]]:
    return [(path, command) for path in command_sources() for command in kubectl_commands(path)]


@pytest.mark.slow
@pytest.mark.parametrize("path", command_sources(), ids=lambda p: p.relative_to(ROOT).as_posix())
def test_kubectl_commands_refer_to_what_the_project_defines(
    path: Path, manifests: Manifests
) -> None:
    checker = Checker(manifests, ROOT, may_delete_crd=path.name in MAY_DELETE_CRD)
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


# --- what the user guide says kubectl does with a key given twice ------------------------------

TWICE = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: twice\ndata:\n  a: first\n  a: last\n"


@pytest.mark.slow
def test_kubectl_apply_f_keeps_the_last_of_a_repeated_key_without_a_word(
    tmp_path: Path,
) -> None:
    """As the user guide says: the YAML becomes JSON on the client, so the API server's
    strict field validation, which kubectl asks for, never sees the first key."""
    (tmp_path / "twice.yaml").write_text(TWICE)
    with fake_api_server(tmp_path) as (kubeconfig, received):
        done = subprocess.run(
            [kubectl_binary(ROOT), "--kubeconfig", str(kubeconfig), "create", "-f", "twice.yaml"],
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
    assert done.returncode == 0, done.stderr
    assert "already defined" not in done.stderr
    [(path, body)] = received
    assert "fieldValidation=Strict" in path
    assert json.loads(body)["data"] == {"a": "last"}
    assert "keeping only the last of the repeated" in read("USER_GUIDE.md")


@pytest.mark.slow
def test_kubectl_apply_k_refuses_a_repeated_key(tmp_path: Path) -> None:
    (tmp_path / "twice.yaml").write_text(TWICE)
    (tmp_path / "kustomization.yaml").write_text("resources: [twice.yaml]\n")
    done = subprocess.run(
        [kubectl_binary(ROOT), "kustomize", str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode != 0
    assert 'mapping key "a" already defined at line 6' in done.stderr
    assert "`kubectl apply -k` (kustomize) refuses the file" in read("USER_GUIDE.md")


# --- who holds credentials; what needs the network ---------------------------------------------


@pytest.mark.slow
def test_the_operator_guide_names_every_component_with_api_credentials(
    manifests: Manifests, tmp_path: Path
) -> None:
    """A workload whose pod gets its ServiceAccount's token has API credentials."""
    backup = Kustomize(kubectl_binary(ROOT), tmp_path).with_component(
        ROOT / "deploy" / "components" / "backup", ROOT / "deploy"
    )
    credentialed = {
        template["spec"]["serviceAccountName"]
        for obj in [*manifests.objects, *backup]
        if obj["metadata"].get("namespace") == "zen-flow-system"
        for template in pod_templates(obj)
        if template["spec"].get("automountServiceAccountToken") is not False
        and template["spec"].get("serviceAccountName")
    }
    assert credentialed == {"zen-flow-janitor", "zen-flow-backup"}
    guide = read("OPERATOR_GUIDE.md")
    security = guide.split("## Security")[1].split("\n## ")[0]
    assert all(f"`{account}`" in security for account in credentialed)
    assert "only zen-flow component with API credentials" not in guide


def test_the_readme_says_which_install_needs_the_network() -> None:
    remote = [
        path.parent.relative_to(ROOT).as_posix()
        for path in ROOT.glob("**/kustomization.yaml")
        if ".venv" not in path.parts and re.search(r"^\s*- https?://", path.read_text(), re.M)
    ]
    assert remote == ["metacontroller/install"]
    readme = (ROOT / "README.md").read_text()
    assert "`metacontroller/install/` builds on" in readme
    assert "needs network access" in readme
