"""The `winnow` command: the one place that wires the engine, the stages and the jobs together."""

from __future__ import annotations

import typer

app = typer.Typer(
    name="winnow",
    help="Curate pretraining data: run pipelines, inspect what they did.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

# Each module adds its commands to `app`. Only commands that work are registered.
from winnow.pipeline.cli import run as _run  # noqa: E402,F401
from winnow.pipeline.cli import inspect as _inspect  # noqa: E402,F401
from winnow.pipeline.cli import plan as _plan  # noqa: E402,F401
from winnow.pipeline.cli import mix as _mix  # noqa: E402,F401
from winnow.pipeline.cli import export as _export  # noqa: E402,F401
from winnow.pipeline.cli import train_tokenizer as _train_tokenizer  # noqa: E402,F401
from winnow.pipeline.cli import train_classifier as _train_classifier  # noqa: E402,F401
from winnow.pipeline.cli import recipes as _recipes  # noqa: E402,F401


def main() -> None:
    app()
