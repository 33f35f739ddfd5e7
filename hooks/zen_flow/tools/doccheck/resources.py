"""The resource types a kubectl command may name, and the resources it names."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Final

# Kinds that exist in a cluster running zen-flow without being in its manifests: what the hooks,
# Kubernetes and Metacontroller create while flows run.
RUNTIME_KINDS: Final = frozenset(
    {
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
)
CLUSTER_SCOPED: Final = frozenset(
    {
        "Namespace",
        "Node",
        "CustomResourceDefinition",
        "CompositeController",
        "DecoratorController",
        "ClusterRole",
        "ClusterRoleBinding",
    }
)
# The names kubectl accepts for each kind: singular, plural, short names.
KIND_ALIASES: Final[dict[str, list[str]]] = {
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
KINDS: Final = {alias: kind for kind, aliases in KIND_ALIASES.items() for alias in aliases}
UNKNOWN: Final = "?"  # prefixes a resource type kubectl would not know


@dataclass
class Target:
    """A resource a command names: its kind (``?type`` if unknown) and name (None: every one)."""

    kind: str
    name: str | None

    @property
    def known(self) -> bool:
        return not self.kind.startswith(UNKNOWN)


def kind_of(resource_type: str) -> str:
    """The kind a resource type names (``deploy`` → Deployment), or ``?type``."""
    return KINDS.get(resource_type.lower(), UNKNOWN + resource_type)


def resource_targets(words: list[str]) -> tuple[list[Target], list[str]]:
    """Resources named by ``type/name``, ``type name...`` or ``type[,type]``; and the rest."""
    if not words:
        return [], []
    if "/" in words[0]:
        targets, rest = [], []
        for word in words:
            resource_type, slash, name = word.partition("/")
            if slash and resource_type.lower() in KINDS:
                targets.append(Target(KINDS[resource_type.lower()], name))
            elif slash and not re.match(r"[a-z.]+/", word):
                rest.append(word)
            elif slash:
                targets.append(Target(UNKNOWN + resource_type, name))
            else:
                rest.append(word)
        return targets, rest
    kinds = [kind_of(resource_type) for resource_type in words[0].split(",")]
    # key=value and key- are what annotate and label set and remove, not names.
    names = [w for w in words[1:] if "=" not in w and not w.endswith("-")]
    rest = [w for w in words[1:] if w not in names]
    if not names:
        return [Target(kind, None) for kind in kinds], rest
    return [Target(kind, name) for kind in kinds for name in names], rest
