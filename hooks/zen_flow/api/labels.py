"""Every label, annotation and child type key the project reads or writes, defined once."""

from __future__ import annotations

from typing import Final

from zen_flow.api.group import GROUP

DOMAIN: Final = GROUP

# Labels on every Job and on its pod template.
LABEL_JOBFLOW_SHORT: Final = "jobflow"
LABEL_JOBFLOW: Final = f"{DOMAIN}/jobflow"
LABEL_STEP: Final = f"{DOMAIN}/step"
LABEL_ATTEMPT: Final = f"{DOMAIN}/attempt"
# Labels on ConfigMap/PVC children.
LABEL_RESOURCE: Final = f"{DOMAIN}/resource"

# Annotations a user sets on a JobFlow.
ANNOTATION_SUSPENDED: Final = f"{DOMAIN}/suspended"
ANNOTATION_TERMINATE: Final = f"{DOMAIN}/terminate"
ANNOTATION_RERUN: Final = f"{DOMAIN}/rerun"
# Followed by a step name: workflow.zen.io/approve-<step>.
ANNOTATION_APPROVE_PREFIX: Final = f"{DOMAIN}/approve-"

# Set by Metacontroller on every child it applies.
ANNOTATION_LAST_APPLIED: Final = "metacontroller.k8s.io/last-applied-configuration"
# Jobs queued by Kueue are suspended and resumed by Kueue, never by us.
LABEL_KUEUE_QUEUE: Final = "kueue.x-k8s.io/queue-name"

# Labels and annotations that others own; a template may not set them (and they are never
# passed on): Metacontroller's bookkeeping, the Job controller's selector labels, ours.
_RESERVED_LABELS = {
    "controller-uid": "Metacontroller",
    "batch.kubernetes.io/controller-uid": "the Job controller",
    "batch.kubernetes.io/job-name": "the Job controller",
    "job-name": "the Job controller",
    LABEL_JOBFLOW_SHORT: "zen-flow",
}
_RESERVED_PREFIXES = {
    "metacontroller.k8s.io/": "Metacontroller",
    "batch.kubernetes.io/": "the Job controller",
    f"{DOMAIN}/": "zen-flow",
}


def reserved_label(key: str) -> str | None:
    """Who owns label ``key`` if a template may not set it, else None."""
    return _RESERVED_LABELS.get(key) or reserved_annotation(key)


def reserved_annotation(key: str) -> str | None:
    """Who owns annotation ``key`` if a template may not set it, else None."""
    for prefix, owner in _RESERVED_PREFIXES.items():
        if key.startswith(prefix):
            return owner
    return None


# Metacontroller child-map keys (hook versions v1 and v2 use the same type keys).
CHILD_JOBS: Final = "Job.batch/v1"
CHILD_CONFIGMAPS: Final = "ConfigMap.v1"
CHILD_PVCS: Final = "PersistentVolumeClaim.v1"
