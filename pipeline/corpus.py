"""What a global stage sees when it fits: the whole corpus as per-unit Parquet files, and a way to map over them."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

import pyarrow as pa

from winnow.pipeline import parquet_io


@dataclass
class Corpus:
    units: dict[str, str]  # unit key → Parquet path of that unit's rows so far
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
