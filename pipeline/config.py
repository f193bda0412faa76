"""Config loading: YAML → validated pipeline config, with `${param}` substitution and one clear message per mistake."""

from __future__ import annotations

import hashlib
import json
import os
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from winnow.pipeline.registry import READERS, STAGES, PluginError
from winnow.pipeline.stage import Stage, StageParams

TOP_LEVEL_KEYS = ("inputs", "output", "params", "engine", "stages", "description")
PARAM_RE = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")


class ConfigError(ValueError):
    """A config mistake, with a message that names the key and what is allowed."""


class EngineConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    # auto: Ray, except that a run of a single unit with no cluster address runs in-process (starting Ray and
    # its workers costs more CPU than one unit can win back); ray: always Ray; local: in-process, one unit at a time
    executor: Literal["auto", "ray", "local"] = "auto"
    address: str | None = None  # Ray cluster address; RAY_ADDRESS also works
    num_cpus: int | None = None  # for an embedded Ray; default: all cores
    object_store_memory_mb: int | None = None  # for an embedded Ray; default: Ray's
    max_in_flight: int | None = None  # units running or queued at once (backpressure); default 2 × CPUs
    batch_size: int = 1000  # rows per batch through the stages
    keep_rejected_text: bool = False  # store dropped documents' text in rejected/
    memory_budget_mb: int = 2048  # for global stages that can spill (dedup)
    files_per_unit: int | None = Field(None, ge=1)  # input files per unit; default: the reader's (1, PDFs 64)


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
        return hashlib.sha256(json.dumps(d, sort_keys=True, default=str).encode()).hexdigest()[:16]


def validation_message(exc: ValidationError, allowed: Callable[[tuple], str], where: str = "",
                       root: str = "(value)") -> str:
    """One line per mistake, naming its key: unknown (with `allowed(loc)`, the keys allowed there), missing,
    or an invalid value. Every Winnow config (run, mix, export) reports its mistakes this way."""
    prefix = f"{where}: " if where else ""
    lines = []
    for err in exc.errors():
        key = ".".join(str(x) for x in err["loc"]) or root
        if err["type"] == "extra_forbidden":
            lines.append(f"{prefix}unknown key {key!r}; allowed keys: {allowed(err['loc'])}")
        elif err["type"] == "missing":
            lines.append(f"{prefix}missing required key {key!r}")
        else:
            lines.append(f"{prefix}{key}: {err['msg']} (got {err.get('input')!r})")
    return "\n".join(lines)


def _format_validation(where: str, exc: ValidationError, model: type[BaseModel]) -> str:
    common = ("only_domains", "skip_domains")  # every stage has them; list the stage's own keys first
    names = [n for n in model.model_fields if n not in common] + [n for n in common if n in model.model_fields]
    allowed = ", ".join(names) or "(no parameters)"
    return validation_message(exc, lambda loc: allowed, where)


def read_yaml_mapping(path: str | None, text: str | None, keys: tuple[str, ...] | list[str]) -> dict[str, Any]:
    """The YAML mapping in a config file (or text), for every Winnow config: run, mix and export."""
    if text is None:
        if path is None or not os.path.isfile(path):
            raise ConfigError(f"config file {path!r} does not exist")
        with open(path, encoding="utf-8") as f:
            text = f.read()
    try:
        raw = yaml.safe_load(text)  # safe_load: a config can never construct Python objects
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path or 'config'}: not valid YAML: {exc}") from None
    if not isinstance(raw, dict):
        raise ConfigError(f"{path or 'config'}: expected a mapping with keys {', '.join(keys)}")
    return raw


def parse_set(items: list[str]) -> dict[str, Any]:
    """`--set NAME=VALUE` pairs; VALUE is read as YAML, so numbers and booleans keep their type.

    One convention for every command: NAME is a param (`${NAME}` in the config) or a dotted path to any
    config key (`engine.batch_size`, `swarm.num_mixtures`; list items of stages by their name:
    `stages.minhash_dedup.threshold`).
    """
    out = {}
    for item in items:
        if "=" not in item:
            raise ConfigError(f"--set {item!r}: expected NAME=VALUE")
        name, value = item.split("=", 1)
        if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*", name):
            raise ConfigError(f"--set {item!r}: {name!r} is neither a param name nor a dotted key")
        out[name] = yaml.safe_load(value) if value else ""
    return out


def set_path(raw: dict[str, Any], dotted: str, value: Any) -> None:
    """Set `a.b.c` in a config mapping; a list of named items (stages) is indexed by their `name`."""
    node: Any = raw
    *parents, leaf = dotted.split(".")
    for part in parents:
        if isinstance(node, list):
            node = next((x for x in node if isinstance(x, dict) and x.get("name") == part), None)
            if node is None:
                raise ConfigError(f"--set {dotted}: no stage named {part!r}")
        else:
            node = node.setdefault(part, {})
        if not isinstance(node, (dict, list)):
            raise ConfigError(f"--set {dotted}: {part!r} is not a section")
    if isinstance(node, list):
        raise ConfigError(f"--set {dotted}: {leaf!r} names a list item, not a key; add the key after it")
    node[leaf] = value


def split_overrides(raw: dict[str, Any], overrides: dict[str, Any] | None, builtins: dict[str, Any]) -> dict[str, Any]:
    """Apply dotted `--set` keys to `raw`; return the plain ones, which must be params the config declares."""
    params = dict(raw.get("params") or {})
    plain = {}
    for name, value in (overrides or {}).items():
        if "." in name:
            set_path(raw, name, value)
        elif name in params or name in builtins:
            plain[name] = value
        else:
            known = ", ".join(sorted(params)) or "(none)"
            raise ConfigError(
                f"--set {name}: this config has no param {name!r}; its params: {known} (a config key: --set a.b=VALUE)"
            )
    return plain


def _substitute(value: Any, params: dict[str, Any], where: str, builtins: dict[str, Any], depth: int = 0) -> Any:
    if isinstance(value, dict):
        return {k: _substitute(v, params, f"{where}.{k}", builtins, depth) for k, v in value.items()}
    if isinstance(value, list):
        return [_substitute(v, params, f"{where}[{i}]", builtins, depth) for i, v in enumerate(value)]
    if not isinstance(value, str) or "${" not in value:
        return value
    if depth > 8:
        raise ConfigError(f"{where}: params refer to each other in a circle ({value})")

    def lookup(name: str) -> Any:
        if name in params:  # a param may itself name a param (`model: ${demo_quality_model}`)
            return _substitute(params[name], params, f"params.{name}", builtins, depth + 1)
        if name in builtins:
            v = builtins[name]
            return v() if callable(v) else v
        known = ", ".join(sorted(set(params) | set(builtins))) or "(none)"
        raise ConfigError(f"{where}: unknown param ${{{name}}}; defined params: {known} (add it under params: or --set)")

    whole = PARAM_RE.fullmatch(value)
    if whole:  # a lone ${x} keeps the param's type (a list stays a list)
        return lookup(whole.group(1))
    return PARAM_RE.sub(lambda m: str(lookup(m.group(1))), value)


def builtin_params(config_dir: str) -> dict[str, Any]:
    def demo_dir() -> str:
        from winnow.pipeline.demo import ensure_demo_corpus

        return ensure_demo_corpus()

    from winnow.pipeline.registry import PARAMS

    # A param's module is imported only when a config uses it (`PARAMS[n]` loads its entry point).
    lazy = {name: (lambda n=name: PARAMS[n]()) for name in PARAMS}
    return {**lazy, "demo": demo_dir, "config_dir": config_dir}


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
    unknown = sorted(set(raw) - set(TOP_LEVEL_KEYS))
    if unknown:
        raise ConfigError(f"unknown top-level key {unknown[0]!r}; allowed keys: {', '.join(TOP_LEVEL_KEYS)}")

    if not isinstance(raw.get("params") or {}, dict):
        raise ConfigError("params: expected a mapping of name: value")
    config_dir = os.path.dirname(os.path.abspath(path)) if path else os.getcwd()
    builtins = builtin_params(config_dir)
    params = {**(raw.get("params") or {}), **split_overrides(raw, overrides, builtins)}

    # --input replaces the config's inputs before substitution, so an unused ${demo} is never built.
    raw_inputs = [{"path": p} for p in inputs] if inputs else raw.get("inputs")
    if not raw_inputs:
        raise ConfigError("inputs: no inputs given; list paths or globs under inputs: or pass --input")
    if not isinstance(raw_inputs, list):
        raise ConfigError("inputs: expected a list of paths or {path: ..., format: ...} entries")
    specs: list[InputSpec] = []
    for i, entry in enumerate(raw_inputs):
        entry = _substitute(entry, params, f"inputs[{i}]", builtins)
        if isinstance(entry, str):
            entry = {"path": entry}
        crawl = None
        if isinstance(entry, dict) and "crawl" in entry:
            entry, crawl = _crawl_entry(entry, f"inputs[{i}]")
        if not isinstance(entry, dict) or not isinstance(entry.get("path"), str):
            raise ConfigError(f"inputs[{i}]: expected a path string or a mapping with a 'path' key")
        entry = dict(entry)
        path_value, fmt = entry.pop("path"), entry.pop("format", "auto")
        if fmt != "auto" and fmt not in READERS:
            raise ConfigError(f"inputs[{i}].format: unknown format {fmt!r}; allowed: auto, {', '.join(sorted(READERS))}")
        if fmt != "auto":
            try:
                READERS[fmt].Params(**entry)
            except ValidationError as exc:
                raise ConfigError(_format_validation(f"inputs[{i}] ({fmt} reader)", exc, READERS[fmt].Params)) from None
        specs.append(InputSpec(path=os.path.expanduser(path_value), format=fmt, options=entry, crawl=crawl))

    out = output or _substitute(raw.get("output"), params, "output", builtins)
    if not out or not isinstance(out, str):
        raise ConfigError("output: no output directory; set output: or pass --output")

    engine_raw = _substitute(dict(raw.get("engine") or {}), params, "engine", builtins)
    if address:
        engine_raw["address"] = address
    if executor:
        engine_raw["executor"] = executor
    try:
        engine = EngineConfig(**engine_raw)
    except ValidationError as exc:
        raise ConfigError(_format_validation("engine", exc, EngineConfig)) from None

    raw_stages = raw.get("stages") or []
    if not isinstance(raw_stages, list):
        raise ConfigError("stages: expected a list of {name: ..., <params>} entries")
    stages: list[StageSpec] = []
    for i, entry in enumerate(raw_stages):
        if not isinstance(entry, dict) or "name" not in entry:
            raise ConfigError(f"stages[{i}]: expected a mapping with a 'name' key")
        entry = _substitute(dict(entry), params, f"stages[{i}]", builtins)
        name = entry.pop("name")
        if name not in STAGES:
            raise ConfigError(f"stages[{i}]: unknown stage {name!r}; registered stages: {', '.join(sorted(STAGES))}")
        cls = STAGES[name]
        try:
            stage_params = cls.Params(**entry)
        except ValidationError as exc:
            raise ConfigError(_format_validation(f"stages[{i}] ({name})", exc, cls.Params)) from None
        stages.append(StageSpec(name=name, params=stage_params))
    _check_columns(specs, stages)
    names = [s.name for s in stages]
    dup = next((n for n in names if names.count(n) > 1), None)
    if dup:
        raise ConfigError(f"stages: stage {dup!r} appears twice; stage names label the funnel and must be unique")
    return PipelineConfig(inputs=specs, output=out, stages=stages, engine=engine, params=params, source_path=path)


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
