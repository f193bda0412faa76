"""`winnow ablate`: which data variant is better, by paired proxy models; writes ablation.json and a plot."""

from __future__ import annotations

import typer
from winnow.pipeline.cli.app import app
from winnow.pipeline.cli.common import config_path, console, fail, setup_logging


@app.command()
def ablate(
    config: str | None = typer.Argument(
        None, help="Ablation YAML or a bundled recipe's name; default: the `ablate` recipe (the demo)."),
    output: str | None = typer.Option(None, "--output", "-o", help="Output directory (overrides the config)."),
    set_: list[str] = typer.Option(
        [], "--set", help="A param or any config key by its path: KEY=VALUE or a.b=VALUE (tier=cpu-m); repeatable."),
    executor: str | None = typer.Option(None, "--executor", help="ray (default) or local (in-process)."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress output."),
    verbose: bool = typer.Option(False, "--verbose", "-v", help="Also informational logs (Winnow's and Ray's)."),
) -> None:
    """Compare data variants with proxies at equal tokens; refuses bad input before training (exit code 2)."""
    from winnow.mixing.ablate.config import AblateInputError, load_ablate_config
    from winnow.mixing.ablate.job import run_ablation
    from winnow.mixing.ablate.report import console_lines
    from winnow.pipeline.config import ConfigError, parse_set
    from winnow.pipeline.executors import ClusterError
    from winnow.pipeline.storage import InputError
    from winnow.pipeline.tokenize import TokenizerError

    setup_logging(verbose)
    config = config_path(config, "ablate")
    try:
        overrides = parse_set(set_)
        if executor:
            overrides["engine.executor"] = executor
        cfg = load_ablate_config(config, output=output, overrides=overrides)
    except ConfigError as exc:
        fail(f"{config}: {exc}")
    say = (lambda s: None) if quiet else (lambda s: console.print(f"[dim]ablate:[/] {s}", highlight=False))
    try:
        rep = run_ablation(cfg, progress=say)
    except (ConfigError, AblateInputError, InputError, TokenizerError, ClusterError) as exc:
        fail(str(exc))
    for line in console_lines(rep):
        console.print(line, highlight=False, markup=False)
    console.print(f"→ {cfg.output}/ablation.json, differences.png ({rep['seconds']['total']:.0f}s)", highlight=False)

