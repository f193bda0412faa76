"""`winnow run`: curate documents with a pipeline config (the embedded demo when no config is given)."""

from __future__ import annotations

from typing import Optional

import typer

from winnow.pipeline.cli.app import app
from winnow.pipeline.cli.common import (
    PIPELINE_SET_HELP, config_argument, config_path, console, fail, funnel_table, output_option, overwrite_option,
    quiet_option, set_option, setup_logging, verbose_option,
)


# The options shared with the other config-driven commands are declared in common. --input and --address are run's
# alone, and its --executor is its own: a pipeline's engine also has `auto` (the default), mix's and ablate's do not.
@app.command()
def run(
    config: Optional[str] = config_argument("Pipeline YAML or a bundled recipe's name (`winnow recipes`); default: the demo."),
    input: list[str] = typer.Option([], "--input", "-i", help="Input path or glob (local, s3://, https://); repeatable."),
    output: Optional[str] = output_option(),
    set_: list[str] = set_option(PIPELINE_SET_HELP),
    address: Optional[str] = typer.Option(None, "--address", help="Ray cluster address (default: RAY_ADDRESS or embedded)."),
    executor: Optional[str] = typer.Option(None, "--executor", help="auto (default: Ray only where running units side by side saves more than its start), ray, or local (in-process)."),
    overwrite: bool = overwrite_option("run"),
    quiet: bool = quiet_option("No progress or funnel table; the summary line stays."),
    verbose: bool = verbose_option(),
) -> None:
    """Run a curation pipeline; rerunning into the same output resumes where it stopped."""
    from winnow.pipeline.config import ConfigError, load_config, parse_set
    from winnow.pipeline.executors import ClusterError
    from winnow.pipeline.progress import Progress
    from winnow.pipeline.runner import RunError, run_pipeline
    from winnow.pipeline.storage import InputError

    setup_logging(verbose)
    path = config_path(config, "demo")
    try:
        cfg = load_config(path, inputs=input or None, output=output, overrides=parse_set(set_),
                          address=address, executor=executor)
    except ConfigError as exc:
        fail(f"{path}: {exc}")
    progress = Progress(enabled=not quiet)
    try:
        result = run_pipeline(cfg, overwrite=overwrite, progress=progress)
    except (InputError, RunError, ClusterError) as exc:
        progress.close()
        fail(str(exc))
    progress.close()
    stats = result.stats
    from winnow.pipeline.report import summary_line

    if not quiet:  # -q hides progress and the funnel table; the one-line summary and the output path stay
        console.print(funnel_table(stats))
    console.print(
        f"{summary_line(stats)}; {stats['wall_seconds']:.1f}s ({stats['units_resumed']} unit passes resumed)"
        f" → {cfg.output}", highlight=False,
    )
    if not result.balanced:
        fail("the funnel does not balance:\n  " + "\n  ".join(result.problems), code=1)
