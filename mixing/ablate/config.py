"""The `winnow ablate` config: variants, evaluation sets, a tier; an unknown key is refused, named in the message."""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from winnow.mixing.config import Positive, check_cache_dir
from winnow.pipeline.yaml_config import ConfigError, load_model


class AblateInputError(ValueError):
    """Input that cannot be ablated (unknown column, too few tokens, unknown benchmark format)."""


@dataclass(frozen=True)
class Tier:
    """A proxy size, budget and seed count that fit a machine; every key can still be overridden in the config."""

    proxy: dict[str, Any]
    tokens: int  # training tokens per proxy
    seeds: int
    lr: float  # the default rate; the second rate is lr * SMALL_LR_RATIO
    eval_items: int  # at most this many items (documents, questions) per evaluation slice
    eval_tokens: int  # at most this many scored tokens per held-out or reference slice
    device: str
    note: str = ""


SMALL_LR_RATIO = 0.5  # rankings can flip with the learning rate (DataDecide): a verdict must hold at both

# cpu-s: ~235k parameters with a 2k vocabulary, ~4 min for 60 proxies on two idle cores.
# cpu-m: ~4x the parameters (n_embd 128, 3 layers: ~0.87M) and 4x the tokens; ~16x the compute.
# gpu-*: variants x seeds packed into one process (mixing.proxy's batched trainer); not testable on CPU.
TIERS: dict[str, Tier] = {
    "cpu-s": Tier({"n_layer": 2, "n_head": 4, "n_embd": 64, "seq_len": 64, "batch_size": 16}, 200_000, 5, 1e-3,
                  100, 16_384, "cpu", "runs on 2 cores in minutes"),
    "cpu-m": Tier({"n_layer": 3, "n_head": 4, "n_embd": 128, "seq_len": 64, "batch_size": 16}, 800_000, 5, 1e-3,
                  200, 32_768, "cpu", "~4x parameters and tokens of cpu-s"),
    "gpu-s": Tier({"n_layer": 4, "n_head": 4, "n_embd": 256, "seq_len": 256, "batch_size": 32}, 20_000_000, 5, 1e-3,
                  1000, 262_144, "cuda", "variants x seeds packed on one GPU"),
    "gpu-m": Tier({"n_layer": 8, "n_head": 8, "n_embd": 512, "seq_len": 512, "batch_size": 32}, 200_000_000, 5, 6e-4,
                  2000, 1_048_576, "cuda", "~30M parameters, packed on one GPU"),
}


class _Section(BaseModel):
    # NaN passes the checks a value gets here, then fails training after proxies trained
    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)


class TopPercentConfig(_Section):
    column: str
    percent: float = Field(gt=0, le=100)  # keep this share of the documents that have a score, highest first


class VariantConfig(_Section):
    """A run's documents, optionally seen through a decision over their columns (nothing is recomputed).

    Decisions apply in this order: domains, then `where`, then `top_percent` over what is left."""

    name: str = Field(pattern=r"^[A-Za-z0-9_.+-]+$")
    documents: str | list[str]  # a `winnow run` output directory, or Parquet/JSONL files or globs
    where: str | None = None  # e.g. "score_fasttext_quality_v1 >= 0.7 and domain != 'code'"
    top_percent: TopPercentConfig | None = None
    include_domains: list[str] | None = None
    exclude_domains: list[str] | None = None
    unscored: Literal["drop", "keep"] = "drop"  # rows whose decision is null (no score): drop them or keep them

    def has_filter(self) -> bool:
        return self.where is not None or self.top_percent is not None


class ReferenceConfig(_Section):
    """User files whose likelihood is reported as "fit to NAME": fit to a corpus, not quality."""

    name: str | None = None
    path: str | list[str]

    def label(self) -> str:
        first = self.path if isinstance(self.path, str) else self.path[0]
        return self.name or os.path.basename(first.rstrip("/")).split(".")[0]


class BenchmarkConfig(_Section):
    """A multiple-choice (or cloze) benchmark file; the format is detected from its fields and refused if unknown."""

    name: str | None = None
    path: str
    delimiter: str = " "  # between the question and an answer
    max_items: int | None = Field(None, ge=1)  # default: the tier's eval_items

    def label(self) -> str:
        return self.name or os.path.basename(self.path).split(".")[0]


class HeldoutConfig(_Section):
    variant: str | None = None  # whose run provides held-out documents; default: the first variant
    fraction: float = Field(0.1, gt=0, lt=0.5)  # of its documents, by id hash; removed from every variant
    overlap: float = Field(0.5, gt=0, le=1)  # a training document sharing this share of 8-grams with one is removed


class ProxyOverrides(_Section):
    n_layer: int | None = Field(None, ge=1)
    n_head: int | None = Field(None, ge=1)
    n_embd: int | None = Field(None, ge=8)
    seq_len: int | None = Field(None, ge=8)
    batch_size: int | None = Field(None, ge=1)
    warmup_steps: int | None = Field(None, ge=0)
    weight_decay: float | None = Field(None, ge=0)


class StatsConfig(_Section):
    alpha: float = Field(0.05, gt=0, lt=0.5)  # family-wise error over pairs (Holm)
    bootstrap: int = Field(2000, ge=200)  # resamples over seeds and items
    power: float = Field(0.8, gt=0, lt=1)  # for the smallest effect a run could have seen
    snr_min: float = Field(1.0, ge=0)  # below this a metric is reported as too noisy to decide
    seed: int = 0


class AblateEngineConfig(_Section):
    executor: Literal["ray", "local"] = "ray"
    num_cpus: int | None = None
    object_store_memory_mb: int | None = 512
    device: Literal["auto", "cpu", "cuda"] = "auto"
    pack: int | None = Field(None, ge=1)  # proxies trained together; default 4 per CPU core, all of a rate on a GPU
    threads_per_proxy: int = Field(1, ge=1)


class AblateConfig(_Section):
    description: str | None = None
    params: dict[str, Any] = Field(default_factory=dict)
    output: str = "out/ablate"
    cache_dir: str | None = None  # default: OUTPUT/cache
    tier: Literal["cpu-s", "cpu-m", "gpu-s", "gpu-m"] = "cpu-s"
    tokens: int | Literal["auto"] | None = None  # None: the tier's; auto: the tier's, capped at the smallest variant
    seeds: int | None = Field(None, ge=2)
    learning_rates: list[Positive] | None = Field(None, min_length=2)
    allow_repetition: bool = False
    tokenizer: str | None = None  # a tokenizer.json; default: a byte-level BPE trained on the union of the variants
    vocab_size: int = Field(2048, ge=257)
    variants: list[VariantConfig] = Field(min_length=2)
    pairs: list[tuple[str, str]] | None = None  # default: every pair of variants
    control: str | None = None  # the variant split into two halves for the A/A control; default: the first
    heldout: HeldoutConfig = Field(default_factory=HeldoutConfig)
    references: list[ReferenceConfig] = Field(default_factory=list)
    benchmarks: list[BenchmarkConfig] = Field(default_factory=list)
    main: list[str] | None = None  # slices averaged into the main aggregate; default: every bits-per-byte slice
    proxy: ProxyOverrides = Field(default_factory=ProxyOverrides)
    stats: StatsConfig = Field(default_factory=StatsConfig)
    engine: AblateEngineConfig = Field(default_factory=AblateEngineConfig)

    @field_validator("cache_dir")
    @classmethod
    def _a_directory(cls, cache_dir: str | None) -> str | None:
        check_cache_dir(cache_dir)
        return cache_dir

    def check(self) -> AblateConfig:
        """Checks across keys (raised as one-line ConfigErrors, not as pydantic's dumps of the whole config)."""
        names = [v.name for v in self.variants]
        dup = next((n for n in names if names.count(n) > 1), None)
        if dup:
            raise ConfigError(f"variants: name {dup!r} is used twice; names label the verdicts and must be unique")
        for key, value in (("control", self.control), ("heldout.variant", self.heldout.variant)):
            if value is not None and value not in names:
                raise ConfigError(f"{key}: {value!r} is not a variant; variants: {', '.join(names)}")
        for a, b in self.pairs or []:
            if a not in names or b not in names or a == b:
                raise ConfigError(f"pairs: [{a}, {b}] must name two different variants; variants: {', '.join(names)}")
        if self.tokens is not None and self.tokens != "auto" and self.tokens <= 0:
            raise ConfigError(f"tokens: must be a positive number of tokens or auto (got {self.tokens})")
        if self.main:
            bad = [m for m in self.main if m.count(":") != 1]
            if bad:
                raise ConfigError(f"main: {bad[0]!r} is not a metric name like 'heldout/wiki:bpb' (see ablation.json)")
        return self

    def resolved_cache_dir(self) -> str:
        return self.cache_dir or os.path.join(self.output, "cache")

    def tier_spec(self) -> Tier:
        return TIERS[self.tier]

    def proxy_dict(self, vocab_size: int) -> dict[str, Any]:
        """The proxy recipe shared by every variant (the rate is set per run)."""
        base = {**self.tier_spec().proxy, **{k: v for k, v in self.proxy.model_dump().items() if v is not None}}
        return {**base, "vocab_size": vocab_size, "warmup_steps": base.get("warmup_steps", 20)}

    def rates(self) -> list[float]:
        t = self.tier_spec()
        return list(self.learning_rates or [t.lr, t.lr * SMALL_LR_RATIO])

    def num_seeds(self) -> int:
        return self.seeds or self.tier_spec().seeds

    def ordered_pairs(self) -> list[tuple[str, str]]:
        names = [v.name for v in self.variants]
        return [tuple(p) for p in self.pairs] if self.pairs else [
            (a, b) for i, a in enumerate(names) for b in names[i + 1:]]


def load_ablate_config(path: str | None = None, *, text: str | None = None, output: str | None = None,
                       overrides: dict[str, Any] | None = None) -> AblateConfig:
    """Read, substitute and validate an ablation config. `--set` names a param (`run=out/demo2`), a top-level key
    (`tier=cpu-m`) or a dotted key (`variants.q90.where=...`, variants by name)."""
    return load_model(AblateConfig, path, text=text, output=output, overrides=overrides, keys_by_name=True,
                      root="(config)").check()
