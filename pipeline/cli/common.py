"""Helpers shared by the CLI commands: error reporting and the funnel table."""

from __future__ import annotations

import sys
from typing import Any, NoReturn

from rich.console import Console
from rich.table import Table

console = Console(stderr=False)
err_console = Console(stderr=True)


def fail(message: str, code: int = 2) -> NoReturn:
    err_console.print(f"[bold red]error:[/] {message}", highlight=False, soft_wrap=True)
    sys.exit(code)


def funnel_table(stats: dict[str, Any]) -> Table:
    table = Table(title="funnel", show_lines=False)
    for col in ("stage", "in", "kept", "dropped", "failed", "MB in", "seconds"):
        table.add_column(col, justify="left" if col in ("stage", "dropped", "failed") else "right")
    for s in stats["stages"]:
        dropped = ", ".join(f"{k}={v}" for k, v in s["dropped"].items()) or "-"
        failed = ", ".join(f"{k}={v}" for k, v in s["failed"].items()) or "-"
        table.add_row(
            s["name"], f"{s['in']:,}", f"{s['kept']:,}", dropped, failed, f"{s['bytes_in'] / 1e6:.2f}",
            f"{s['seconds'] + s.get('fit_seconds', 0):.2f}",
        )
    return table
