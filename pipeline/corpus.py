"""What a global stage sees when it fits: the whole corpus as per-unit Parquet files, and a way to map over them."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

import pyarrow as pa

from winnow.pipeline import parquet_io, schema, storage
from winnow.pipeline.stage import StageParams, split_by_scope


@dataclass
class Corpus:
    units: dict[str, str]  # unit key → Parquet path of that unit's rows so far (inside the stage's domain scope)
    state_dir: str  # where the stage keeps what it learns (read back by apply on every worker)
    executor: Any  # LocalExecutor or RayExecutor
    memory_budget_mb: int = 2048
    num_cpus: int = 1

    def read(self, unit: str, columns: list[str] | None = None) -> pa.Table:
        return parquet_io.read_parquet(self.units[unit], columns)

    def map(self, fn: Callable, extra_args: tuple = (), resources: dict | None = None) -> dict[str, Any]:
        """Run `fn(unit_key, unit_path, *extra_args)` for every unit, in parallel where the executor can."""
        keys = sorted(self.units)
        results = self.executor.map(fn, [(k, self.units[k], *extra_args) for k in keys], resources)
        return dict(zip(keys, results))

    def map_items(self, fn: Callable, items: list[tuple], resources: dict | None = None) -> list[Any]:
        """Run `fn(*item)` for arbitrary work items (e.g. hash partitions of a shuffle)."""
        return self.executor.map(fn, items, resources)


def scope_task(path: str, dest: str, params: StageParams) -> str:
    """The Parquet path of a unit's rows inside a stage's only_domains / skip_domains: the unit's own file when every
    row is inside (only the domain column is read to tell), else a copy of the rows inside written to `dest`."""
    domains = parquet_io.read_parquet(path, [schema.DOMAIN])
    if split_by_scope(params, domains)[1] is None:
        return path
    inside, _ = split_by_scope(params, parquet_io.read_parquet(path))
    parquet_io.write_parquet(dest, inside, scratch=True)
    return dest


def scoped_units(units: dict[str, str], params: StageParams, state_dir: str, executor: Any) -> dict[str, str]:
    """A stage limited to some domains learns from the rows it decides on, no others: without this a dedup stage
    with only_domains: [web] would drop web pages for copies in wiki that it leaves alone."""
    if not (getattr(params, "only_domains", None) or getattr(params, "skip_domains", None)):
        return units
    keys = sorted(units)
    items = [(units[k], storage.join(state_dir, "scoped", f"{k}.parquet"), params) for k in keys]
    return dict(zip(keys, executor.map(scope_task, items)))
