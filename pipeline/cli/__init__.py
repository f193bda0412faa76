"""The `winnow` command: the one place that wires the engine, the stages and the jobs together."""

from __future__ import annotations

from winnow.pipeline.cli.app import app

# Each module adds its commands to `app`. Only commands that work are registered.
from winnow.pipeline.cli import run as _run  # noqa: F401
from winnow.pipeline.cli import inspect as _inspect  # noqa: F401
from winnow.pipeline.cli import plan as _plan  # noqa: F401
from winnow.pipeline.cli import mix as _mix  # noqa: F401
from winnow.pipeline.cli import export as _export  # noqa: F401
from winnow.pipeline.cli import train_tokenizer as _train_tokenizer  # noqa: F401
from winnow.pipeline.cli import train_classifier as _train_classifier  # noqa: F401
from winnow.pipeline.cli import recipes as _recipes  # noqa: F401
from winnow.pipeline.cli import ablate as _ablate  # noqa: F401


def main() -> None:
    app()
