"""`winnow train-classifier`: train a fastText quality classifier from positive and negative documents."""

from __future__ import annotations

import logging
from typing import Any

import typer

from winnow.pipeline.cli.app import app
from winnow.pipeline.cli.common import console, fail

# Keys a --config file may hold besides the training options themselves.
PATH_KEYS = ("positive", "negative", "output")


def _options_from_file(path: str) -> dict[str, Any]:
    """Training options from YAML: a plain mapping of options, or a pipeline recipe's `params.train`."""
    import yaml

    try:
        with open(path, encoding="utf-8") as f:
            raw = yaml.safe_load(f) or {}
    except OSError as exc:
        fail(f"--config {path}: {exc}")
    except yaml.YAMLError as exc:
        fail(f"--config {path}: not valid YAML: {exc}")
    if not isinstance(raw, dict):
        fail(f"--config {path}: expected a mapping of training options")
    if "stages" in raw or "inputs" in raw:  # a pipeline recipe that carries its classifier's recipe
        raw = (raw.get("params") or {}).get("train")
        if not isinstance(raw, dict):
            fail(f"--config {path}: a pipeline config needs a params.train mapping to train from")
    return dict(raw)


def _as_list(value: Any, key: str) -> list[str]:
    """A path or a list of paths from the config file."""
    if value is None:
        return []
    if isinstance(value, str):
        return [value]
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return value
    fail(f"{key} in the config file must be a path or a list of paths, not {value!r}")


@app.command("train-classifier")
def train_classifier(
    positive: list[str] = typer.Option(
        [], "--positive", help="Required (here or in --config): high-quality documents (JSONL, Parquet, a run's output); repeatable."
    ),
    negative: list[str] = typer.Option([], "--negative", help="Required (here or in --config): other documents (e.g. random web); repeatable."),
    output: str | None = typer.Option(None, "--output", "-o", help="Required (here or in --config): directory for model.bin and card.json."),
    config: str | None = typer.Option(
        None, "--config", "-c", help="YAML with training options (or a pipeline recipe's params.train)."
    ),
    name: str | None = typer.Option(
        None, "--name", help="Scorer name with a version (column score_<name>); default fasttext_quality_v1."
    ),
    max_docs_per_class: int | None = typer.Option(
        None, "--max-docs-per-class", help="Sample at most this many per class (default 20000)."
    ),
    test_fraction: float | None = typer.Option(
        None, "--test-fraction", help="Held-out share for the metrics (default 0.2)."
    ),
    epoch: int | None = typer.Option(None, "--epoch", help="fastText epochs (default 10)."),
    dim: int | None = typer.Option(None, "--dim", help="fastText vector size (default 32)."),
    seed: int | None = typer.Option(None, "--seed", help="Seed for sampling, split and training (default 0)."),
) -> None:
    """Train a fastText quality classifier: balanced classes, a held-out split, precision/recall/ROC-AUC printed."""
    from winnow.filters.quality.model import ModelFileError
    from winnow.filters.quality.train import TrainConfig
    from winnow.filters.quality.train import train_classifier as train
    from winnow.pipeline.storage import InputError

    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    options = _options_from_file(config) if config else {}
    positives = positive or _as_list(options.get("positive"), "positive")
    negatives = negative or _as_list(options.get("negative"), "negative")
    out = output or options.get("output")
    if out is not None and not isinstance(out, str):
        fail(f"output in the config file must be a folder path, not {out!r}")
    options = {k: v for k, v in options.items() if k not in PATH_KEYS}
    flags = {"name": name, "max_docs_per_class": max_docs_per_class, "test_fraction": test_fraction,
             "epoch": epoch, "dim": dim, "seed": seed}
    options.update({k: v for k, v in flags.items() if v is not None})
    if not positives or not negatives:
        fail("give at least one --positive and one --negative input")
    if not out:
        fail("give --output DIR for model.bin and card.json")
    try:
        cfg = TrainConfig.from_dict(options)
    except (TypeError, ValueError) as exc:
        fail(f"{config or 'options'}: {exc}")
    try:
        card = train(positives, negatives, out, cfg, log_fn=lambda msg: console.print(msg, highlight=False))
    except (InputError, ValueError, ModelFileError, RuntimeError, OSError) as exc:
        fail(str(exc))
    console.print(
        f"model → {out}/model.bin, card → {out}/card.json; scores go to column {card['column']}", highlight=False
    )
