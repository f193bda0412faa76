"""Helpers shared by the CLI commands: error reporting and the funnel table."""

from __future__ import annotations

import sys
from typing import Any, NoReturn

from rich.console import Console
from rich.table import Table

# Pipes and CI logs get 140 columns instead of rich's 80, so reason names stay readable.
console = Console(stderr=False, width=None if sys.stdout.isatty() else 140)
err_console = Console(stderr=True)


def config_path(arg: str | None, default: str) -> str:
    """A config argument (a file, or a bundled recipe's name; None: the `default` recipe) → a file path."""
    from winnow.pipeline import recipes

    try:
        return recipes.resolve(arg or default)
    except recipes.RecipeError as exc:
        fail(str(exc))


def setup_logging(verbose: bool) -> None:
    """Warnings by default; -v shows Winnow's and Ray's informational messages (Ray's start-up notes too)."""
    import logging

    level = logging.INFO if verbose else logging.WARNING
    logging.basicConfig(level=level, format="%(levelname)s %(name)s: %(message)s")
    logging.getLogger("winnow").setLevel(level)


def fail(message: str, code: int = 2) -> NoReturn:
    err_console.print(f"[bold red]error:[/] {message}", highlight=False, soft_wrap=True)
    sys.exit(code)


def funnel_table(stats: dict[str, Any]) -> Table:
    table = Table(title="funnel", show_lines=False)
    for col in ("stage", "in", "kept", "skipped", "dropped", "failed", "MB in", "seconds"):
        left = col in ("stage", "skipped", "dropped", "failed")
        # Reasons fold onto several lines rather than being cut: they are what the table is for.
        table.add_column(col, justify="left" if left else "right", overflow="fold", no_wrap=not left)
    for s in stats["stages"]:
        dropped = "\n".join(f"{k}={v:,}" for k, v in s["dropped"].items()) or "-"
        failed = "\n".join(f"{k}={v:,}" for k, v in s["failed"].items()) or "-"
        skipped = "\n".join(f"{k}={v:,}" for k, v in s.get("skipped", {}).items()) or "-"
        table.add_row(
            s["name"], f"{s['in']:,}", f"{s['kept']:,}", skipped, dropped, failed, f"{s['bytes_in'] / 1e6:.2f}",
            f"{s['seconds'] + s.get('fit_seconds', 0):.2f}",
        )
    return table
