"""Fixtures of the worker tests: the ML command line as a Typer app of its own."""

from __future__ import annotations

import pytest
import typer

from worker.cli import register


@pytest.fixture(scope="module")
def cli() -> typer.Typer:
    """The ``unilabel`` ML commands (pseudo-label, evaluate, model, ...) registered on a test app."""
    app = typer.Typer()

    @app.callback()
    def main() -> None:
        """unilabel (test app)."""

    register(app)
    return app
