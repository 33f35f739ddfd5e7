"""The checker catches what in a kubectl command does not work here, and accepts what does."""

from __future__ import annotations

from pathlib import Path

import pytest

from zen_flow.tools.doccheck.checker import STATUS_IS_THE_HOOKS, Checker, writes_status
from zen_flow.tools.doccheck.commands import Command, kubectl_commands, parse_command
from zen_flow.tools.doccheck.manifests import Manifests


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
    crd = {"kind": "CustomResourceDefinition", "metadata": {"name": "jobflows.workflow.zen.io"}}
    service = {
        "kind": "Service",
        "metadata": {"name": "zen-flow-hooks", "namespace": "zen-flow-system"},
    }
    account = {
        "kind": "ServiceAccount",
        "metadata": {"name": "janitor", "namespace": "zen-flow-system"},
    }
    cronjob = {
        "kind": "CronJob",
        "metadata": {"name": "janitor", "namespace": "zen-flow-system"},
        "spec": {
            "jobTemplate": {
                "spec": {
                    "template": {
                        "spec": {
                            "initContainers": [{"name": "wait"}],
                            "containers": [{"name": "kubectl"}],
                        }
                    }
                }
            }
        },
    }
    objects = [deployment, statefulset, crd, service, account, cronjob]
    return Manifests(objects, ("mc", "mc"), {"linear-flow"})


@pytest.fixture()
def repository(tmp_path: Path) -> Path:
    """A repository with deploy/, crds/ and examples/."""
    root = tmp_path / "repository"
    for name in ("deploy/kustomization.yaml", "crds/crd.yaml", "examples/linear-flow.yaml"):
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text("")
    (root / "deploy" / "components" / "backup").mkdir(parents=True)
    return root


def commands(tmp_path: Path, *lines: str) -> list[Command]:
    doc = tmp_path / "DOC.md"
    doc.write_text("```bash\n" + "\n".join(lines) + "\n```\n")
    return list(kubectl_commands(doc))


def check(tmp_path: Path, root: Path, *lines: str, may_delete_crd: bool = False) -> list[str]:
    """Every error of the document made of ``lines``, checked in order by one checker."""
    checker = Checker(toy_manifests(), root, may_delete_crd=may_delete_crd)
    return [error for command in commands(tmp_path, *lines) for error in checker.check(command)]


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
        ("kubectl annotate jobflow <name> workflow.zen.io/pause=true", "does nothing"),
        ("kubectl annotate jobflow <name> workflow.zen.io/approve-=true", "does nothing"),
        ("kubectl annotate jobflow <name> workflow.zen.io/suspended=yes", "takes one of"),
        ("kubectl annotate jobflow <name> workflow.zen.io/terminate=false", "takes one of"),
        ("kubectl annotate jobflow <name> workflow.zen.io/approve-ship=maybe", "takes one of"),
        (
            "kubectl annotate jobflow <name> kubectl.kubernetes.io/last-applied-configuration=x",
            "does something only when removed",
        ),
        ("kubectl wait --for=condition=Done jobflow/<name>", "no condition 'Done'"),
        ("kubectl get jobflow <n> -o jsonpath='{.status.stepz}'", "no field 'stepz'"),
        ("kubectl get jf <n> -o jsonpath='{range .status.steps[*]}{.nam}{end}'", "'nam'"),
        ("kubectl -n mc delete lease other", "lease is mc in mc"),
        ("kubectl delete crd jobflows.workflow.zen.io", "never delete the CRD"),
        ("kubectl get widgets", "unknown resource type"),
        ("kubectl frobnicate jobflow x", "unknown kubectl verb"),
        ("kubectl jobflow show linear-flow", "kubectl jobflow has no command 'show'"),
        ("kubectl jobflow get other-flow --watch", "no JobFlow named 'other-flow'"),
        ("kubectl jobflow tree <flow> -n other", "namespace 'other'"),
        # files of the repository
        ("kubectl apply -f deploy/nothing.yaml", "deploy/nothing.yaml does not exist"),
        ("kubectl kustomize deploy/nothing", "deploy/nothing does not exist"),
        ("kubectl delete -k deploy", "never delete deploy"),
        ("kubectl delete -f crds/crd.yaml", "never delete crds/crd.yaml"),
        # resources
        ("kubectl get servicemonitors", "the manifests define no ServiceMonitor"),
        ("kubectl get job other-flow-extract", "no Job named 'other-flow-extract'"),
        ("kubectl -n zen-flow-system get job linear-flow-extract", "no Job named"),
        ("kubectl -n mc logs other-0", "no Pod named 'other-0'"),
        ("kubectl -n zen-flow-system get endpoints other", "no Endpoints named 'other'"),
        ("kubectl -n zen-flow-system rollout restart deploy/other", "no Deployment named"),
        ("kubectl -n zen-flow-system set image deploy/other hooks=x:1", "no Deployment named"),
        ("kubectl -n zen-flow-system cp other:/tmp/x ./x", "no Pod named 'other'"),
        ("kubectl -n zen-flow-system events --for deploy/other", "no Deployment named"),
        ("kubectl -n zen-flow-system exec -c app deploy/zen-flow-hooks -- ls", "no container"),
        ("kubectl -n zen-flow-system logs cronjob/janitor -c main", "CronJob has no container"),
        ("kubectl -n zen-flow-system create job x --from=cronjob/other", "no CronJob named"),
        # labels
        ("kubectl get pods -l '=x'", "cannot read label requirement '=x'"),
        ("kubectl get pods -l app.kubernetes.io/name=other", "no object is labelled"),
        ("kubectl -n mc get pods -l app.kubernetes.io/name=zen-flow-hooks", "nothing in namespace"),
        # writing status
        (
            """kubectl patch jobflow x --type=json -p '[{"op":"add","path":"/status/x"}]'""",
            STATUS_IS_THE_HOOKS,
        ),
        ("kubectl patch jobflow x --subresource=status --type=merge -p '{}'", STATUS_IS_THE_HOOKS),
        ("kubectl patch jobflow x --type=merge -p '{'", "does not parse"),
        # conditions, phases, fields
        (
            "kubectl wait --for=jsonpath='{.status.phase}'=Done jobflow/x",
            "'Done' is not a flow phase",
        ),
        ("kubectl get jf -o custom-columns=P:.status.phaze", "no field 'phaze'"),
        ("kubectl get jf --sort-by=.status.startedAt", "no field 'startedAt'"),
        ("kubectl explain jobflow.spec.stepz", "no field 'stepz'"),
        # who may do what
        (
            "kubectl auth can-i list jobflows --as system:serviceaccount:zen-flow-system:nobody",
            "no ServiceAccount nobody in zen-flow-system",
        ),
    ],
)
def test_checker_catches_what_does_not_work(
    line: str, error: str, tmp_path: Path, repository: Path
) -> None:
    found = check(tmp_path, repository, line)
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
        "kubectl annotate jobflow <name> workflow.zen.io/terminate=true",
        "kubectl annotate jobflow <name> workflow.zen.io/rerun=any-token-at-all --overwrite",
        "kubectl annotate jobflow <name> workflow.zen.io/approve-ship=false --overwrite",
        "kubectl annotate jobflow <name> kubectl.kubernetes.io/last-applied-configuration-",
        "kubectl -n mc logs mc-0 | grep error",
        "kubectl -n mc get lease mc",
        "X=$(kubectl get jobflow <name> -o jsonpath='{.status.phase}') && echo $X",
        # files: the repository's that exist, and the user's own
        "kubectl apply -k deploy",
        "kubectl apply -k deploy/components/backup",
        "kubectl apply -f examples/linear-flow.yaml",
        "kubectl apply -f my-flow.yaml",
        "kubectl delete -k deploy/components/backup",
        "kubectl delete -f <file>",
        "kubectl version",
        # resources made at run time, cluster-scoped ones, every namespace
        "kubectl get jobs linear-flow-extract-1",
        "kubectl -n zen-flow-system get endpoints zen-flow-hooks",
        "kubectl -n mc get crd jobflows.workflow.zen.io",
        "kubectl get deploy zen-flow-hooks -A",
        "kubectl get pods -A -l app.kubernetes.io/name=zen-flow-hooks",
        "kubectl -n zen-flow-system create job manual --from=cronjob/janitor",
        "kubectl -n zen-flow-system logs cronjob/janitor -c wait",
        "kubectl -n zen-flow-system exec deploy/zen-flow-hooks -c hooks -- ls",
        # fields of other kinds, conditions of other kinds
        "kubectl -n zen-flow-system get deploy zen-flow-hooks -o jsonpath='{.spec.replicas}'",
        "kubectl -n zen-flow-system wait --for=condition=Available deploy/zen-flow-hooks",
        "kubectl wait --for=jsonpath='{.status.phase}'=Succeeded jobflow/linear-flow",
        "kubectl explain jobflow.spec.steps.retryPolicy",
        "kubectl explain deployment.spec.replicaz",
        # patches that leave status alone
        """kubectl patch jobflow <n> --type=json -p '[{"op":"remove","path":"/metadata/x"}]'""",
        "kubectl patch jobflow <name> --type=merge -p <patch>",
        "kubectl auth can-i list jobflows --as system:serviceaccount:zen-flow-system:janitor",
        "kubectl patch jobflow <name> --type=merge -p '{<patch>'",
        "kubectl create namespace team-a",
        # the kubectl jobflow plugin
        "kubectl jobflow --help",
        "kubectl jobflow get",
        "kubectl jobflow get linear-flow --watch --interval=5s",
        "kubectl jobflow approve <flow> <step>",
        "kubectl jobflow logs linear-flow <step> --attempt 2 --follow",
        # -c names a container for logs and exec only
        "kubectl -n zen-flow-system describe deploy/zen-flow-hooks -c other",
    ],
)
def test_checker_accepts_what_works(line: str, tmp_path: Path, repository: Path) -> None:
    assert check(tmp_path, repository, line) == []


def test_an_unknown_label_is_one_error(tmp_path: Path, repository: Path) -> None:
    assert check(tmp_path, repository, "kubectl get pods -l app=x") == [
        "label 'app' is set by nothing in this project"
    ]


def test_a_document_may_use_what_its_earlier_commands_create(
    tmp_path: Path, repository: Path
) -> None:
    lines = [
        "kubectl -n zen-flow-system create job manual --from=cronjob/janitor",
        "kubectl -n zen-flow-system logs job/manual",
        "kubectl -n zen-flow-system run debug --image=busybox:1.36",
        "kubectl -n zen-flow-system logs debug",
    ]
    assert check(tmp_path, repository, *lines) == []
    assert check(tmp_path, repository, *lines[1:2]) != []
    assert check(tmp_path, repository, *lines[3:]) != []


def test_only_an_uninstall_may_delete_the_crd(tmp_path: Path, repository: Path) -> None:
    lines = ["kubectl delete -k deploy", "kubectl delete crd jobflows.workflow.zen.io"]
    assert len(check(tmp_path, repository, *lines)) == 2
    assert check(tmp_path, repository, *lines, may_delete_crd=True) == []


@pytest.mark.parametrize(
    ("words", "writes"),
    [
        (["patch", "jf", "x", "--subresource=status", "-p", "{}"], True),
        (["patch", "jf", "x", "-p", '{"status": {}}'], True),
        (["patch", "jf", "x", "-p", '[{"op": "replace", "path": "/status/phase"}]'], True),
        (["patch", "jf", "x", "-p", '{"spec": {"status": 1}}'], False),
        (["patch", "jf", "x", "-p", '[{"op": "remove", "path": "/metadata/x"}]'], False),
        (["patch", "jf", "x", "-p", "PLACEHOLDERpatch"], False),
        (["patch", "jf", "x", "-p", '{"status": PLACEHOLDERstatus}'], False),
        (["patch", "jf", "x", "-p", "{"], False),
    ],
)
def test_writes_status(words: list[str], writes: bool) -> None:
    assert writes_status(parse_command("f:1", "", words)) is writes


def restricted_manifests() -> Manifests:
    manifests = toy_manifests()
    namespace = {
        "kind": "Namespace",
        "metadata": {
            "name": "zen-flow-system",
            "labels": {"pod-security.kubernetes.io/enforce": "restricted"},
        },
    }
    return Manifests([*manifests.objects, namespace], manifests.lease, manifests.example_flows)


def test_a_pod_run_where_pod_security_is_restricted_must_meet_it(tmp_path: Path) -> None:
    checker = Checker(restricted_manifests(), tmp_path)
    plain = parse_command("x:1", "", ["-n", "zen-flow-system", "run", "r", "--image=b:1"])
    assert any("runAsNonRoot must be true" in error for error in checker.check(plain))
    overrides = (
        '{"spec":{"securityContext":{"runAsNonRoot":true,"seccompProfile":'
        '{"type":"RuntimeDefault"}},"containers":[{"name":"r","image":"b:1",'
        '"securityContext":{"allowPrivilegeEscalation":false,"capabilities":{"drop":["ALL"]}}}]}}'
    )
    compliant = parse_command(
        "x:2", "", ["-n", "zen-flow-system", "run", "r", "--image=b:1", f"--overrides={overrides}"]
    )
    assert checker.check(compliant) == []
