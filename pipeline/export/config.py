"""The `winnow export` config (its model; the shared YAML loader reads it) and the weights it mixes by."""

from __future__ import annotations

import math
import os
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field

from winnow.pipeline.yaml_config import ConfigError, load_model


class TokenizerConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    path: str  # a local tokenizer.json or a directory holding one; never a hub name
    train_vocab_size: int | None = Field(None, ge=257)  # train a byte-level BPE on the documents into `path` if absent
    eos_token: str | None = None  # default: tokenizer_config.json's eos_token, else <|endoftext|>, </s>, ...
    fast: bool = True  # tiktoken with the same ranks where its ids are identical


class ExportConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    description: str | None = None
    params: dict[str, Any] = {}
    documents: str | list[str]  # a `winnow run` output directory, or Parquet/JSONL paths and globs
    output: str
    tokenizer: TokenizerConfig
    weights: str | dict[str, float]  # weights.yaml from `winnow mix`, or domain: weight inline
    total_tokens: int | None = Field(None, gt=0)  # default: the largest budget that repeats no domain
    max_epochs: float = Field(4.0, ge=1.0, allow_inf_nan=False)  # most passes over a domain to meet its share
    seed: int = 0
    shard_tokens: int = Field(1 << 24, ge=16)  # tokens per shard; a document is cut only if longer than a shard
    formats: list[Literal["megatron", "numpy"]] = Field(default_factory=lambda: ["megatron", "numpy"], min_length=1)
    cache_dir: str | None = None  # token pools; default: token_cache/ beside the output directory

    def pool_cache(self) -> str:
        return self.cache_dir or os.path.join(os.path.dirname(os.path.abspath(self.output)), "token_cache")


def load_export_config(
    path: str | None = None, *, text: str | None = None, output: str | None = None, overrides: dict | None = None
) -> ExportConfig:
    """Read an export config; `--set` names a param or a dotted key."""
    return load_model(ExportConfig, path, text=text, output=output, overrides=overrides, where="export config")


def load_weights(weights: str | dict[str, Any]) -> tuple[dict[str, float], str | None]:
    """Domain → weight from an inline mapping or a weights.yaml (`{domain: w}` or `{weights: {domain: w}, ...}`)."""
    source = None
    if isinstance(weights, str):
        source = weights
        if not os.path.isfile(weights):
            raise ConfigError(
                f"weights: file {weights!r} does not exist (run `winnow mix` first, or give weights inline)"
            )
        with open(weights, encoding="utf-8") as f:
            try:
                weights = yaml.safe_load(f)
            except yaml.YAMLError as exc:
                raise ConfigError(f"weights: {source} is not valid YAML: {exc}") from None
        if isinstance(weights, dict) and isinstance(weights.get("weights"), dict):
            weights = weights["weights"]
    if not isinstance(weights, dict) or not weights:
        raise ConfigError(f"weights{f' ({source})' if source else ''}: expected a non-empty mapping of domain: weight")
    out: dict[str, float] = {}
    for dom, w in weights.items():
        if isinstance(w, bool) or not isinstance(w, (int, float)) or not math.isfinite(w) or w < 0:
            raise ConfigError(f"weights: {dom!r} has weight {w!r}; weights are finite numbers ≥ 0")
        out[str(dom)] = float(w)
    if sum(out.values()) <= 0:
        raise ConfigError("weights: all weights are 0; at least one domain needs a positive weight")
    return out, source
