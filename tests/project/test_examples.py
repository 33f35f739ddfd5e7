"""Every example in examples/ is a JobFlow that the cluster and the hooks accept.

Each example must parse, validate against the pydantic models and the cross-field rules
(``zen_flow.spec.validation``), and validate against the CRD's openAPIV3Schema as the API server
would at ``kubectl apply`` (``zen_flow.tools.crdschema``: types, required fields, unknown fields,
enums, ranges, patterns, list types and the CEL rules of the CRD).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml
from click.testing import CliRunner

from zen_flow.api.group import API_VERSION, KIND, VERSION
from zen_flow.api.labels import ANNOTATION_SUSPENDED
from zen_flow.api.spec import BackoffType, JobFlowSpec
from zen_flow.spec.templates import resolved_template
from zen_flow.tools import cli
from zen_flow.tools.crdschema import object_errors, version_schema
from zen_flow.tools.doccheck.examples import SimulationClaim, simulation_claims

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "examples"
CRD_FILE = ROOT / "crds" / "workflow.zen.io_jobflows.yaml"
EXPECTED = ["linear-flow", "dag-flow", "retry-flow", "when-flow", "suspend-flow"]
EXAMPLE_FILES = sorted(EXAMPLES.glob("*.yaml"))


def load(path: Path) -> dict[str, Any]:
    documents = list(yaml.safe_load_all(path.read_text()))
    assert len(documents) == 1, f"{path.name}: one JobFlow per file"
    document = documents[0]
    assert isinstance(document, dict), f"{path.name}: not a YAML mapping"
    return document


def spec_of(name: str) -> JobFlowSpec:
    return JobFlowSpec.model_validate(load(EXAMPLES / f"{name}.yaml")["spec"])


# --- the CRD -----------------------------------------------------------------------------------


def crd_schema() -> dict[str, Any]:
    if not CRD_FILE.exists():
        pytest.fail(f"{CRD_FILE.relative_to(ROOT)} is missing: run `make crd`")
    return version_schema(yaml.safe_load(CRD_FILE.read_text()), VERSION)


# --- the examples ----------------------------------------------------------------------------


def test_every_expected_example_exists() -> None:
    assert [p.stem for p in EXAMPLE_FILES if p.stem in EXPECTED] == sorted(EXPECTED)


@pytest.mark.parametrize("path", EXAMPLE_FILES, ids=lambda p: p.name)
def test_example_is_a_jobflow_named_after_its_file(path: Path) -> None:
    document = load(path)
    assert document["apiVersion"] == API_VERSION
    assert document["kind"] == KIND
    assert document["metadata"]["name"] == path.stem
    assert "namespace" not in document["metadata"], "examples go to the current namespace"
    assert set(document) == {"apiVersion", "kind", "metadata", "spec"}


@pytest.mark.parametrize("path", EXAMPLE_FILES, ids=lambda p: p.name)
def test_example_validates_against_the_models(path: Path) -> None:
    JobFlowSpec.model_validate(load(path)["spec"])


@pytest.mark.parametrize("path", EXAMPLE_FILES, ids=lambda p: p.name)
def test_example_passes_the_hooks_validation(path: Path) -> None:
    from zen_flow.spec.validation import validate_spec

    spec = JobFlowSpec.model_validate(load(path)["spec"])
    assert [str(problem) for problem in validate_spec(spec)] == []


@pytest.mark.parametrize("path", EXAMPLE_FILES, ids=lambda p: p.name)
def test_example_validates_against_the_crd_schema(path: Path) -> None:
    assert object_errors(load(path), crd_schema()) == []


@pytest.mark.parametrize("path", EXAMPLE_FILES, ids=lambda p: p.name)
def test_example_images_are_pinned(path: Path) -> None:
    spec = JobFlowSpec.model_validate(load(path)["spec"])
    # Named templates as each step runs them, placeholders substituted.
    templates = [
        (s.name, resolved_template(spec, s))
        for s in spec.all_steps
        if s.template is not None or s.template_ref is not None
    ]
    for owner, template in templates:
        for container in template.spec.template.spec.containers:
            name, _, tag = container.image.rpartition(":")
            assert name and tag and tag != "latest", f"{owner}: pin {container.image}"


def test_dag_example_fans_out_and_in_and_uses_resources_by_short_name() -> None:
    spec = spec_of("dag-flow")
    assert spec.resource_templates is not None
    config_maps = {t.metadata.name for t in spec.resource_templates.config_map_templates}
    claims = {t.metadata.name for t in spec.resource_templates.volume_claim_templates}
    assert config_maps and claims
    dependents: dict[str, list[str]] = {}
    for step in spec.steps:
        for dependency in step.dependencies:
            dependents.setdefault(dependency, []).append(step.name)
    assert any(len(children) > 1 for children in dependents.values()), "no fan-out"
    assert any(len(step.dependencies) > 1 for step in spec.steps), "no fan-in"
    pods = str([spec.template_of(s).spec.template.model_dump(by_alias=True) for s in spec.steps])
    for name in config_maps:
        assert f"'name': '{name}'" in pods, f"ConfigMap {name} is not used by short name"
    for name in claims:
        assert f"'claimName': '{name}'" in pods, f"PVC {name} is not used by short name"


def test_retry_example_shows_every_backoff_type_timeouts_and_flow_limits() -> None:
    spec = spec_of("retry-flow")
    types = {s.retry_policy.backoff.type for s in spec.steps if s.retry_policy is not None}
    assert types == set(BackoffType)
    assert all(step.timeout_seconds for step in spec.steps)
    assert "backoff_limit" in spec.execution_policy.model_fields_set
    assert spec.execution_policy.active_deadline_seconds is not None


def test_when_example_shows_operators_bracket_form_keywords_and_continue_on_failure() -> None:
    spec = spec_of("when-flow")
    conditions = " ".join(step.when or "" for step in spec.steps)
    for needed in ("steps.extract.phase == 'Succeeded'", "!", "&&", "||", "steps['load-db']"):
        assert needed in conditions, f"no {needed!r} in the when example"
    assert any(step.when in ("never", "false", "always", "true") for step in spec.steps)
    assert any(step.continue_on_failure for step in spec.steps)


def test_suspend_example_shows_the_annotation() -> None:
    text = (EXAMPLES / "suspend-flow.yaml").read_text()
    assert f"{ANNOTATION_SUSPENDED}=true" in text
    assert f"{ANNOTATION_SUSPENDED}-" in text


# --- what the API server refuses ---------------------------------------------------------------


def _broken(change: str) -> dict[str, Any]:
    document = load(EXAMPLES / "linear-flow.yaml")
    step = document["spec"]["steps"][1]
    if change == "no steps":
        document["spec"]["steps"] = []
    elif change == "unknown field":
        step["retries"] = 3
    elif change == "self dependency":
        step["dependencies"] = [step["name"]]
    elif change == "bad name":
        step["name"] = "Transform"
    return document


@pytest.mark.parametrize("change", ["no steps", "unknown field", "self dependency", "bad name"])
def test_crd_schema_rejects_a_broken_flow(change: str) -> None:
    """The validator really applies the CRD: what kubectl apply refuses, it refuses too."""
    assert object_errors(_broken(change), crd_schema()) != []


# --- what the comments promise a simulation shows ----------------------------------------------


def final_phases(output: str) -> tuple[dict[str, str], str | None]:
    """The STEP table and the flow's phase that ``zen-flow simulate`` prints last."""
    lines = output.splitlines()
    table = lines[lines.index(next(line for line in lines if line.startswith("STEP"))) + 1 :]
    steps = {line.split()[0]: line.split()[1] for line in table if line.strip()}
    flow = next((line.split()[2] for line in lines if line.startswith("flow ")), None)
    return steps, flow


@pytest.mark.parametrize("path", EXAMPLE_FILES, ids=lambda p: p.name)
def test_example_says_how_to_simulate_it_and_what_happens(path: Path) -> None:
    assert simulation_claims(path), f"{path.name}: no 'zen-flow simulate' with 'Expected:'"


CLAIMS = [claim for path in EXAMPLE_FILES for claim in simulation_claims(path)]


@pytest.mark.parametrize("claim", CLAIMS, ids=lambda c: c.where)
def test_simulating_an_example_as_its_comment_says_gives_what_it_expects(
    claim: SimulationClaim, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(ROOT)
    result = CliRunner().invoke(cli.main, claim.args)
    steps, flow = final_phases(result.stdout)
    assert steps == claim.steps, f"{claim.where}: {' '.join(claim.args)}"
    assert flow == claim.flow
    assert result.exit_code == {"Succeeded": 0, "Failed": 3}.get(flow or "", 4)
