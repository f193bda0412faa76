"""The `winnow mix` config: typed sections, unknown keys refused with a message that names the key."""

from __future__ import annotations

import os
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from winnow.pipeline.yaml_config import load_model


class _Section(BaseModel):
    # NaN passes every comparison a bound is checked with, then breaks sampling or training after proxies trained
    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)


Share = Annotated[float, Field(ge=0, le=1)]
Positive = Annotated[float, Field(gt=0)]


def check_cache_dir(path: str | None) -> None:
    """Refuse a cache_dir that is (or lies under) a file now, not when the first proxy's weights are written."""
    probe = os.path.abspath(path) if path else None
    while probe and not os.path.exists(probe):
        probe = os.path.dirname(probe) if os.path.dirname(probe) != probe else None
    if probe and not os.path.isdir(probe):
        raise ValueError(f"{path!r} is a file, not a directory" if probe == os.path.abspath(path)
                         else f"{path!r} lies under {probe!r}, a file, not a directory")


class TargetConfig(_Section):
    """An evaluation set: held-out documents of a domain (`domain:`) or user files (`path:`), never both."""

    name: str | None = None  # label in the report; default: the domain, or the file name
    domain: str | None = None
    path: str | list[str] | None = None  # JSONL/Parquet file(s) or a run output directory
    weight: float = Field(1.0, gt=0)  # its share of the objective (a weighted mean of target losses)

    @model_validator(mode="after")
    def _one_source(self) -> TargetConfig:
        if (self.domain is None) == (self.path is None):
            raise ValueError("a target needs exactly one of domain: (held-out documents) or path: (user files)")
        return self

    def label(self) -> str:
        if self.name:
            return self.name
        if self.domain:
            return self.domain
        first = self.path if isinstance(self.path, str) else self.path[0]
        return os.path.basename(first.rstrip("/")).split(".")[0]


class BoundsConfig(_Section):
    min: dict[str, Share] = Field(default_factory=dict)  # domain → least weight
    max: dict[str, Annotated[float, Field(ge=0)]] = Field(default_factory=dict)  # domain → most weight
    default_min: float = Field(0.0, ge=0, le=1)
    default_max: float = Field(1.0, ge=0, le=1)
    max_epochs: float = Field(4.0, gt=0)  # no domain is repeated more often than this within one proxy's budget


class SwarmConfig(_Section):
    # the first round of proxies; null: 8 per domain (the need grows about linearly with the domains); the
    # regression's cross-validation needs at least 3
    num_mixtures: int | None = Field(None, ge=3)
    adaptive: bool = True  # add rounds until the held-out Spearman reaches the target or stops improving
    round_mixtures: int | None = Field(None, ge=1)  # proxies per added round; null: 2 per domain
    max_mixtures: int | None = Field(None, ge=2)  # the budget of swarm proxies; null: 16 per domain
    target_spearman: float = Field(0.95, gt=0, le=1)  # no more rounds once the held-out Spearman reaches this
    # a round that raises the held-out Spearman by less ends the swarm if it is at what seed noise allows (or the
    # noise is unmeasured); negative: never
    min_gain: float = 0.01
    # the uniform mixture at this many seeds measures seed noise before the swarm grows; null: validation's seeds,
    # which then cost nothing extra (validation reads those very runs from the cache)
    noise_seeds: int | None = Field(None, ge=0)
    tokens_per_proxy: int = Field(300_000, gt=0)  # training tokens each proxy sees
    concentration: tuple[Positive, Positive] = (1.0, 30.0)  # Dirichlet total concentration, drawn log-uniformly per mixture
    prior_smoothing: float = Field(0.3, ge=0, le=1)  # the prior mixes the natural distribution with this much uniform
    seed: int = 0
    reuse_max_fraction: float = Field(0.5, ge=0, le=1)  # at most this share of the swarm from runs of other configs


class ProxySection(_Section):
    n_layer: int = Field(2, ge=1)
    n_head: int = Field(4, ge=1)
    n_embd: int = Field(64, ge=8)
    seq_len: int = Field(64, ge=8)
    batch_size: int = Field(16, ge=1)
    lr: float = Field(1e-3, gt=0)
    warmup_steps: int = Field(20, ge=0)
    weight_decay: float = Field(0.1, ge=0)
    eval_tokens: int = Field(16384, gt=0)
    interleave: Literal["even", "random"] = "even"  # even: each batch holds the mixture's proportions (less noise)


class RegressionConfig(_Section):
    model: Literal["auto", "gbm", "loglinear"] = "auto"  # auto: the one with the better held-out Spearman
    folds: int = Field(5, ge=2)


class OptimiserConfig(_Section):
    samples: int = Field(100_000, ge=100)  # random mixtures scored by the regression
    top_k: int = Field(100, ge=1)  # the optimum is the mean of the k best (smoother than the single best)
    seed: int = 0


class ValidationConfig(_Section):
    seeds: int = Field(5, ge=1)  # per mixture; the paired verdict needs about 5 to see a ~1 % win
    enabled: bool = True


class MixEngineConfig(_Section):
    executor: Literal["ray", "local"] = "ray"
    address: str | None = None
    num_cpus: int | None = None
    object_store_memory_mb: int | None = 512
    device: Literal["auto", "cpu", "cuda"] = "auto"  # auto: cuda when torch sees a GPU
    pack: int | None = None  # proxies trained together in one process; default 1 on CPU, 32 on a GPU
    threads_per_proxy: int = Field(1, ge=1)


class MixConfig(_Section):
    description: str | None = None
    documents: str | list[str] | None = None  # a `winnow run` output, or Parquet/JSONL files with a domain column
    sources: dict[str, str | list[str]] | None = None  # or explicit files per domain: {domain: file(s) or glob}
    output: str = "out/mix"
    cache_dir: str | None = None  # default: OUTPUT/cache
    domains: list[str] | None = None  # default: every domain in the documents
    tokenizer: str | None = None  # tokenizer.json; default: a byte-level BPE trained on the training documents
    vocab_size: int = Field(2048, ge=257)  # for the trained tokenizer
    heldout_fraction: float = Field(0.05, gt=0, lt=0.5)  # of every domain's documents, by id hash, for targets
    targets: list[TargetConfig] = Field(min_length=1)
    bounds: BoundsConfig = Field(default_factory=BoundsConfig)
    swarm: SwarmConfig = Field(default_factory=SwarmConfig)
    proxy: ProxySection = Field(default_factory=ProxySection)
    regression: RegressionConfig = Field(default_factory=RegressionConfig)
    optimiser: OptimiserConfig = Field(default_factory=OptimiserConfig)
    validation: ValidationConfig = Field(default_factory=ValidationConfig)
    engine: MixEngineConfig = Field(default_factory=MixEngineConfig)

    @model_validator(mode="after")
    def _one_corpus(self) -> MixConfig:
        if (self.documents is None) == (self.sources is None):
            raise ValueError("give exactly one of documents: (a run's output or files with a domain column) "
                             "or sources: (files per domain)")
        return self

    @field_validator("domains")
    @classmethod
    def _each_once(cls, domains: list[str] | None) -> list[str] | None:
        twice = sorted({d for d in domains or [] if domains.count(d) > 1})
        if twice:  # a repeated domain gets two weights, and the one written would not sum to 1 with the others
            raise ValueError(f"{', '.join(twice)} listed more than once; list each domain once")
        return domains

    @field_validator("cache_dir")
    @classmethod
    def _a_directory(cls, cache_dir: str | None) -> str | None:
        check_cache_dir(cache_dir)
        return cache_dir

    def resolved_cache_dir(self) -> str:
        return self.cache_dir or os.path.join(self.output, "cache")


def load_mix_config(path: str | None = None, *, text: str | None = None, output: str | None = None,
                    overrides: dict[str, Any] | None = None) -> MixConfig:
    """Read and validate a mixing config; a mix config has no params, so `--set` names a key (`swarm.num_mixtures`)."""
    return load_model(MixConfig, path, text=text, output=output, overrides=overrides, params=False,
                      keys_by_name=True, root="(config)")
