"""What ``make`` says while it sets up the virtualenv: honest, and never silent for long."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.skipif(shutil.which("make") is None, reason="make is not installed")


def make(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    venv = tmp_path / "venv"
    return subprocess.run(
        ["make", "--no-print-directory", f"VENV={venv}", *args, f"{venv}/.installed"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_the_setup_says_what_it_installs_and_how_long_it_takes(tmp_path: Path) -> None:
    planned = make(tmp_path, "-n")
    packages = sum("==" in line for line in (ROOT / "requirements.lock").read_text().splitlines())
    assert planned.returncode == 0, planned.stderr
    [announce] = [line for line in planned.stdout.splitlines() if "Setting up" in line]
    assert f"{packages} pinned packages" in announce
    assert "about a minute" in announce


def test_a_python_too_old_is_one_line_saying_which_is_needed(tmp_path: Path) -> None:
    old = tmp_path / "python3.9"
    old.write_text("#!/bin/sh\nif [ \"$1\" = --version ]; then echo 'Python 3.9.2'; fi\nexit 1\n")
    old.chmod(0o755)
    done = make(tmp_path, f"PYTHON={old}")
    assert done.returncode != 0
    assert f"zen-flow needs Python 3.11 or later; '{old}' is Python 3.9.2." in done.stdout
    assert not (tmp_path / "venv").exists()
