"""The `winnow run` config: inputs, output, engine and stages, read by the shared YAML loader (`yaml_config`)."""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass, field
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from winnow.pipeline.registry import READERS, STAGES, PluginError
from winnow.pipeline.stage import Stage, StageParams
from winnow.pipeline.yaml_config import ConfigError, Params, apply_overrides, read_yaml_mapping, validate
from winnow.pipeline.yaml_config import parse_set  # noqa: F401 (the commands import it from here)

TOP_LEVEL_KEYS = ("inputs", "output", "params", "engine", "stages", "description")


class EngineConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    # auto: Ray, except that a run of a single unit with no cluster address runs in-process (starting Ray and
    # its workers costs more CPU than one unit can win back); ray: always Ray; local: in-process, one unit at a time
    executor: Literal["auto", "ray", "local"] = "auto"
    address: str | None = None  # Ray cluster address; RAY_ADDRESS also works
    num_cpus: int | None = Field(None, ge=1)  # for an embedded Ray; default: all cores
    object_store_memory_mb: int | None = None  # for an embedded Ray; default: Ray's
    max_in_flight: int | None = Field(None, ge=1)  # units running or queued at once (backpressure); default 2 × CPUs
    batch_size: int = Field(1000, ge=1)  # rows per batch through the stages
    keep_rejected_text: bool = False  # store dropped documents' text in rejected/
    memory_budget_mb: int = Field(2048, ge=1)  # for global stages that can spill (dedup)
    files_per_unit: int | None = Field(None, ge=1)  # input files per unit; default: the reader's (1, PDFs 64)
    split_files: bool = True  # few large gzip WARC/WET/WAT files: read each in byte spans, one unit per span


@dataclass
class InputSpec:
    path: str
    format: str = "auto"
    options: dict[str, Any] = field(default_factory=dict)
    crawl: dict[str, Any] | None = None  # a Common Crawl source (pipeline.commoncrawl): crawl, kind, segments, ...


@dataclass
class StageSpec:
    name: str
    params: StageParams

    def build(self) -> Stage:
        return STAGES[self.name](self.params)


@dataclass
class PipelineConfig:
    inputs: list[InputSpec]
    output: str
    stages: list[StageSpec]
    engine: EngineConfig
    params: dict[str, Any]
    source_path: str | None = None

    def public_dict(self) -> dict[str, Any]:
        """`to_dict` with credentials removed from every path: what stats.json and the report show."""
        from winnow.pipeline.storage import redact

        d = self.to_dict()
        d["inputs"] = [{**i, "path": redact(i["path"])} for i in d["inputs"]]
        d["output"] = redact(d["output"])
        return d

    def to_dict(self) -> dict[str, Any]:
        """A plain, JSON-able form: what workers rebuild the pipeline from, and what the run hash covers."""
        return {
            "inputs": [{"path": i.path, **(i.crawl or {"format": i.format}), **i.options} for i in self.inputs],
            "output": self.output,
            "engine": self.engine.model_dump(),
            "stages": [{"name": s.name, **s.params.model_dump(mode="json")} for s in self.stages],
        }

    def fingerprint(self) -> str:
        """Hash of what determines the output bytes (not where the output goes, nor how many CPUs)."""
        d = self.to_dict()
        d.pop("output")
        engine = d.pop("engine")
        d["batch_size"] = engine["batch_size"]
        d["keep_rejected_text"] = engine["keep_rejected_text"]
        if engine.get("files_per_unit"):  # which files share a unit decides the unit keys a resume relies on
            d["files_per_unit"] = engine["files_per_unit"]
        if not engine.get("split_files", True):
            d["split_files"] = False
        return hashlib.sha256(json.dumps(d, sort_keys=True, default=str).encode()).hexdigest()[:16]


def _crawl_entry(entry: dict[str, Any], where: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """`{crawl: CC-MAIN-..., kind, segments, max_files, base}` → a path/format entry plus the crawl selection."""
    from winnow.pipeline.commoncrawl import DEFAULT_BASE, CrawlSource

    entry = dict(entry)
    crawl = {k: entry.pop(k) for k in ("crawl", "kind", "segments", "max_files", "base") if k in entry}
    crawl.setdefault("kind", "warc")
    crawl.setdefault("base", DEFAULT_BASE)
    try:
        source = CrawlSource(**{**crawl, "segments": tuple(crawl.get("segments") or ())})
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"{where}: {exc}") from None
    entry.pop("path", None)
    entry.pop("format", None)
    return {"path": source.listing_url, "format": source.kind, **entry}, crawl


def load_config(path: str | None = None, **kwargs: Any) -> PipelineConfig:
    """Read, substitute and validate a config. Every mistake raises ConfigError with a readable message."""
    try:
        return _load_config(path, **kwargs)
    except PluginError as exc:  # a stage's module, or a WINNOW_PLUGINS module, that cannot be imported
        raise ConfigError(str(exc)) from None


def _load_config(
    path: str | None = None,
    *,
    text: str | None = None,
    inputs: list[str] | None = None,
    output: str | None = None,
    overrides: dict[str, Any] | None = None,
    address: str | None = None,
    executor: str | None = None,
) -> PipelineConfig:
    raw = read_yaml_mapping(path, text, TOP_LEVEL_KEYS)
    params = apply_overrides(raw, path, overrides)
    unknown = sorted(set(raw) - set(TOP_LEVEL_KEYS))  # after --set, which may name one (`--set foo.bar=1`)
    if unknown:
        raise ConfigError(f"unknown top-level key {unknown[0]!r}; allowed keys: {', '.join(TOP_LEVEL_KEYS)}")
    specs = _input_specs(raw, params, inputs)
    out = _output_dir(raw, params, output)
    engine = _engine_config(raw, params, address, executor)
    stages = _stage_specs(raw, params)
    _check_columns(specs, stages)
    _refuse_duplicate_stages(stages)
    return PipelineConfig(inputs=specs, output=out, stages=stages, engine=engine, params=params.values,
                          source_path=path)


def _input_specs(raw: dict[str, Any], params: Params, inputs: list[str] | None) -> list[InputSpec]:
    # --input replaces the config's inputs before substitution, so an unused ${demo} is never built.
    raw_inputs = [{"path": p} for p in inputs] if inputs else raw.get("inputs")
    if not raw_inputs:
        raise ConfigError("inputs: no inputs given; list paths or globs under inputs: or pass --input")
    if not isinstance(raw_inputs, list):
        raise ConfigError("inputs: expected a list of paths or {path: ..., format: ...} entries")
    return [_input_spec(entry, params, f"inputs[{i}]") for i, entry in enumerate(raw_inputs)]


def _input_spec(entry: Any, params: Params, where: str) -> InputSpec:
    """One `inputs:` entry (a path, a {path, format, <reader options>} mapping or a crawl) → its InputSpec."""
    entry = params.substitute(entry, where)
    if isinstance(entry, str):
        entry = {"path": entry}
    crawl = None
    if isinstance(entry, dict) and "crawl" in entry:
        entry, crawl = _crawl_entry(entry, where)
    if not isinstance(entry, dict) or not isinstance(entry.get("path"), str):
        raise ConfigError(f"{where}: expected a path string or a mapping with a 'path' key")
    entry = dict(entry)
    path_value, fmt = entry.pop("path"), entry.pop("format", "auto")
    if fmt != "auto" and fmt not in READERS:
        raise ConfigError(f"{where}.format: unknown format {fmt!r}; allowed: auto, {', '.join(sorted(READERS))}")
    if fmt != "auto":
        validate(READERS[fmt].Params, entry, f"{where} ({fmt} reader)")
    return InputSpec(path=os.path.expanduser(path_value), format=fmt, options=entry, crawl=crawl)


def _output_dir(raw: dict[str, Any], params: Params, output: str | None) -> str:
    out = output or params.substitute(raw.get("output"), "output")
    if not out or not isinstance(out, str):
        raise ConfigError("output: no output directory; set output: or pass --output")
    return os.path.expanduser(out)  # as input paths are: `output: ~/runs/x` is not a folder named "~"


def _engine_config(raw: dict[str, Any], params: Params, address: str | None, executor: str | None) -> EngineConfig:
    engine_raw = params.substitute(dict(raw.get("engine") or {}), "engine")
    # --address and --executor win over the config, and are validated with it.
    if address:
        engine_raw["address"] = address
    if executor:
        engine_raw["executor"] = executor
    return validate(EngineConfig, engine_raw, "engine")


def _stage_specs(raw: dict[str, Any], params: Params) -> list[StageSpec]:
    raw_stages = raw.get("stages") or []
    if not isinstance(raw_stages, list):
        raise ConfigError("stages: expected a list of {name: ..., <params>} entries")
    return [_stage_spec(entry, params, f"stages[{i}]") for i, entry in enumerate(raw_stages)]


def _stage_spec(entry: Any, params: Params, where: str) -> StageSpec:
    if not isinstance(entry, dict) or "name" not in entry:
        raise ConfigError(f"{where}: expected a mapping with a 'name' key")
    entry = params.substitute(dict(entry), where)
    name = entry.pop("name")
    if name not in STAGES:
        raise ConfigError(f"{where}: unknown stage {name!r}; registered stages: {', '.join(sorted(STAGES))}")
    return StageSpec(name=name, params=validate(STAGES[name].Params, entry, f"{where} ({name})"))


def _refuse_duplicate_stages(stages: list[StageSpec]) -> None:
    names = [s.name for s in stages]
    dup = next((n for n in names if names.count(n) > 1), None)
    if dup:
        raise ConfigError(f"stages: stage {dup!r} appears twice; stage names label the funnel and must be unique")


def _input_columns(specs: list[InputSpec]) -> set[str] | None:
    """Columns every input brings, where that can be told cheaply (local files; Parquet by its footer).

    None when it cannot (remote or unmatched inputs): the check is then left to the run, which fails the
    rows of a stage whose column is missing."""
    import pyarrow.parquet as pq

    from winnow.pipeline import schema, storage

    columns = set(schema.BASE_COLUMNS)
    for spec in specs:
        if spec.crawl or storage.is_remote(spec.path) or spec.path.startswith(("http://", "https://")):
            return None
        try:
            first = storage.expand([spec.path])[0]
        except (storage.InputError, OSError):
            return None
        if first.endswith(".parquet"):
            try:
                columns |= set(pq.read_schema(first).names)
            except (OSError, ValueError):
                return None
    return columns


def _check_columns(specs: list[InputSpec], stages: list[StageSpec]) -> None:
    """Refuse a stage that reads a column no input carries and no earlier stage adds (a typo in score_column)."""
    built = [spec.build() for spec in stages]
    if not any(stage.needs_columns() for stage in built):
        return
    available = _input_columns(specs)
    if available is None:
        return
    for i, (spec, stage) in enumerate(zip(stages, built)):
        missing = sorted(stage.needs_columns() - available)
        if missing:
            have = ", ".join(sorted(c for c in available if c.startswith("score_"))) or "none"
            raise ConfigError(
                f"stages[{i}] ({spec.name}): reads column {missing[0]!r}, which neither the input nor an earlier "
                f"stage provides (score columns available: {have})"
            )
        available |= set(stage.output_columns())
