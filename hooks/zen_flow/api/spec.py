"""The JobFlow's spec (``workflow.zen.io/v1alpha1``): the single description of what users write.

The CRD schema (``zen_flow.gen.crd``), the API reference in ``docs/`` and the hook's validation
are all derived from these models, so a field is added here once and everything else follows.
Cross-field rules (unique names, dependencies, cycles, ``when`` references) live in
``zen_flow.spec.validation`` because they need the whole flow at once.
"""

from __future__ import annotations

from enum import StrEnum
from functools import cached_property
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, field_validator
from pydantic.alias_generators import to_camel

from zen_flow.api.durations import parse_duration

DNS1123_LABEL = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$"
# Bounds that keep the CRD's CEL rules within the API server's cost budget (see zen_flow.gen.crd).
MAX_STEPS = 5000
MAX_DEPENDENCIES = 100
MAX_NAME_LENGTH = 63
StepName = Annotated[str, StringConstraints(pattern=DNS1123_LABEL, max_length=MAX_NAME_LENGTH)]
DURATION_PATTERN = r"^([0-9]+(\.[0-9]+)?(ms|s|m|h))+$"

# Bounds on everything the hooks compute with, so that any spec the CRD admits costs bounded
# time and memory and no arithmetic overflows: times stay within what a date can hold.
MAX_SECONDS = 315_360_000  # ten years: timeouts, deadlines, TTL, backoff delays
MAX_DURATION_LENGTH = 32
MAX_RETRIES = 100  # retryPolicy.limit of one step
MAX_BACKOFF_LIMIT = 100_000  # executionPolicy.backoffLimit of the flow
MAX_BACKOFF_FACTOR = 100.0
MAX_WHEN_LENGTH = 2048
MAX_PARAMETER_VALUE = 4096
MAX_PARAMETERS = 64
MAX_OBJECT_NAME = 253
# Input parameters become environment variables; output parameters are read in ``when`` as
# ``steps.<name>.outputs.<parameter>``: both must be identifiers.
IDENTIFIER = r"^[A-Za-z_][A-Za-z0-9_]*$"
# The approval annotation ``workflow.zen.io/approve-<step>`` must be a valid annotation key,
# whose name part has at most 63 characters.
MAX_APPROVAL_STEP_NAME = 63 - len("approve-")
MAX_TEMPLATES = 200
MAX_ITEMS = 20_000  # items of one fan-out step: an Indexed Job's completions
MAX_PARALLELISM = 10_000
MAX_FINALLY = 100
Duration = Annotated[
    str, StringConstraints(pattern=DURATION_PATTERN, max_length=MAX_DURATION_LENGTH)
]


class ApiModel(BaseModel):
    """Base of every API object: camelCase on the wire, unknown fields are errors."""

    model_config = ConfigDict(
        alias_generator=to_camel,
        populate_by_name=True,
        extra="forbid",
        frozen=True,
    )


class OpenModel(ApiModel):
    """An object that embeds parts of a Kubernetes type: fields we do not model are kept."""

    model_config = ConfigDict(extra="allow")


# --- spec ------------------------------------------------------------------------------------


class StepType(StrEnum):
    JOB = "Job"
    APPROVAL = "Approval"


class ConcurrencyPolicy(StrEnum):
    ALLOW = "Allow"
    FORBID = "Forbid"
    REPLACE = "Replace"


class BackoffType(StrEnum):
    FIXED = "Fixed"
    LINEAR = "Linear"
    EXPONENTIAL = "Exponential"


class OnExitCodes(ApiModel):
    """Exit codes that trigger a pod failure policy rule."""

    container_name: str | None = Field(
        default=None, description="Only exit codes of this container are checked."
    )
    operator: Literal["In", "NotIn"] = Field(description="How the exit code is compared.")
    values: list[int] = Field(min_length=1, description="Exit codes to compare with.")


class OnPodCondition(ApiModel):
    """A pod condition that triggers a pod failure policy rule."""

    type: str = Field(description="Pod condition type, e.g. DisruptionTarget.")
    status: Literal["True", "False", "Unknown"] = Field(
        default="True", description="Condition status to match."
    )


class PodFailurePolicyRule(ApiModel):
    """One rule of a batch/v1 Job podFailurePolicy."""

    action: Literal["FailJob", "Ignore", "Count", "FailIndex"] = Field(
        description="What the Job controller does when the rule matches."
    )
    on_exit_codes: OnExitCodes | None = Field(
        default=None, description="Match on container exit codes."
    )
    on_pod_conditions: list[OnPodCondition] | None = Field(
        default=None, description="Match on pod conditions."
    )


class PodFailurePolicy(ApiModel):
    """A batch/v1 Job podFailurePolicy applied to every step's Job that has none of its own."""

    rules: list[PodFailurePolicyRule] = Field(
        min_length=1, description="Rules evaluated in order for each failed pod."
    )


class ExecutionPolicy(ApiModel):
    """Flow-wide execution settings."""

    concurrency_policy: ConcurrencyPolicy = Field(
        default=ConcurrencyPolicy.FORBID,
        description="What a rerun asked while the flow runs does: Allow, Forbid or Replace.",
    )
    ttl_seconds_after_finished: int = Field(
        default=86400,
        ge=0,
        le=MAX_SECONDS,
        description="Seconds after completion before the flow and its children are removed.",
    )
    backoff_limit: int = Field(
        default=6,
        ge=0,
        le=MAX_BACKOFF_LIMIT,
        description="Total retries allowed across all steps of the flow.",
    )
    active_deadline_seconds: int | None = Field(
        default=None,
        gt=0,
        le=MAX_SECONDS,
        description="Wall-clock limit for the whole flow, counted from status.startTime.",
    )
    pod_failure_policy: PodFailurePolicy | None = Field(
        default=None, description="Job podFailurePolicy applied to every step's Job."
    )


class ObjectTemplateMetadata(OpenModel):
    """Metadata of a resource template; the flow's copy is named ``<flow>-<name>``."""

    name: str = Field(
        pattern=DNS1123_LABEL,
        max_length=63,
        description="Short name that step pod specs use to refer to this resource.",
    )
    labels: dict[str, str] = Field(default_factory=dict, description="Labels of the copy.")
    annotations: dict[str, str] = Field(
        default_factory=dict, description="Annotations of the copy."
    )


class VolumeClaimTemplate(OpenModel):
    """A PersistentVolumeClaim created for the flow before any step starts."""

    model_config = ConfigDict(
        json_schema_extra={
            "x-kubernetes-embedded-resource": True,
            "x-kubernetes-preserve-unknown-fields": True,
        }
    )

    api_version: Literal["v1"] = Field(default="v1", description="Always v1.")
    kind: Literal["PersistentVolumeClaim"] = Field(
        default="PersistentVolumeClaim", description="Always PersistentVolumeClaim."
    )
    metadata: ObjectTemplateMetadata = Field(description="Name, labels and annotations.")
    spec: dict[str, Any] = Field(description="A core/v1 PersistentVolumeClaimSpec.")


class ConfigMapTemplate(OpenModel):
    """A ConfigMap created for the flow before any step starts."""

    model_config = ConfigDict(
        json_schema_extra={
            "x-kubernetes-embedded-resource": True,
            "x-kubernetes-preserve-unknown-fields": True,
        }
    )

    api_version: Literal["v1"] = Field(default="v1", description="Always v1.")
    kind: Literal["ConfigMap"] = Field(default="ConfigMap", description="Always ConfigMap.")
    metadata: ObjectTemplateMetadata = Field(description="Name, labels and annotations.")
    data: dict[str, str] | None = Field(default=None, description="Text entries.")
    binary_data: dict[str, str] | None = Field(
        default=None, description="Base64-encoded binary entries."
    )
    immutable: bool | None = Field(default=None, description="Make the copy immutable.")


class ResourceTemplates(ApiModel):
    """Resources created for each flow before any step starts."""

    volume_claim_templates: list[VolumeClaimTemplate] = Field(
        default_factory=list, description="PersistentVolumeClaims, named <flow>-<name>."
    )
    config_map_templates: list[ConfigMapTemplate] = Field(
        default_factory=list, description="ConfigMaps, named <flow>-<name>."
    )


class Container(OpenModel):
    """A container of the step's pod; only the fields zen-flow checks are modelled."""

    name: str = Field(min_length=1, description="Container name.")
    image: str = Field(min_length=1, description="Container image.")


class PodSpec(OpenModel):
    """The step's core/v1 PodSpec; only the fields zen-flow checks are modelled."""

    containers: list[Container] = Field(min_length=1, description="At least one container.")
    restart_policy: Literal["OnFailure", "Never"] = Field(
        default="Never",
        description="OnFailure or Never (Never when a podFailurePolicy applies).",
    )


class PodTemplateMetadata(OpenModel):
    """Labels and annotations of the step's pods; other metadata is never used."""

    labels: dict[str, str] = Field(default_factory=dict, description="Labels of the pods.")
    annotations: dict[str, str] = Field(
        default_factory=dict, description="Annotations of the pods."
    )


class PodTemplate(OpenModel):
    """The Job's pod template."""

    # Optional rather than defaulted, like the Job template's metadata (cheaper at scale).
    metadata: PodTemplateMetadata | None = Field(
        default=None, description="Pod labels and annotations."
    )
    spec: PodSpec = Field(description="The pod spec.")


class JobSpec(OpenModel):
    """The step's batch/v1 JobSpec; ``selector`` and ``manualSelector`` are ignored."""

    template: PodTemplate = Field(description="Pod template of the step's Job.")
    active_deadline_seconds: int | None = Field(
        default=None,
        gt=0,
        le=MAX_SECONDS,
        description="Per-attempt limit; timeoutSeconds may lower it.",
    )
    pod_failure_policy: dict[str, Any] | None = Field(
        default=None, description="Overrides executionPolicy.podFailurePolicy for this step."
    )


class JobTemplateMetadata(OpenModel):
    """Labels and annotations of the step's Job; name, namespace and owners are never used."""

    labels: dict[str, str] = Field(default_factory=dict, description="Labels of the Job.")
    annotations: dict[str, str] = Field(default_factory=dict, description="Annotations of the Job.")


class JobTemplate(OpenModel):
    """A batch/v1 Job: each attempt of the step is a new Job made from it."""

    model_config = ConfigDict(
        json_schema_extra={
            "x-kubernetes-embedded-resource": True,
            "x-kubernetes-preserve-unknown-fields": True,
        }
    )

    api_version: Literal["batch/v1"] = Field(default="batch/v1", description="Always batch/v1.")
    kind: Literal["Job"] = Field(default="Job", description="Always Job.")
    # Optional rather than defaulted: building an empty model for each of thousands of steps
    # is a measurable part of validating a large flow.
    metadata: JobTemplateMetadata | None = Field(
        default=None, description="Labels and annotations of the Job."
    )
    spec: JobSpec = Field(description="The Job spec.")


class ParameterisedJobTemplate(JobTemplate):
    """A batch/v1 Job, as in a step's template, whose strings may hold ``{{params.NAME}}``,
    label and annotation values included: each step's Job is checked once its arguments are
    substituted (the API server checks a template's labels only as written, so it is not
    declared to it as an embedded object)."""

    model_config = ConfigDict(json_schema_extra={"x-kubernetes-preserve-unknown-fields": True})


class StepMetadata(ApiModel):
    """Extra labels and annotations for the step's Job (labels also go on its pods)."""

    labels: dict[str, str] = Field(default_factory=dict, description="Added to Job and pods.")
    annotations: dict[str, str] = Field(default_factory=dict, description="Added to the Job.")


class Backoff(ApiModel):
    """Delay before each retry, counted from the failed attempt's finish time."""

    type: BackoffType = Field(
        default=BackoffType.EXPONENTIAL,
        description="Fixed: d. Linear: d*n. Exponential: d*factor^(n-1), for retry n.",
    )
    duration: Duration = Field(default="1s", description='Base delay d, e.g. "10s".')
    factor: float = Field(
        default=2.0, ge=1.0, le=MAX_BACKOFF_FACTOR, description="Growth factor of Exponential."
    )
    max_delay: Duration | None = Field(
        default=None, description='Upper bound of a delay, e.g. "10m".'
    )

    @field_validator("duration", "max_delay")
    @classmethod
    def _parses(cls, value: str | None) -> str | None:
        if value is not None and parse_duration(value) > MAX_SECONDS:
            raise ValueError(f'duration "{value}" is longer than {MAX_SECONDS // 3600}h')
        return value


class RetryPolicy(ApiModel):
    """Retries of a failed step: each attempt is a new Job."""

    limit: int = Field(
        default=3, ge=0, le=MAX_RETRIES, description="Retries after the first attempt."
    )
    backoff: Backoff = Field(
        default=Backoff(), description="Delay between attempts (default Exponential 1s)."
    )


class KeyRef(ApiModel):
    """A key of a ConfigMap or Secret."""

    name: str = Field(min_length=1, max_length=MAX_OBJECT_NAME, description="Object name.")
    key: str = Field(min_length=1, max_length=MAX_OBJECT_NAME, description="Key in the object.")


class StepOutputRef(ApiModel):
    """An output parameter of another step."""

    step: StepName = Field(description="An upstream step that declares the output.")
    parameter: str = Field(
        pattern=IDENTIFIER, max_length=MAX_NAME_LENGTH, description="Output parameter name."
    )


class ValueFrom(ApiModel):
    """Where an input's value comes from (exactly one source)."""

    config_map_key_ref: KeyRef | None = Field(default=None, description="A ConfigMap key.")
    secret_key_ref: KeyRef | None = Field(default=None, description="A Secret key.")
    step_output: StepOutputRef | None = Field(
        default=None, description="An output parameter of an upstream step."
    )


class Parameter(ApiModel):
    """An input: an environment variable of every container of the step's pods, with a
    literal value or a value from a ConfigMap, a Secret or an upstream step's output."""

    name: str = Field(
        pattern=IDENTIFIER,
        max_length=MAX_NAME_LENGTH,
        description="Parameter name: the environment variable's name.",
    )
    value: str | None = Field(
        default=None, max_length=MAX_PARAMETER_VALUE, description="Literal value."
    )
    value_from: ValueFrom | None = Field(default=None, description="Source of the value.")


class Parameters(ApiModel):
    """Input parameters."""

    parameters: list[Parameter] = Field(
        default_factory=list, max_length=MAX_PARAMETERS, description="The parameters."
    )


class OutputParameter(ApiModel):
    """An output the step's container writes to its termination message."""

    name: str = Field(
        pattern=IDENTIFIER,
        max_length=MAX_NAME_LENGTH,
        description="Key of the JSON object in the termination message.",
    )


class OutputParameters(ApiModel):
    """Output parameters."""

    parameters: list[OutputParameter] = Field(
        default_factory=list, max_length=MAX_PARAMETERS, description="The parameters."
    )


class Step(ApiModel):
    """One node of the DAG: a Job template with its dependencies and policies, or an
    approval gate."""

    name: str = Field(
        pattern=DNS1123_LABEL,
        max_length=MAX_NAME_LENGTH,
        description="DNS-1123 label, unique in the flow.",
    )
    dependencies: list[StepName] = Field(
        default_factory=list,
        max_length=MAX_DEPENDENCIES,
        description="Steps that must finish (Succeeded, Skipped, or tolerated Failed) first.",
    )
    type: StepType = Field(
        default=StepType.JOB,
        description=(
            "Job: run the template. Approval: no template; wait for the annotation "
            'workflow.zen.io/approve-<step> ("true" or "false").'
        ),
    )
    template: JobTemplate | None = Field(
        default=None,
        description="The batch/v1 Job run for each attempt (type Job; or templateRef).",
    )
    template_ref: str | None = Field(
        default=None,
        pattern=DNS1123_LABEL,
        max_length=MAX_NAME_LENGTH,
        description="Instead of template: the name of one of spec.templates.",
    )
    arguments: dict[str, str] | None = Field(
        default=None,
        max_length=MAX_PARAMETERS,
        description="With templateRef: values of the template's parameters, by name.",
    )
    with_items: list[Any] | None = Field(
        default=None,
        max_length=MAX_ITEMS,
        description=(
            "Run the step once per item, as one Indexed Job: the pod of index i reads its "
            "item from /etc/zen-flow/items/<i> (i is $JOB_COMPLETION_INDEX; values other "
            "than strings as JSON)."
        ),
    )
    with_param: StepOutputRef | None = Field(
        default=None,
        description="Like withItems, with the items a JSON list in an upstream step's output.",
    )
    parallelism: int | None = Field(
        default=None,
        gt=0,
        le=MAX_PARALLELISM,
        description="With withItems or withParam: items run at once (default: all).",
    )
    metadata: StepMetadata | None = Field(
        default=None, description="Extra labels and annotations of the Job."
    )
    retry_policy: RetryPolicy | None = Field(
        default=None, description="Retries of a failed attempt; absent means none."
    )
    timeout_seconds: int | None = Field(
        default=None,
        gt=0,
        le=MAX_SECONDS,
        description="Per-attempt limit: the Job's activeDeadlineSeconds.",
    )
    when: str | None = Field(
        default=None,
        max_length=MAX_WHEN_LENGTH,
        description=(
            "CEL condition over upstream steps, e.g. steps.extract.phase == 'Succeeded'; "
            "always/true, never/false. False skips the step."
        ),
    )
    continue_on_failure: bool = Field(
        default=False, description="A failure of this step does not fail the flow."
    )
    inputs: Parameters | None = Field(
        default=None, description="Input parameters, given to the containers as environment."
    )
    outputs: OutputParameters | None = Field(
        default=None,
        description="Outputs, read from the termination message of the step's succeeded pod.",
    )

    @property
    def output_names(self) -> tuple[str, ...]:
        return tuple(p.name for p in self.outputs.parameters) if self.outputs else ()

    @property
    def fans_out(self) -> bool:
        return self.with_items is not None or self.with_param is not None


class TemplateParameter(ApiModel):
    """A parameter of a named template; a step's ``arguments`` give its value."""

    name: str = Field(
        pattern=IDENTIFIER,
        max_length=MAX_NAME_LENGTH,
        description="Used in the template as {{params.<name>}}.",
    )
    default: str | None = Field(
        default=None,
        max_length=MAX_PARAMETER_VALUE,
        description="Value when a step gives none; without it, every step must give one.",
    )


class NamedTemplate(ApiModel):
    """A Job template that steps use by name (``templateRef``), with parameters."""

    name: str = Field(
        pattern=DNS1123_LABEL,
        max_length=MAX_NAME_LENGTH,
        description="Name that steps give as templateRef.",
    )
    parameters: list[TemplateParameter] = Field(
        default_factory=list,
        max_length=MAX_PARAMETERS,
        description="Parameters, substituted as {{params.<name>}} in every string of template.",
    )
    template: ParameterisedJobTemplate = Field(
        description="The batch/v1 Job, as in a step's template."
    )


class JobFlowSpec(ApiModel):
    """The desired flow: steps and their policies."""

    execution_policy: ExecutionPolicy = Field(
        default=ExecutionPolicy(), description="Flow-wide execution settings."
    )
    resource_templates: ResourceTemplates | None = Field(
        default=None, description="PVCs and ConfigMaps created before any step starts."
    )
    templates: list[NamedTemplate] = Field(
        default_factory=list,
        max_length=MAX_TEMPLATES,
        description="Job templates that steps use by name (templateRef).",
    )
    steps: list[Step] = Field(
        min_length=1, max_length=MAX_STEPS, description="The steps of the DAG."
    )
    finally_: list[Step] = Field(
        default_factory=list,
        max_length=MAX_FINALLY,
        alias="finally",
        description=(
            "Steps that run once every step has finished, whatever the outcome (cleanup, "
            "notification); they may depend on each other and read flow.phase in when."
        ),
    )

    @cached_property
    def all_steps(self) -> tuple[Step, ...]:
        """The steps, then the finally steps."""
        return (*self.steps, *self.finally_)

    @cached_property
    def step_names(self) -> tuple[str, ...]:
        """The names of spec.steps, in declaration order."""
        return tuple(step.name for step in self.steps)

    @cached_property
    def finally_names(self) -> tuple[str, ...]:
        """The names of spec.finally, in declaration order."""
        return tuple(step.name for step in self.finally_)

    @cached_property
    def all_step_names(self) -> tuple[str, ...]:
        """The names of the steps, then of the finally steps."""
        return (*self.step_names, *self.finally_names)

    @cached_property
    def templates_by_name(self) -> dict[str, NamedTemplate]:
        """The named templates; of two with one name (refused), the first."""
        found: dict[str, NamedTemplate] = {}
        for template in self.templates:
            found.setdefault(template.name, template)
        return found

    def template_of(self, step: Step) -> JobTemplate:
        """The Job template a step runs, before substitution (validation guarantees one)."""
        if step.template is not None:
            return step.template
        if step.template_ref is not None and step.template_ref in self.templates_by_name:
            return self.templates_by_name[step.template_ref].template
        raise ValueError(f'step "{step.name}" has no template')
