"""`winnow recipes`: list the bundled recipes, or copy one out for editing."""

from __future__ import annotations

from typing import Optional

import typer

from winnow.pipeline.cli.app import app
from winnow.pipeline.cli.common import console, fail

recipes_app = typer.Typer(help="List the bundled recipes; `copy NAME [DIR]` writes one out for editing.",
                          invoke_without_command=True, no_args_is_help=False)
app.add_typer(recipes_app, name="recipes")


@recipes_app.callback()
def recipes(ctx: typer.Context) -> None:
    """List the bundled recipes (run one with `winnow run NAME`)."""
    if ctx.invoked_subcommand is not None:
        return
    from winnow.pipeline import recipes as bundled

    for name in bundled.names():
        console.print(f"{name:<14} {bundled.description(name)}", highlight=False, soft_wrap=True)


@recipes_app.command("copy")
def copy(
    name: str = typer.Argument(..., help="A recipe name from `winnow recipes`."),
    directory: Optional[str] = typer.Argument(None, help="Where to write NAME.yaml (default: the current directory)."),
    overwrite: bool = typer.Option(False, "--overwrite", help="Replace an existing file."),
) -> None:
    """Write a bundled recipe to DIR/NAME.yaml, to edit and run with `winnow run DIR/NAME.yaml`."""
    from winnow.pipeline import recipes as bundled

    try:
        target = bundled.copy(name, directory or ".", overwrite=overwrite)
    except bundled.RecipeError as exc:
        fail(str(exc))
    console.print(f"wrote {target}", highlight=False)
