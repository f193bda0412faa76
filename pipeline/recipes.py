"""Bundled recipes: the YAML configs shipped inside the wheel (package `winnow.configs`), found by name.

`winnow run commoncrawl` and `winnow run configs/commoncrawl.yaml` mean the same thing: an argument that
is an existing file is a path; otherwise a bare name (no `/`, optional `.yaml`) is a bundled recipe.
"""

from __future__ import annotations

import os
import shutil
from importlib.resources import as_file, files
from pathlib import Path

_PACKAGE = "winnow.configs"


class RecipeError(ValueError):
    """An unknown recipe name, or a copy that would overwrite a file."""


def _root():
    return files(_PACKAGE)


def names() -> list[str]:
    """Every bundled recipe's name, sorted."""
    return sorted(p.name[:-5] for p in _root().iterdir() if p.name.endswith(".yaml"))


def description(name: str) -> str:
    """The recipe's `description:` line (read without loading the config: no param is substituted)."""
    import yaml

    data = yaml.safe_load(_root().joinpath(f"{name}.yaml").read_text(encoding="utf-8")) or {}
    text = " ".join(str(data.get("description", "")).split()) if isinstance(data, dict) else ""
    return text.split(". ")[0].rstrip(".")  # the first sentence: a listing line, not the manual


def resolve(arg: str) -> str:
    """A config argument → a path on disk: an existing file as given, else a bundled recipe by name."""
    if os.path.isfile(arg):
        return arg
    name = arg[:-5] if arg.endswith(".yaml") else arg
    if "/" not in name and os.sep not in name and name in names():
        with as_file(_root().joinpath(f"{name}.yaml")) as path:  # a real file for wheels installed as folders
            return str(path)
    if "/" in arg or os.sep in arg or arg.endswith((".yaml", ".yml")):
        raise RecipeError(f"config file {arg} not found")
    raise RecipeError(f"{arg!r} is neither a config file nor a bundled recipe; recipes: {', '.join(names())}")


def copy(name: str, directory: str = ".", *, overwrite: bool = False) -> Path:
    """Write bundled recipe `name` into `directory` for editing; refuses to replace an existing file."""
    if name.endswith(".yaml"):
        name = name[:-5]
    if name not in names():
        raise RecipeError(f"no bundled recipe {name!r}; recipes: {', '.join(names())}")
    if Path(directory).exists() and not Path(directory).is_dir():
        raise RecipeError(f"{directory} is a file, not a folder to write {name}.yaml into")
    target = Path(directory) / f"{name}.yaml"
    if target.exists() and not overwrite:
        raise RecipeError(f"{target} exists; pass --overwrite to replace it")
    target.parent.mkdir(parents=True, exist_ok=True)
    with as_file(_root().joinpath(f"{name}.yaml")) as src:
        shutil.copyfile(src, target)
    return target
