"""Every label, annotation, reason and condition name the project uses, defined once."""

from __future__ import annotations

from typing import Final

DOMAIN: Final = "workflow.zen.io"

# Labels on every Job and on its pod template.
LABEL_JOBFLOW_SHORT: Final = "jobflow"
LABEL_JOBFLOW: Final = f"{DOMAIN}/jobflow"
LABEL_STEP: Final = f"{DOMAIN}/step"
LABEL_ATTEMPT: Final = f"{DOMAIN}/attempt"
# Labels on ConfigMap/PVC children.
LABEL_RESOURCE: Final = f"{DOMAIN}/resource"

# Annotations a user sets on a JobFlow.
ANNOTATION_SUSPENDED: Final = f"{DOMAIN}/suspended"

# Set by Metacontroller on every child it applies.
ANNOTATION_LAST_APPLIED: Final = "metacontroller.k8s.io/last-applied-configuration"
# Jobs queued by Kueue are suspended and resumed by Kueue, never by us.
LABEL_KUEUE_QUEUE: Final = "kueue.x-k8s.io/queue-name"

# Metacontroller child-map keys (hook versions v1 and v2 use the same type keys).
CHILD_JOBS: Final = "Job.batch/v1"
CHILD_CONFIGMAPS: Final = "ConfigMap.v1"
CHILD_PVCS: Final = "PersistentVolumeClaim.v1"


class Reason:
    """Reasons of step and flow phases and of conditions."""

    # steps
    WAITING_FOR_DEPENDENCIES: Final = "WaitingForDependencies"
    WAITING_FOR_RESOURCES: Final = "WaitingForResources"
    JOB_CREATED: Final = "JobCreated"
    JOB_RUNNING: Final = "JobRunning"
    JOB_SUSPENDED: Final = "JobSuspended"
    JOB_COMPLETE: Final = "JobComplete"
    BACKOFF_WAIT: Final = "BackoffWait"
    RETRY_LIMIT_REACHED: Final = "RetryLimitReached"
    FLOW_BACKOFF_LIMIT_REACHED: Final = "FlowBackoffLimitReached"
    JOB_FAILED: Final = "JobFailed"
    UPSTREAM_FAILED: Final = "UpstreamFailed"
    CONDITION_FALSE: Final = "ConditionFalse"
    CONDITION_ERROR: Final = "ConditionError"
    DEADLINE_EXCEEDED: Final = "DeadlineExceeded"
    # flow
    INVALID_SPEC: Final = "InvalidSpec"
    STARTED: Final = "Started"
    SUSPENDED: Final = "Suspended"
    STEP_FAILED: Final = "StepFailed"
    ALL_STEPS_DONE: Final = "AllStepsDone"
    NOT_STARTED: Final = "NotStarted"
    SPEC_VALID: Final = "SpecValid"


class ConditionType:
    """metav1.Condition types on a JobFlow."""

    RUNNING: Final = "Running"
    COMPLETE: Final = "Complete"
    FAILED: Final = "Failed"
    SUSPENDED: Final = "Suspended"
    INVALID_SPEC: Final = "InvalidSpec"

    ALL: Final = (RUNNING, COMPLETE, FAILED, SUSPENDED, INVALID_SPEC)
