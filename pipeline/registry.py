"""Name → class registries for stages, readers and built-in params, filled on demand from entry points.

A capability (Winnow's own `filters` and `ocr`, or a third-party package) declares what it offers in its
package metadata, under the entry-point groups below, the way pytest plugins do:

    [project.entry-points."winnow.stages"]
    my_filter = "my_package.stages:MyFilter"

A config that names `my_filter` imports `my_package.stages` and nothing else; the engine itself imports
no capability. `WINNOW_PLUGINS=module,module` still loads modules that register with the decorators below
(handy for a stage that lives in a script rather than an installed package).
"""

from __future__ import annotations

import importlib
import os
from collections.abc import Iterator, Mapping
from importlib.metadata import entry_points
from typing import Callable, Generic, TypeVar

T = TypeVar("T", bound=type)
V = TypeVar("V")

STAGE_GROUP = "winnow.stages"
READER_GROUP = "winnow.readers"
PARAM_GROUP = "winnow.params"


class PluginError(ImportError):
    """A plugin named by an entry point or WINNOW_PLUGINS could not be imported (one line, no traceback)."""


class Registry(Mapping[str, V], Generic[V]):
    """A mapping that imports an entry point's module the first time its name is looked up.

    Iterating or listing the names reads package metadata only; nothing is imported until a value is used.
    """

    def __init__(self, group: str, kind: str):
        self.group, self.kind = group, kind
        self._loaded: dict[str, V] = {}

    def _entry_points(self) -> dict[str, object]:
        return {ep.name: ep for ep in entry_points(group=self.group)}

    def register(self, name: str, value: V) -> None:
        old = self._loaded.get(name)
        if old is not None and old is not value:
            raise ValueError(f"{self.kind} name {name!r} registered twice ({_origin(old)}, {_origin(value)})")
        self._loaded[name] = value

    def __getitem__(self, name: str) -> V:
        if name in self._loaded:
            return self._loaded[name]
        ep = self._entry_points().get(name)
        if ep is None:
            load_env_plugins()  # a WINNOW_PLUGINS module may register it
            if name in self._loaded:
                return self._loaded[name]
            raise KeyError(name)
        try:
            value = ep.load()
        except ImportError as exc:
            raise PluginError(f"{self.kind} {name!r} ({ep.value}) could not be imported: {exc}") from None
        # Loading the module normally registers the value through the decorator; an entry point that
        # names a plain class registers it here.
        if name not in self._loaded:
            if isinstance(value, type) and not getattr(value, "name", None):
                value.name = name
            self._loaded[name] = value
        return self._loaded[name]

    def __contains__(self, name: object) -> bool:
        if name in self._loaded or name in self._entry_points():
            return True
        load_env_plugins()
        return name in self._loaded

    def __iter__(self) -> Iterator[str]:
        load_env_plugins()
        return iter(sorted(set(self._loaded) | set(self._entry_points())))

    def __len__(self) -> int:
        return len(list(iter(self)))


def _origin(value: object) -> str:
    return getattr(value, "__module__", repr(value))


STAGES: Registry[type] = Registry(STAGE_GROUP, "stage")
READERS: Registry[type] = Registry(READER_GROUP, "reader")
# Built-in config params computed on first use (`${demo}`, `${demo_quality_model}`, ...).
PARAMS: Registry[Callable[[], object]] = Registry(PARAM_GROUP, "param")


def register_param(name: str) -> Callable[[Callable[[], object]], Callable[[], object]]:
    """Function decorator: `${name}` in any config calls it (once per load) when no param of that name is set."""

    def wrap(fn: Callable[[], object]) -> Callable[[], object]:
        PARAMS.register(name, fn)
        return fn

    return wrap


def register_stage(name: str) -> Callable[[T], T]:
    """Class decorator: make a stage available to configs as `name:` (declare it as an entry point too)."""

    def wrap(cls: T) -> T:
        cls.name = name
        STAGES.register(name, cls)
        return cls

    return wrap


def register_reader(fmt: str) -> Callable[[T], T]:
    """Class decorator: a reader for input format `fmt` (see pipeline.readers)."""

    def wrap(cls: T) -> T:
        cls.format = fmt
        READERS.register(fmt, cls)
        return cls

    return wrap


_env_loaded: set[str] = set()


def load_env_plugins() -> None:
    """Import the modules named in WINNOW_PLUGINS (comma-separated), once each."""
    for module in filter(None, (m.strip() for m in os.environ.get("WINNOW_PLUGINS", "").split(","))):
        if module in _env_loaded:
            continue
        _env_loaded.add(module)
        try:
            importlib.import_module(module)
        except ImportError as exc:
            raise PluginError(
                f"WINNOW_PLUGINS names {module!r}, which could not be imported ({exc}); "
                "install it or put its folder on PYTHONPATH"
            ) from None


def load_all_readers() -> None:
    """Import every reader (format detection compares every reader's file extensions)."""
    for fmt in READERS:
        READERS[fmt]
