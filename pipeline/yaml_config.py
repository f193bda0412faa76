"""The YAML config loader of `winnow run`, `export`, `mix` and `ablate`: read, `--set`, `${param}`, validate."""

from __future__ import annotations

import os
import re
import typing
from typing import Any, TypeVar

import yaml
from pydantic import BaseModel, ValidationError

PARAM_RE = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")
Model = TypeVar("Model", bound=BaseModel)


class ConfigError(ValueError):
    """A config mistake, with a message that names the key and what is allowed."""


def read_yaml_mapping(path: str | None, text: str | None, keys: tuple[str, ...] | list[str]) -> dict[str, Any]:
    """The YAML mapping in a config file (or text); `keys` are the top-level keys named when it is not a mapping."""
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
    """Set `a.b.c` in a config mapping; a list of named items (stages, variants) is indexed by their `name`."""
    node: Any = raw
    *parents, leaf = dotted.split(".")
    for part in parents:
        if isinstance(node, list):
            node = next((x for x in node if isinstance(x, dict) and x.get("name") == part), None)
            if node is None:
                raise ConfigError(f"--set {dotted}: no stage named {part!r}")
        else:
            if node.get(part) is None:  # absent, or a section left empty in the YAML (`engine:`)
                node[part] = {}
            node = node[part]
        if not isinstance(node, (dict, list)):
            raise ConfigError(f"--set {dotted}: {part!r} is not a section")
    if isinstance(node, list):
        raise ConfigError(f"--set {dotted}: {leaf!r} names a list item, not a key; add the key after it")
    node[leaf] = value


def builtin_params(config_dir: str) -> dict[str, Any]:
    """Params every config may use without declaring them; a callable one is computed only when a config uses it."""

    def demo_dir() -> str:
        from winnow.pipeline.demo import ensure_demo_corpus

        return ensure_demo_corpus()

    from winnow.pipeline.registry import PARAMS

    # A param's module is imported only when a config uses it (`PARAMS[n]` loads its entry point).
    lazy = {name: (lambda n=name: PARAMS[n]()) for name in PARAMS}
    return {**lazy, "demo": demo_dir, "config_dir": config_dir}


class Params:
    """A config's `params:` after `--set`, with the built-ins; `substitute` resolves `${name}` from them."""

    def __init__(self, values: dict[str, Any], builtins: dict[str, Any]) -> None:
        self.values = values
        self.builtins = builtins

    def substitute(self, value: Any, where: str, depth: int = 0) -> Any:
        if isinstance(value, dict):
            return {k: self.substitute(v, f"{where}.{k}", depth) for k, v in value.items()}
        if isinstance(value, list):
            return [self.substitute(v, f"{where}[{i}]", depth) for i, v in enumerate(value)]
        if not isinstance(value, str) or "${" not in value:
            return value
        if depth > 8:
            raise ConfigError(f"{where}: params refer to each other in a circle ({value})")
        whole = PARAM_RE.fullmatch(value)
        if whole:  # a lone ${x} keeps the param's type (a list stays a list)
            return self._lookup(whole.group(1), where, depth)
        return PARAM_RE.sub(lambda m: str(self._lookup(m.group(1), where, depth)), value)

    def _lookup(self, name: str, where: str, depth: int) -> Any:
        if name in self.values:  # a param may itself name a param (`model: ${demo_quality_model}`)
            return self.substitute(self.values[name], f"params.{name}", depth + 1)
        if name in self.builtins:
            v = self.builtins[name]
            return v() if callable(v) else v
        known = ", ".join(sorted(set(self.values) | set(self.builtins))) or "(none)"
        raise ConfigError(
            f"{where}: unknown param ${{{name}}}; defined params: {known} (declare it under params:, then --set can change it)"
        )


def apply_overrides(raw: dict[str, Any], path: str | None, overrides: dict[str, Any] | None, *,
                    params: bool = True, keys_by_name: bool = False) -> Params:
    """Apply `--set` to `raw` and return the params. A dotted name sets that key in place; a plain name overrides
    a param (with `params`: the config's `params:` and the built-ins) or else, with `keys_by_name`, sets the
    top-level key of that name (the command's model refuses an unknown one); anything else is refused here."""
    declared = (raw.get("params") or {}) if params else {}
    if not isinstance(declared, dict):
        raise ConfigError("params: expected a mapping of name: value")
    builtins = builtin_params(os.path.dirname(os.path.abspath(path)) if path else os.getcwd()) if params else {}
    plain = {}
    for name, value in (overrides or {}).items():
        if "." in name:
            set_path(raw, name, value)
        elif name in declared or name in builtins:
            plain[name] = value
        elif keys_by_name:
            raw[name] = value
        else:
            known = ", ".join(sorted(declared)) or "(none)"
            raise ConfigError(
                f"--set {name}: this config has no param {name!r}; its params: {known} (a config key: --set a.b=VALUE)"
            )
    return Params({**(raw.get("params") or {}), **plain} if params else {}, builtins)


def _model_in(annotation: Any) -> type[BaseModel] | None:
    """The pydantic model a field holds, also inside `list[...]` or `... | None`."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    return next((m for m in map(_model_in, typing.get_args(annotation)) if m is not None), None)


def allowed_keys(model: type[BaseModel], loc: tuple = ()) -> str:
    """The keys allowed in the section an error's location points into (a stage's own keys first)."""
    for part in loc[:-1]:
        field = model.model_fields.get(part) if isinstance(part, str) else None
        model = (_model_in(field.annotation) if field else None) or model
    common = ("only_domains", "skip_domains")  # every stage has them
    names = [n for n in model.model_fields if n not in common] + [n for n in common if n in model.model_fields]
    return ", ".join(names) or "(no parameters)"


def validation_message(exc: ValidationError, model: type[BaseModel], where: str = "", root: str = "(value)") -> str:
    """One line per mistake, naming its key: unknown (with the keys allowed there), missing, or an invalid value."""
    prefix = f"{where}: " if where else ""
    lines = []
    for err in exc.errors():
        key = ".".join(str(x) for x in err["loc"]) or root
        if err["type"] == "extra_forbidden":
            lines.append(f"{prefix}unknown key {key!r}; allowed keys: {allowed_keys(model, err['loc'])}")
        elif err["type"] == "missing":
            lines.append(f"{prefix}missing required key {key!r}")
        else:
            lines.append(f"{prefix}{key}: {err['msg']} (got {err.get('input')!r})")
    return "\n".join(lines)


def validate(model: type[Model], data: dict[str, Any], where: str = "", root: str = "(value)") -> Model:
    try:
        return model(**data)
    except ValidationError as exc:
        raise ConfigError(validation_message(exc, model, where, root)) from None


def load_model(model: type[Model], path: str | None = None, *, text: str | None = None, output: str | None = None,
               overrides: dict[str, Any] | None = None, params: bool = True, keys_by_name: bool = False,
               where: str = "", root: str = "(value)") -> Model:
    """A config whose whole file is one pydantic model: read it, apply `--set`, substitute `${param}` (with `params`;
    `params:` itself is kept unsubstituted, with its `--set` values), replace `output:` with `output`, validate."""
    raw = read_yaml_mapping(path, text, list(model.model_fields))
    resolved = apply_overrides(raw, path, overrides, params=params, keys_by_name=keys_by_name)
    if params:
        raw = {k: (v if k == "params" else resolved.substitute(v, k)) for k, v in raw.items()}
        raw["params"] = resolved.values
    if output:
        raw["output"] = output
    return validate(model, raw, where, root)
