"""The ``zen-flow`` command."""

from __future__ import annotations

import os
import sys

import click


@click.group()
def main() -> None:
    """zen-flow: DAGs of Kubernetes Jobs."""


@main.command()
def serve() -> None:
    """Serve the hooks with gunicorn (settings from ZEN_FLOW_* environment variables)."""
    gunicorn = os.path.join(os.path.dirname(sys.executable), "gunicorn")
    args = [gunicorn, "--config", "python:zen_flow.gunicorn_conf", "zen_flow.app:create_app()"]
    os.execv(gunicorn, args)
