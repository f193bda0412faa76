"""`winnow ablate`: which data variant is better, by paired proxy models; writes ablation.json and a plot."""

from __future__ import annotations

from winnow.pipeline.cli.app import app
from winnow.pipeline.cli.common import JobOptions, console, job_command


@app.command()
@job_command("ablate", "ablation", "ablation.json",
             "Ablation YAML or a bundled recipe's name; default: the `ablate` recipe (the demo).",
             "A param or any config key by its path: KEY=VALUE or a.b=VALUE (tier=cpu-m); repeatable.")
def ablate(job: JobOptions) -> None:
    """Compare data variants with proxies at equal tokens; refuses bad input before training (exit code 2)."""
    from winnow.mixing.ablate.config import AblateInputError, load_ablate_config
    from winnow.mixing.ablate.job import run_ablation
    from winnow.mixing.ablate.report import console_lines

    cfg, rep = job.run(load_ablate_config, run_ablation, AblateInputError)
    for line in console_lines(rep):
        console.print(line, highlight=False, markup=False)
    console.print(f"→ {cfg.output}/ablation.json, differences.png ({rep['seconds']['total']:.0f}s)", highlight=False)
