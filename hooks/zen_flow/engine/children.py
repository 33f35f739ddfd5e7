"""Builders of desired children: step Jobs, resource copies, and re-emissions of what exists.

An existing child is re-emitted exactly as Metacontroller last applied it (its
last-applied annotation), changing at most ``spec.suspend`` of a Job: a Job's pod template is
immutable, so re-rendering it from an edited spec would be an update error forever.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import msgspec

from zen_flow.api.labels import (
    ANNOTATION_LAST_APPLIED,
    LABEL_ATTEMPT,
    LABEL_JOBFLOW,
    LABEL_JOBFLOW_SHORT,
    LABEL_RESOURCE,
    LABEL_STEP,
    reserved_annotation,
    reserved_label,
)
from zen_flow.api.naming import items_name, label_value, resource_name
from zen_flow.api.spec import (
    ConfigMapTemplate,
    JobFlowSpec,
    JobTemplateMetadata,
    PodTemplateMetadata,
    StepMetadata,
    VolumeClaimTemplate,
)
from zen_flow.engine.observe import FlowIdentity, ObservedChild
from zen_flow.engine.plan import JobToCreate
from zen_flow.engine.wire import Child
from zen_flow.spec.fanout import ITEMS_PATH, ITEMS_VOLUME, items_digest
from zen_flow.spec.templates import resolved_template

Desired = msgspec.Raw | dict[str, Any]


_NO_STEP_METADATA = StepMetadata()
_NO_JOB_METADATA = JobTemplateMetadata()
_NO_POD_METADATA = PodTemplateMetadata()

# Fields of a template that Kubernetes or Metacontroller own; never taken from the user.
_DROPPED_JOB_SPEC = ("selector", "manualSelector")
_KEPT_CHILD_METADATA = ("name", "namespace", "labels", "annotations")


def flow_labels(flow: FlowIdentity) -> dict[str, str]:
    value = label_value(flow.name)
    return {LABEL_JOBFLOW_SHORT: value, LABEL_JOBFLOW: value}


def render_job(
    flow: FlowIdentity, spec: JobFlowSpec, job: JobToCreate, suspend: bool
) -> dict[str, Any]:
    """The Job of one attempt of one step (an Indexed Job when the step fans out)."""
    step = job.step
    template = resolved_template(spec, step)
    step_meta = step.metadata or _NO_STEP_METADATA
    job_meta = template.metadata or _NO_JOB_METADATA
    ours = {**flow_labels(flow), LABEL_STEP: step.name, LABEL_ATTEMPT: str(job.attempt)}
    job_spec = template.spec.model_dump(by_alias=True, exclude_unset=True, mode="json")
    for key in _DROPPED_JOB_SPEC:
        job_spec.pop(key, None)
    pod_template = job_spec.setdefault("template", {})
    user_pod_meta = template.spec.template.metadata or _NO_POD_METADATA
    pod_meta: dict[str, Any] = {
        "labels": {**_labels(user_pod_meta.labels), **_labels(step_meta.labels), **ours}
    }
    if user_pod_meta.annotations:
        pod_meta["annotations"] = _annotations(user_pod_meta.annotations)
    pod_template["metadata"] = pod_meta
    pod_spec = pod_template.setdefault("spec", {})
    pod_spec.setdefault("restartPolicy", template.spec.template.spec.restart_policy)
    _add_environment(pod_spec, job.env)
    _rewrite_references(pod_spec, flow, spec)
    if job.items is not None:
        _fan_out(job_spec, len(job.items), step.parallelism, items_config_map_name(flow, job))
    if job.active_deadline_seconds is not None:
        job_spec["activeDeadlineSeconds"] = job.active_deadline_seconds
    flow_policy = spec.execution_policy.pod_failure_policy
    if "podFailurePolicy" not in job_spec and flow_policy is not None:
        job_spec["podFailurePolicy"] = flow_policy.model_dump(
            by_alias=True, exclude_none=True, mode="json"
        )
    if suspend:
        job_spec["suspend"] = True
    metadata: dict[str, Any] = {
        "name": job.name,
        "namespace": flow.namespace,
        "labels": {**_labels(job_meta.labels), **_labels(step_meta.labels), **ours},
    }
    annotations = {**_annotations(job_meta.annotations), **_annotations(step_meta.annotations)}
    if annotations:
        metadata["annotations"] = annotations
    return {"apiVersion": "batch/v1", "kind": "Job", "metadata": metadata, "spec": job_spec}


def items_config_map_name(flow: FlowIdentity, job: JobToCreate) -> str:
    return items_name(flow.name, flow.uid, job.step.name, items_digest(job.items or ()))


def render_items(flow: FlowIdentity, job: JobToCreate) -> dict[str, Any]:
    """The immutable ConfigMap that holds a fan-out attempt's items, key ``i`` for index i."""
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {
            "name": items_config_map_name(flow, job),
            "namespace": flow.namespace,
            "labels": {**flow_labels(flow), LABEL_STEP: job.step.name},
        },
        "immutable": True,
        "data": {str(index): text for index, text in enumerate(job.items or ())},
    }


def _fan_out(job_spec: dict[str, Any], count: int, parallelism: int | None, items: str) -> None:
    """One completion per item, ``parallelism`` (the step's, else the template's, else all)
    at once; every container sees the items at ``ITEMS_PATH``."""
    job_spec["completionMode"] = "Indexed"
    job_spec["completions"] = count
    if parallelism is not None or not isinstance(job_spec.get("parallelism"), int):
        job_spec["parallelism"] = min(parallelism or count, count)
    pod_spec = job_spec["template"]["spec"]
    volume = {"name": ITEMS_VOLUME, "configMap": {"name": items}}
    pod_spec["volumes"] = [*_list(pod_spec.get("volumes")), volume]
    mount = {"name": ITEMS_VOLUME, "mountPath": ITEMS_PATH, "readOnly": True}
    for group in ("initContainers", "containers"):
        for container in _dicts(pod_spec.get(group)):
            container["volumeMounts"] = [*_list(container.get("volumeMounts")), mount]


def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def _labels(labels: dict[str, str]) -> dict[str, str]:
    """A template's labels less the reserved ones (validation refuses them; never passed on)."""
    return {k: v for k, v in labels.items() if reserved_label(k) is None}


def _annotations(annotations: dict[str, str]) -> dict[str, str]:
    return {k: v for k, v in annotations.items() if reserved_annotation(k) is None}


def render_resources(flow: FlowIdentity, spec: JobFlowSpec) -> list[dict[str, Any]]:
    """The flow's ConfigMaps and PVCs, named ``<flow>-<name>``."""
    templates = spec.resource_templates
    if templates is None:
        return []
    rendered = []
    items: list[ConfigMapTemplate | VolumeClaimTemplate] = [
        *templates.config_map_templates,
        *templates.volume_claim_templates,
    ]
    for template in items:
        body = template.model_dump(by_alias=True, exclude_none=True, mode="json")
        body.pop("metadata")
        metadata: dict[str, Any] = {
            "name": resource_name(flow.name, template.metadata.name),
            "namespace": flow.namespace,
            "labels": {
                **_labels(template.metadata.labels),
                **flow_labels(flow),
                LABEL_RESOURCE: template.metadata.name,
            },
        }
        if template.metadata.annotations:
            metadata["annotations"] = _annotations(template.metadata.annotations)
        body.pop("apiVersion", None)
        body.pop("kind", None)
        rendered.append(
            {"apiVersion": template.api_version, "kind": template.kind, "metadata": metadata} | body
        )
    return rendered


def reemit(observed: ObservedChild, suspend: bool | None = None) -> Desired:
    """An observed child as last applied; with ``suspend`` set, a Job with that suspend value.

    A child whose last-applied record is missing, or describes another object, is
    re-emitted as observed, less the fields the server owns.
    """
    if observed.applied is None:
        return _with_suspend(_observed_as_desired(observed.child), suspend)
    # Resuming only undoes a suspension we applied; one made by anything else is left alone.
    if suspend is None or observed.applied_suspend == suspend:
        return observed.applied
    current: dict[str, Any] = msgspec.json.decode(observed.applied)
    return _with_suspend(current, suspend)


def _with_suspend(obj: dict[str, Any], suspend: bool | None) -> dict[str, Any]:
    if suspend is None:
        return obj
    spec = obj.setdefault("spec", {})
    spec["suspend"] = suspend
    return obj


def _observed_as_desired(child: Child) -> dict[str, Any]:
    obj: dict[str, Any] = msgspec.json.decode(child.raw)
    obj.pop("status", None)
    metadata = obj.get("metadata") or {}
    obj["metadata"] = {k: metadata[k] for k in _KEPT_CHILD_METADATA if k in metadata}
    annotations = obj["metadata"].get("annotations")
    if isinstance(annotations, dict):
        annotations.pop(ANNOTATION_LAST_APPLIED, None)
        if not annotations:
            obj["metadata"].pop("annotations")
    return obj


def _add_environment(pod_spec: dict[str, Any], env: tuple[dict[str, Any], ...]) -> None:
    """The step's inputs in every container's environment, in place of variables of the
    same names."""
    if not env:
        return
    names = {var["name"] for var in env}
    for container in _dicts(pod_spec.get("containers")):
        own = [v for v in _dicts(container.get("env")) if v.get("name") not in names]
        container["env"] = [*own, *(dict(var) for var in env)]


def _rewrite_references(pod_spec: dict[str, Any], flow: FlowIdentity, spec: JobFlowSpec) -> None:
    """Point short names of resource templates at the flow's own copies."""
    templates = spec.resource_templates
    if templates is None:
        return
    short_names = {
        "claimName": {t.metadata.name for t in templates.volume_claim_templates},
        "name": {t.metadata.name for t in templates.config_map_templates},
    }
    for ref, key in _resource_references(pod_spec):
        if ref.get(key) in short_names[key]:
            ref[key] = resource_name(flow.name, ref[key])


def _resource_references(pod_spec: dict[str, Any]) -> Iterator[tuple[dict[str, Any], str]]:
    """Every place a pod spec names a PVC (``claimName``) or a ConfigMap (``name``)."""
    for volume in _dicts(pod_spec.get("volumes")):
        yield from _reference(volume.get("persistentVolumeClaim"), "claimName")
        yield from _reference(volume.get("configMap"), "name")
        for source in _dicts(_dict(volume.get("projected")).get("sources")):
            yield from _reference(source.get("configMap"), "name")
    for group in ("initContainers", "containers", "ephemeralContainers"):
        for container in _dicts(pod_spec.get(group)):
            for env in _dicts(container.get("env")):
                yield from _reference(_dict(env.get("valueFrom")).get("configMapKeyRef"), "name")
            for source in _dicts(container.get("envFrom")):
                yield from _reference(source.get("configMapRef"), "name")


def _reference(value: Any, key: str) -> Iterator[tuple[dict[str, Any], str]]:
    if isinstance(value, dict):
        yield value, key


def _dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _dicts(value: Any) -> Iterator[dict[str, Any]]:
    """The objects of a list in a user's pod spec, which may hold anything."""
    if isinstance(value, list):
        yield from (item for item in value if isinstance(item, dict))
