"""`winnow export`: tokenize curated documents and write weighted, shuffled token shards with a manifest."""

from __future__ import annotations

import logging
from typing import Optional

from winnow.pipeline.cli.app import app
from winnow.pipeline.cli.common import (
    config_argument, config_path, console, fail, output_option, overwrite_option, quiet_option, set_option,
)


@app.command()
def export(
    config: Optional[str] = config_argument(
        "Export YAML or a bundled recipe's name; default: the `export` recipe (the demo's output)."
    ),
    output: Optional[str] = output_option(),
    set_: list[str] = set_option("A param NAME=VALUE (e.g. weights=FILE), or any key by its path a.b=VALUE; repeatable."),
    overwrite: bool = overwrite_option("export"),
    quiet: bool = quiet_option(),
) -> None:
    """Export Megatron (.bin/.idx) and numpy token shards mixed by weights.yaml, plus manifest.json."""
    from winnow.pipeline.config import ConfigError, parse_set
    from winnow.pipeline.export import ExportError, load_export_config, run_export
    from winnow.pipeline.storage import InputError
    from winnow.pipeline.tokens.tokenizer import TokenizerError

    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    path = config_path(config, "export")
    try:
        cfg = load_export_config(path, output=output, overrides=parse_set(set_))
        manifest = run_export(cfg, overwrite=overwrite, say=(lambda m: None) if quiet else console.print)
    except (ConfigError, ExportError, InputError, TokenizerError) as exc:  # bad input: one line, never a traceback
        fail(f"{path}: {exc}")
    if not quiet:
        for dom, d in manifest["domains"].items():
            console.print(
                f"  {dom:<12} weight {d['weight']:.3f}  {d['tokens']:>12,} tokens  {d['documents']:>8,} docs  "
                f"{d['epochs']:.2f} epochs"
            )
        console.print(
            f"{manifest['total_tokens']:,} tokens in {len(manifest['shards'])} shard(s) → {cfg.output}/manifest.json"
        )
