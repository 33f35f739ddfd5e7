"""What in a kubectl command does not exist in this project.

A command passes when every namespace, resource, container, label, annotation, condition type,
flow phase, JobFlow field and repository file it names is one the manifests, the examples and
``zen_flow.api`` define, and when it does nothing this project forbids: ``apply --previous``
(no such flag), deleting the CRD (it deletes every JobFlow; only an uninstall may), or writing
a JobFlow's status (see ``writes_status``).
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Final

import yaml

from zen_flow.api.labels import (
    ANNOTATION_APPROVE_PREFIX,
    ANNOTATION_RERUN,
    ANNOTATION_SUSPENDED,
    ANNOTATION_TERMINATE,
    LABEL_ATTEMPT,
    LABEL_JOBFLOW,
    LABEL_JOBFLOW_SHORT,
    LABEL_KUEUE_QUEUE,
    LABEL_RESOURCE,
    LABEL_STEP,
)
from zen_flow.api.reasons import ConditionType
from zen_flow.api.status import FlowPhase
from zen_flow.engine.size import ANNOTATION_LAST_APPLIED_CONFIGURATION
from zen_flow.tools.doccheck.commands import Command, is_placeholder
from zen_flow.tools.doccheck.fields import field_path_error, output_paths
from zen_flow.tools.doccheck.manifests import Manifests, Obj, pod_templates
from zen_flow.tools.doccheck.podsecurity import ENFORCE_LABEL, merge_patch, restricted_problems
from zen_flow.tools.doccheck.resources import (
    CLUSTER_SCOPED,
    KINDS,
    RUNTIME_KINDS,
    UNKNOWN,
    Target,
    resource_targets,
)
from zen_flow.tools.kubectl_jobflow.main import plugin as kubectl_jobflow

# Labels that Kubernetes or Metacontroller put on children.
SYSTEM_LABELS: Final = frozenset(
    {
        "controller-uid",
        "batch.kubernetes.io/controller-uid",
        "batch.kubernetes.io/job-name",
        "job-name",
        "kubernetes.io/service-name",
        LABEL_KUEUE_QUEUE,
    }
)
# Labels the hooks put on a flow's children.
FLOW_LABELS: Final = frozenset(
    {LABEL_JOBFLOW_SHORT, LABEL_JOBFLOW, LABEL_STEP, LABEL_ATTEMPT, LABEL_RESOURCE}
)
# Annotations a user sets on a JobFlow, and the values they take (None: any text).
USER_ANNOTATIONS: Final[dict[str, frozenset[str] | None]] = {
    ANNOTATION_SUSPENDED: frozenset({"true", "false"}),
    ANNOTATION_TERMINATE: frozenset({"true"}),
    ANNOTATION_RERUN: None,
}
APPROVAL_VALUES: Final = frozenset({"true", "false"})
# Annotations of a JobFlow whose removal does something: kubectl's copy of the object counts
# against the flow's size (zen_flow.engine.size).
REMOVABLE_ANNOTATIONS: Final = frozenset({ANNOTATION_LAST_APPLIED_CONFIGURATION})
# Verbs whose arguments are resources: `type/name`, `type name...` or `type[,type]`.
RESOURCE_VERBS: Final = frozenset(
    {
        "get", "describe", "delete", "edit", "patch", "annotate", "label", "scale", "wait",
        "logs", "exec", "port-forward", "top", "events", "explain",
    }
)  # fmt: skip
# Verbs that name nothing of the project.
NO_CHECK_VERBS: Final = frozenset(
    {"version", "cluster-info", "api-resources", "api-versions", "config", "kustomize"}
)
STATUS_IS_THE_HOOKS: Final = "status is written by the hooks only: never patch it"
# `kubectl jobflow ...` runs the plugin this package installs (zen_flow.tools.kubectl_jobflow).
PLUGIN_VERB: Final = "jobflow"


def writes_status(command: Command) -> bool:
    """Whether a patch writes ``.status``, which the hooks alone own: through the status
    subresource, or with a body that sets ``status`` or a JSON patch of ``/status``."""
    if "status" in command.values("--subresource"):
        return True
    for body in command.values("-p", "--patch"):
        if is_placeholder(body):
            continue
        try:
            patch = yaml.safe_load(body)
        except yaml.YAMLError:
            continue  # reported as a patch that does not parse
        operations = patch if isinstance(patch, list) else []
        if (isinstance(patch, dict) and "status" in patch) or any(
            isinstance(op, dict) and str(op.get("path", "")).startswith("/status")
            for op in operations
        ):
            return True
    return False


class Checker:
    """Finds what in the kubectl commands of one document does not exist in this project.

    ``root`` is the repository the commands' file paths are relative to. Commands are checked in
    the document's order: a Job or Pod an earlier command creates exists for the later ones.
    """

    def __init__(self, manifests: Manifests, root: Path, *, may_delete_crd: bool = False) -> None:
        self.m = manifests
        self.root = root
        self.may_delete_crd = may_delete_crd
        self.created: set[tuple[str, str]] = set()  # (kind, name) made by earlier commands

    def check(self, command: Command) -> list[str]:
        """Every reason the command would not work, or would do harm; empty when it is fine."""
        verb, *rest = command.args or ["<none>"]
        namespaces = command.values("-n", "--namespace")
        namespace = namespaces[-1] if namespaces else None
        errors = self.check_namespace(namespace) + self.check_paths(command, verb)
        if verb in NO_CHECK_VERBS:
            return errors
        whole = self.check_whole(command, verb, rest, namespace)
        if whole is not None:
            return errors + whole
        named = self.targets_of(command, verb, rest)
        if named is None:
            return [*errors, f"unknown kubectl verb {verb!r}: teach {__name__} about it"]
        targets, rest = named
        every = bool({"-A", "--all-namespaces"} & command.bool_flags)
        crd = any(t.kind == "CustomResourceDefinition" for t in targets)
        if verb == "delete" and crd and not self.may_delete_crd:
            errors.append("never delete the CRD: it deletes every JobFlow")
        for target in targets:
            errors += self.check_target(command, verb, target, namespace, every)
        errors += self.check_selector(command, namespace, every)
        return errors + self.check_verb(command, verb, targets, rest)

    def check_namespace(self, namespace: str | None) -> list[str]:
        if namespace and not is_placeholder(namespace) and namespace not in self.m.namespaces:
            return [f"namespace {namespace!r} is not created by the manifests"]
        return []

    def check_whole(
        self, command: Command, verb: str, rest: list[str], namespace: str | None
    ) -> list[str] | None:
        """The errors of a command that names no resource to look up; None for the others."""
        if verb in ("apply", "diff", "replace"):
            previous = "--previous" in command.bool_flags
            return ["kubectl apply has no --previous flag"] if previous else []
        if verb == "create":
            return self.check_create(command, rest, namespace)
        if verb == "run":
            if rest:
                self.created.add(("Pod", rest[0]))
            return self.check_run(command, rest, namespace)
        if verb == "auth":
            return self.check_auth(command)
        if verb == "explain":
            return self.check_explain(rest)
        if verb == PLUGIN_VERB:
            return self.check_plugin(rest)
        return None

    def check_run(self, command: Command, rest: list[str], namespace: str | None) -> list[str]:
        """The pod ``kubectl run`` makes (its ``--overrides`` merged in) is admitted by the
        Pod Security level its namespace enforces."""
        level = self.pod_security(namespace)
        if level != "restricted" or not rest:
            return []
        overrides = command.values("--overrides")
        if any(is_placeholder(text) for text in overrides):
            return []
        pod: Obj = {
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {"name": rest[0]},
            "spec": {
                "containers": [{"name": rest[0], "image": (command.values("--image") or [""])[-1]}]
            },
        }
        for text in overrides:
            try:
                pod = merge_patch(pod, json.loads(text))
            except json.JSONDecodeError as error:
                return [f"--overrides is not JSON: {error}"]
        return [
            f"namespace {namespace} enforces the restricted Pod Security level: {problem}"
            for problem in restricted_problems(pod.get("spec") or {})
        ]

    def pod_security(self, namespace: str | None) -> str | None:
        """The Pod Security level a namespace of the manifests enforces."""
        for obj in self.m.find("Namespace", namespace or ""):
            level = (obj["metadata"].get("labels") or {}).get(ENFORCE_LABEL)
            return str(level) if level else None
        return None

    @staticmethod
    def targets_of(
        command: Command, verb: str, rest: list[str]
    ) -> tuple[list[Target], list[str]] | None:
        """The resources the command acts on and its other words; None for an unknown verb."""
        if verb == "rollout" or (verb == "set" and rest[:1] in (["env"], ["image"], ["resources"])):
            return resource_targets(rest[1:])[0], rest
        if verb == "cp":
            pods = [w.partition(":")[0].rpartition("/")[2] for w in rest if ":" in w]
            return [Target("Pod", pod) for pod in pods], rest
        if verb == "events":
            return [
                t for value in command.values("--for") for t in resource_targets([value])[0]
            ], rest
        if verb in ("logs", "exec", "port-forward") and rest and "/" not in rest[0]:
            return [Target("Pod", rest[0])], rest[1:]
        if verb in RESOURCE_VERBS:
            return resource_targets(rest)
        return None

    def check_verb(
        self, command: Command, verb: str, targets: list[Target], rest: list[str]
    ) -> list[str]:
        """What the verb itself sets, patches, waits for or reads."""
        errors = []
        if verb == "annotate":
            errors += self.check_annotations(rest)
        if verb == "patch":
            errors += self.check_patch(command)
        if verb == "wait":
            errors += self.check_wait(command, targets)
        if any(t.kind == "JobFlow" for t in targets):
            errors += [e for parts in output_paths(command) if (e := field_path_error(parts))]
        return errors

    def check_paths(self, command: Command, verb: str) -> list[str]:
        """Files of the repository (-f, -k, kustomize DIR) exist; the CRD's are not deleted."""
        errors = []
        paths = command.values("-f", "--filename", "-k", "--kustomize")
        if verb == "kustomize":
            paths += command.args[1:]
        top = {p.name for p in self.root.iterdir()}
        for value in paths:
            if is_placeholder(value) or value.split("/")[0] not in top:
                continue  # a file of the user's, not of the repository
            if not (self.root / value).exists():
                errors.append(f"{value} does not exist in the repository")
            deletes_crd = value.startswith(("crds", "deploy")) and "components" not in value
            if verb == "delete" and deletes_crd and not self.may_delete_crd:
                errors.append(f"never delete {value}: it deletes the CRD and every JobFlow")
        return errors

    def check_explain(self, words: list[str]) -> list[str]:
        parts = words[0].split(".") if words else []
        if parts and KINDS.get(parts[0].lower()) == "JobFlow" and len(parts) > 1:
            error = field_path_error(parts[1:])
            return [error] if error else []
        return []

    def check_plugin(self, words: list[str]) -> list[str]:
        """``kubectl jobflow COMMAND [FLOW ...]``: a command of the plugin; a flow the
        examples define (or a placeholder)."""
        if not words:
            return []
        if words[0] not in kubectl_jobflow.commands:
            return [f"kubectl jobflow has no command {words[0]!r}"]
        flow = words[1] if len(words) > 1 else None
        if flow and not is_placeholder(flow) and flow not in self.m.example_flows:
            return [f"no JobFlow named {flow!r} in the examples"]
        return []

    def check_target(
        self, command: Command, verb: str, target: Target, namespace: str | None, every: bool
    ) -> list[str]:
        """The resource exists: in the manifests, or made at run time by a flow or a command."""
        kind, name = target.kind, target.name
        if not target.known:
            return [f"unknown resource type {kind.removeprefix(UNKNOWN)!r}"]
        if kind not in RUNTIME_KINDS and not any(o["kind"] == kind for o in self.m.objects):
            return [f"the manifests define no {kind}"]
        if name is None or is_placeholder(name) or (kind, name) in self.created:
            return []
        if kind == "Lease":
            if (namespace, name) != self.m.lease:
                return [f"Metacontroller's lease is {self.m.lease[1]} in {self.m.lease[0]}"]
            return []
        where = namespace if not every else None
        found = self.m.find(kind, name)
        if found:
            namespaces = {o["metadata"].get("namespace") for o in found}
            if kind in CLUSTER_SCOPED or where in namespaces or every:
                return self.check_container(command, verb, found[0])
            return [f"{kind} {name} lives in namespace {sorted(map(str, namespaces))}: add -n"]
        if self.made_at_run_time(kind, name, where):
            return []
        return [f"no {kind} named {name!r} in the manifests or examples (namespace {where})"]

    def made_at_run_time(self, kind: str, name: str, namespace: str | None) -> bool:
        """A StatefulSet's pod, a Service's Endpoints, or a child of an example flow."""
        if kind == "Pod" and self.is_statefulset_pod(name, namespace):
            return True
        if kind == "Endpoints" and self.m.find("Service", name):
            return True
        flows = self.m.example_flows
        return (
            kind in RUNTIME_KINDS
            and namespace not in self.m.namespaces
            and (name in flows or any(name.startswith(flow + "-") for flow in flows))
        )

    def is_statefulset_pod(self, name: str, namespace: str | None) -> bool:
        base, _, ordinal = name.rpartition("-")
        return ordinal.isdigit() and any(
            o["metadata"].get("namespace") == namespace for o in self.m.find("StatefulSet", base)
        )

    def check_container(self, command: Command, verb: str, obj: Obj) -> list[str]:
        wanted = command.values("-c", "--container")
        if not wanted or verb not in ("logs", "exec"):
            return []
        names = {
            container["name"]
            for template in pod_templates(obj)
            for group in ("containers", "initContainers")
            for container in template["spec"].get(group, [])
        }
        return [f"{obj['kind']} has no container {c!r}" for c in wanted if c not in names]

    def check_selector(self, command: Command, namespace: str | None, every: bool) -> list[str]:
        """Every label of -l is set by something; an equality selector matches an object."""
        errors = []
        for selector in command.values("-l", "--selector"):
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
            if key.startswith(ANNOTATION_APPROVE_PREFIX) and len(key) > len(
                ANNOTATION_APPROVE_PREFIX
            ):
                allowed: frozenset[str] | None = APPROVAL_VALUES
            elif key in USER_ANNOTATIONS:
                allowed = USER_ANNOTATIONS[key]
            elif key in REMOVABLE_ANNOTATIONS:
                if equals:
                    errors.append(f"annotation {key!r} does something only when removed ({key}-)")
                continue
            else:
                errors.append(f"annotation {key!r} does nothing in this version")
                continue
            if (
                equals
                and allowed is not None
                and value not in allowed
                and not is_placeholder(value)
            ):
                errors.append(f"{key} takes one of {sorted(allowed)}, not {value!r}")
        return errors

    def check_patch(self, command: Command) -> list[str]:
        errors = []
        for body in command.values("-p", "--patch"):
            if is_placeholder(body):
                continue
            try:
                yaml.safe_load(body)
            except yaml.YAMLError:
                errors.append(f"patch {body!r} does not parse")
        if writes_status(command):
            errors.append(STATUS_IS_THE_HOOKS)
        return errors

    def check_wait(self, command: Command, targets: list[Target]) -> list[str]:
        """A JobFlow condition or phase waited for is one the hooks set."""
        errors = []
        for value in command.values("--for"):
            kind, _, rest = value.partition("=")
            if kind == "condition" and any(t.kind == "JobFlow" for t in targets):
                condition = rest.partition("=")[0]
                if condition not in {c.value for c in ConditionType}:
                    errors.append(f"JobFlows have no condition {condition!r}")
            match = re.match(r"jsonpath=\{?\.status\.phase\}?=(\w+)", value)
            if match and match[1] not in {p.value for p in FlowPhase}:
                errors.append(f"{match[1]!r} is not a flow phase")
        return errors

    def check_create(self, command: Command, words: list[str], namespace: str | None) -> list[str]:
        """``create job NAME --from=cronjob/X``: X exists, and NAME exists for later commands."""
        if words[:1] == ["job"] and len(words) > 1:
            self.created.add(("Job", words[1]))
            errors = []
            for source in command.values("--from"):
                for target in resource_targets([source])[0]:
                    errors += self.check_target(command, "create", target, namespace, False)
            return errors
        return []

    def check_auth(self, command: Command) -> list[str]:
        """``auth can-i --as system:serviceaccount:NS:NAME``: that ServiceAccount exists."""
        errors = []
        for who in command.values("--as"):
            match = re.match(r"system:serviceaccount:([^:]+):(.+)", who)
            if match and not is_placeholder(who):
                accounts = self.m.find("ServiceAccount", match[2])
                if not any(a["metadata"].get("namespace") == match[1] for a in accounts):
                    errors.append(f"no ServiceAccount {match[2]} in {match[1]}")
        return errors
