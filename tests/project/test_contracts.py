"""The import contract of pyproject.toml holds, and breaks when a layer reaches upward."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
LINT_IMPORTS = Path(sys.executable).parent / "lint-imports"

pytestmark = pytest.mark.slow


def lint_imports(package_parent: Path) -> subprocess.CompletedProcess[str]:
    """Check the contracts against the package found in ``package_parent``."""
    env = {**os.environ, "PYTHONPATH": str(package_parent)}
    return subprocess.run(
        [str(LINT_IMPORTS), "--config", str(ROOT / "pyproject.toml"), "--no-cache"],
        cwd=package_parent,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )


@pytest.fixture()
def copy_of_package(tmp_path: Path) -> Path:
    shutil.copytree(ROOT / "hooks" / "zen_flow", tmp_path / "zen_flow")
    return tmp_path


def test_the_package_keeps_its_contracts(copy_of_package: Path) -> None:
    result = lint_imports(copy_of_package)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "broken" not in result.stdout.replace("0 broken", "")


@pytest.mark.parametrize(
    ("module", "line", "contract"),
    [
        ("engine/sync.py", "import flask", "Pure engine, spec and api"),
        ("spec/dag.py", "import zen_flow.engine.sync", "Layers"),
        ("api/spec.py", "import zen_flow.spec.dag", "Layers"),
        ("engine/observe.py", "import zen_flow.server.metrics", "Layers"),
        ("server/app.py", "import zen_flow.tools.lint", "Layers"),
        ("gen/crd.py", "import zen_flow.engine.sync", "The generators depend on the API models"),
        ("tools/lint.py", "import zen_flow.gen.crd", "Nothing depends on the generators"),
    ],
)
def test_an_import_against_the_layers_breaks_the_contract(
    copy_of_package: Path, module: str, line: str, contract: str
) -> None:
    path = copy_of_package / "zen_flow" / module
    path.write_text(path.read_text() + f"\n{line}  # noqa\n")
    result = lint_imports(copy_of_package)
    assert result.returncode != 0
    broken = [row for row in result.stdout.splitlines() if row.rstrip().endswith("BROKEN")]
    assert any(row.startswith(contract) for row in broken), result.stdout
