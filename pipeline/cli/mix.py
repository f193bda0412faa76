"""`winnow mix`: tune the domain mixture with a proxy swarm, a regression and an optimiser; write weights.yaml."""

from __future__ import annotations

from winnow.pipeline.cli.app import app
from winnow.pipeline.cli.common import JobOptions, console, job_command


@app.command()
@job_command("mixing", "mix", "report.json",
             "Mixing YAML or a bundled recipe's name; default: the `mixing` recipe (the demo).",
             "Any config key by its path: KEY=VALUE or a.b=VALUE (e.g. swarm.num_mixtures=8); repeatable.")
def mix(job: JobOptions) -> None:
    """Fit mixture weights for a run's domains; writes OUTPUT/weights.yaml, report.json and plots."""
    from winnow.mixing.config import load_mix_config
    from winnow.mixing.data import MixInputError
    from winnow.mixing.job import run_mix
    from winnow.mixing.simplex import BoundsError

    cfg, report = job.run(load_mix_config, run_mix, MixInputError, BoundsError)
    if not job.quiet:
        v = report["validation_detail"]
        swarm = report["swarm"]
        console.print(f"held-out Spearman {report['spearman_heldout']:.3f} ({report['regression']['model']}), "
                      f"{swarm['mixtures']} proxies, {report['seconds']['total']:.0f}s; swarm stopped: "
                      f"{swarm['rounds']['stopped']}", highlight=False)
        if swarm.get("noise"):
            console.print(f"seed noise allows a held-out Spearman of about {swarm['noise']['spearman_ceiling']:.3f}",
                          highlight=False)
        if swarm.get("ranking"):
            console.print(swarm["ranking"], highlight=False)
        for name, s in v.items():
            console.print(f"  {name:<10} target loss {s['mean']:.4f} ± {s['std']:.4f}")
        console.print("weights: " + ", ".join(f"{d}={w:.3f}" for d, w in report["weights"].items()))
        if report.get("verdict"):
            console.print(verdict_line(report["verdict"]), highlight=False)
        console.print(f"→ {cfg.output}/weights.yaml, report.json")


def verdict_line(v: dict) -> str:
    """The validation verdict in one line: is the optimised mixture better than the best baseline beyond noise?"""
    if v["noise"] is None:
        return (f"verdict: cannot be judged (margin {v['margin']:+.4f} over {v['best_baseline']}, {v['test']}); "
                "set validation.seeds or swarm.noise_seeds to 2 or more")
    if v["better_beyond_noise"]:
        word = "better than"
    elif v["at_least_as_good"]:
        word = "not distinguishable from"
    else:
        word = "worse than"
    return (f"verdict: optimised is {word} {v['best_baseline']} (margin {v['margin']:+.4f}, "
            f"noise bound {v['noise']:.4f}, {v['test']})")
