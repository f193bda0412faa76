"""`winnow mix`: tune the domain mixture with a proxy swarm, a regression and an optimiser; write weights.yaml."""

from __future__ import annotations


import typer

from winnow.pipeline.cli.app import app
from winnow.pipeline.cli.common import config_path, console, fail, setup_logging


@app.command()
def mix(
    config: str | None = typer.Argument(None, help="Mixing YAML or a bundled recipe's name; default: the `mixing` recipe (the demo)."),
    output: str | None = typer.Option(None, "--output", "-o", help="Output directory (overrides the config)."),
    set_: list[str] = typer.Option([], "--set", help="Any config key by its path: KEY=VALUE or a.b=VALUE (e.g. swarm.num_mixtures=8); repeatable."),
    executor: str | None = typer.Option(None, "--executor", help="ray (default) or local (in-process)."),
    overwrite: bool = typer.Option(False, "--overwrite", help="Replace an output directory that holds another mix."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress output."),
    verbose: bool = typer.Option(False, "--verbose", "-v", help="Also informational logs (Winnow's and Ray's)."),
) -> None:
    """Fit mixture weights for a run's domains; writes OUTPUT/weights.yaml, report.json and plots."""
    from winnow.mixing.config import load_mix_config
    from winnow.mixing.data import MixInputError
    from winnow.mixing.job import run_mix
    from winnow.mixing.simplex import BoundsError
    from winnow.pipeline.config import ConfigError, parse_set
    from winnow.pipeline.executors import ClusterError
    from winnow.pipeline.storage import InputError
    from winnow.pipeline.tokenize import TokenizerError

    setup_logging(verbose)
    config = config_path(config, "mixing")
    try:
        overrides = parse_set(set_)
        if executor:
            overrides["engine.executor"] = executor
        cfg = load_mix_config(config, output=output, overrides=overrides)
    except ConfigError as exc:
        fail(f"{config}: {exc}")
    _refuse_other_mix(cfg, overwrite)
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
        if report.get("verdict"):
            console.print(verdict_line(report["verdict"]), highlight=False)
        console.print(f"→ {cfg.output}/weights.yaml, report.json")


def verdict_line(v: dict) -> str:
    """The validation verdict in one line: is the optimised mixture better than the best baseline beyond noise?"""
    if v["better_beyond_noise"]:
        word = "better than"
    elif v["at_least_as_good"]:
        word = "not distinguishable from"
    else:
        word = "worse than"
    return (f"verdict: optimised is {word} {v['best_baseline']} (margin {v['margin']:+.4f}, "
            f"noise bound {v['noise']:.4f}, {v['test']})")


def _refuse_other_mix(cfg, overwrite: bool) -> None:
    """Like `winnow run`: an output that holds a mix of another config is replaced only with --overwrite."""
    import json
    import os

    report = os.path.join(cfg.output, "report.json")
    if overwrite or not os.path.isfile(report):
        return
    with open(report, encoding="utf-8") as f:
        previous = json.load(f).get("config")
    ours = json.loads(cfg.model_dump_json())
    where = ("engine", "output")  # where and how it runs does not make it another mix
    if previous is not None and {k: v for k, v in previous.items() if k not in where} != {
        k: v for k, v in ours.items() if k not in where
    }:
        fail(f"{cfg.output} holds a mix of another config; pass --overwrite to replace it, or --output DIR")

