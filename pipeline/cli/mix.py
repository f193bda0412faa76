"""`winnow mix`: tune the domain mixture with a proxy swarm, a regression and an optimiser; write weights.yaml."""

from __future__ import annotations


import typer

from winnow.pipeline.cli import app
from winnow.pipeline.cli.common import config_path, console, fail, setup_logging


@app.command()
def mix(
    config: str | None = typer.Argument(None, help="Mixing YAML or a bundled recipe's name; default: the `mixing` recipe (the demo)."),
    output: str | None = typer.Option(None, "--output", "-o", help="Output directory (overrides the config)."),
    set_: list[str] = typer.Option([], "--set", help="Override a config key: a.b=VALUE (e.g. swarm.num_mixtures=8)."),
    executor: str | None = typer.Option(None, "--executor", help="ray (default) or local (in-process)."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress output."),
    verbose: bool = typer.Option(False, "--verbose", "-v", help="Also informational logs (Winnow's and Ray's)."),
) -> None:
    """Fit mixture weights for a run's domains; writes OUTPUT/weights.yaml, report.json and plots."""
    from winnow.mixing.config import load_mix_config
    from winnow.mixing.data import MixInputError
    from winnow.mixing.job import run_mix
    from winnow.mixing.simplex import BoundsError
    from winnow.pipeline.config import ConfigError
    from winnow.pipeline.executors import ClusterError
    from winnow.pipeline.storage import InputError
    from winnow.pipeline.tokenize import TokenizerError

    setup_logging(verbose)
    config = config_path(config, "mixing")
    try:
        overrides = dict(_split(s) for s in set_)
        if executor:
            overrides["engine.executor"] = executor
        cfg = load_mix_config(config, output=output, overrides=overrides)
    except ConfigError as exc:
        fail(f"{config}: {exc}")
    say = (lambda s: None) if quiet else (lambda s: console.print(f"[dim]mix:[/] {s}", highlight=False))
    try:
        report = run_mix(cfg, progress=say)
    except (ConfigError, MixInputError, BoundsError, InputError, TokenizerError, ClusterError) as exc:
        fail(str(exc))
    if not quiet:
        v = report["validation_detail"]
        console.print(f"held-out Spearman {report['spearman_heldout']:.3f} ({report['regression']['model']}), "
                      f"{report['swarm']['mixtures']} proxies, {report['seconds']['total']:.0f}s")
        for name, s in v.items():
            console.print(f"  {name:<10} target loss {s['mean']:.4f} ± {s['std']:.4f}")
        console.print("weights: " + ", ".join(f"{d}={w:.3f}" for d, w in report["weights"].items()))
        console.print(f"→ {cfg.output}/weights.yaml, report.json")


def _split(item: str) -> tuple[str, object]:
    import yaml

    from winnow.pipeline.config import ConfigError

    if "=" not in item:
        raise ConfigError(f"--set {item!r}: expected KEY=VALUE")
    key, value = item.split("=", 1)
    return key, (yaml.safe_load(value) if value else "")
