"""Name → class registries for stages and readers, so configs name what they use and nothing else."""

from __future__ import annotations

from typing import Callable, TypeVar

from pipeline.stage import Stage

T = TypeVar("T", bound=type)

STAGES: dict[str, type[Stage]] = {}
READERS: dict[str, type] = {}
# Built-in config params computed on first use (`${demo}`, `${demo_quality_model}`, ...).
PARAMS: dict[str, Callable[[], object]] = {}


def register_param(name: str) -> Callable[[Callable[[], object]], Callable[[], object]]:
    """Function decorator: `${name}` in any config calls it (once per load) when no param of that name is set."""

    def wrap(fn: Callable[[], object]) -> Callable[[], object]:
        PARAMS[name] = fn
        return fn

    return wrap


def register_stage(name: str) -> Callable[[T], T]:
    """Class decorator: make a stage available to configs as `name:`."""

    def wrap(cls: T) -> T:
        if name in STAGES and STAGES[name] is not cls:
            raise ValueError(f"stage name {name!r} registered twice ({STAGES[name].__module__}, {cls.__module__})")
        cls.name = name
        STAGES[name] = cls
        return cls

    return wrap


def register_reader(fmt: str) -> Callable[[T], T]:
    """Class decorator: a reader for input format `fmt` (see pipeline.readers)."""

    def wrap(cls: T) -> T:
        cls.format = fmt
        READERS[fmt] = cls
        return cls

    return wrap


def load_plugins() -> None:
    """Import the packages that register stages. The CLI and the runner's workers call this."""
    import filters  # noqa: F401
    import mixing  # noqa: F401
    import ocr  # noqa: F401
    import pipeline.readers  # noqa: F401

    # Users' own stages without forking Winnow: WINNOW_PLUGINS=my_pkg.stages,other_module
    import importlib
    import os

    for module in filter(None, (m.strip() for m in os.environ.get("WINNOW_PLUGINS", "").split(","))):
        importlib.import_module(module)


def import_submodules(package: str) -> None:
    """Import every module below a package (skipping tests and private modules), so their stages register."""
    import importlib
    import pkgutil

    pkg = importlib.import_module(package)
    for info in pkgutil.walk_packages(pkg.__path__, prefix=f"{package}."):
        leaf = info.name.rsplit(".", 1)[-1]
        if leaf.startswith("_") or leaf.startswith("test"):
            continue
        importlib.import_module(info.name)
