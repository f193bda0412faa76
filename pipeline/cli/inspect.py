"""`winnow inspect`: print sample documents a run kept, dropped or failed."""

from __future__ import annotations

import json
from typing import Optional

import typer

from winnow.pipeline.cli.app import app
from winnow.pipeline.cli.common import console, fail


@app.command()
def inspect(
    out: str = typer.Argument(..., help="A run's output directory."),
    stage: Optional[str] = typer.Option(None, "--stage", help="Only rows dropped or failed by this stage."),
    reason: Optional[str] = typer.Option(None, "--reason", help="Only rows dropped for this reason (or failed with this error)."),
    n: int = typer.Option(5, "-n", min=0, help="How many rows to print."),
    chars: int = typer.Option(300, "--chars", min=0, help="Characters of text to show per document."),
) -> None:
    """Show the funnel and sample documents: kept by default, dropped/failed with --stage/--reason."""
    from winnow.pipeline import parquet_io, storage
    from winnow.pipeline.cli.common import funnel_table
    from winnow.pipeline.report import skipped_by_type, summary_line

    stats_path = storage.join(out, "stats.json")
    if not storage.exists(stats_path):
        fail(f"{out} has no stats.json: not a finished winnow run")
    try:
        stats = json.loads(storage.read_bytes(stats_path))
        stages = [s["name"] for s in stats["stages"]]
    except (ValueError, KeyError, TypeError) as exc:
        fail(f"{stats_path} is not a stats.json Winnow wrote ({type(exc).__name__}: {exc}); rerun to rewrite it")
    if stage is not None and stage not in stages:
        fail(f"no stage {stage!r} in this run; its stages: {', '.join(stages)}")
    known = {r for s in stats["stages"] for r in (*s["dropped"], *s["failed"], *s.get("skipped", {}))}
    if reason is not None and reason not in known:
        fail(f"no row of this run has reason or error {reason!r}; present: {', '.join(sorted(known)) or '(none)'}")
    if stage is None and reason is None:
        console.print(funnel_table(stats))
        console.print(summary_line(stats), highlight=False)
        folder, label = "documents", "kept"
    else:
        folder, label = "rejected", "dropped"
    files = storage.list_files(storage.join(out, folder), ".parquet")
    errs = storage.list_files(storage.join(out, "errors"), ".parquet") if folder == "rejected" else []
    tables, tables_err = _read_parts(files), _read_parts(errs)
    shown = 0
    for kind, group in ((label, tables), ("failed", tables_err)):
        for table in group:
            for row in table.to_pylist():
                if stage and row.get("stage") != stage:
                    continue
                if reason and reason not in (row.get("reason"), row.get("error")):
                    continue
                if shown >= n:
                    break
                shown += 1
                head = {k: v for k, v in row.items() if k not in ("text", "metadata") and v is not None}
                console.print(f"[bold]{kind}[/] {json.dumps(head, ensure_ascii=False, default=str)}", highlight=False)
                text = row.get("text")
                if text:
                    console.print("  " + text[:chars].replace("\n", "\n  "), highlight=False, markup=False)
    if shown == 0 and reason in skipped_by_type(stats):  # asked for non-documents: they are counted, not kept
        console.print(f"{reason}: {skipped_by_type(stats)[reason]:,} non-document records were skipped by the reader; "
                      "they are counted in stats.json, not kept as rows", highlight=False)
    elif shown == 0:
        console.print(f"no {label} rows match" + (f" stage={stage}" if stage else "") + (f" reason={reason}" if reason else ""))


def _read_parts(files: list[str]) -> list:
    from winnow.pipeline import parquet_io

    tables = []
    for f in files:
        try:
            tables.append(parquet_io.read_parquet(f))
        except (OSError, ValueError) as exc:  # pyarrow's ArrowInvalid is a ValueError
            fail(f"{f} cannot be read as Parquet ({exc})")
    return tables
