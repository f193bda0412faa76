"""The `winnow` Typer app; each command module adds its command to it."""

from __future__ import annotations

import typer

app = typer.Typer(
    name="winnow",
    help="Curate pretraining data: run pipelines, inspect what they did.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
