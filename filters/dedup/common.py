"""Shared machinery of the dedup stages: spill files sized by the memory budget, survivor choice, memory probes.

Every dedup stage works the same way: per-unit tasks hash documents and spill records into hash-partitioned
Parquet files under the stage's state directory (the shuffle), per-partition tasks reduce them, and the
result is a small per-unit "members" file that `apply` reads to drop duplicates unit by unit. No step
holds more than one partition (or one unit) in memory, and the partition count follows from the budget.
"""

from __future__ import annotations

import hashlib
import math
import re
import resource
import unicodedata
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from winnow.pipeline import parquet_io, schema, storage

# Columns of the group files (input of the survivor step) and of the per-unit member files.
GROUP, UNIT, SCORE = "group", "unit", "score"
CLUSTER, SIZE, KEEP = "cluster", "size", "keep"

# Per document in a dedup index besides its hash or signature: id, bucket keys, union-find entry (for plan).
INDEX_OVERHEAD_BYTES = 48

_SPACE = re.compile(r"\s+")
_GOLDEN = np.uint64(0x9E3779B97F4A7C15)


def write_state(path: str, table: pa.Table) -> None:
    """A file of the stage's state directory: read back by the stage, never by users, so written as scratch."""
    parquet_io.write_parquet(path, table, scratch=True)


def peak_rss_mb() -> float:
    """Peak resident memory of this process so far (Linux reports KiB)."""
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)


def hash64(data: str | bytes) -> int:
    """A stable 64-bit hash (Python's hash() differs between worker processes)."""
    if isinstance(data, str):
        data = data.encode("utf-8", "surrogatepass")
    return int.from_bytes(hashlib.blake2b(data, digest_size=8).digest(), "little")


def hash64_many(items: list[str]) -> np.ndarray:
    return np.fromiter((hash64(s) for s in items), dtype=np.uint64, count=len(items))


def mix64(x: np.ndarray) -> np.ndarray:
    """splitmix64's finaliser, vectorised: spreads sequential ids and weak hashes over all 64 bits."""
    z = x.astype(np.uint64, copy=True)
    with np.errstate(over="ignore"):  # in place: on tens of millions of hashes, temporaries cost more than the math
        z += _GOLDEN
        z ^= z >> np.uint64(30)
        z *= np.uint64(0xBF58476D1CE4E5B9)
        z ^= z >> np.uint64(27)
        z *= np.uint64(0x94D049BB133111EB)
        z ^= z >> np.uint64(31)
    return z


def partition_of(x: np.ndarray, n: int) -> np.ndarray:
    return (mix64(x) % np.uint64(n)).astype(np.int64)


def normalise_text(text: str) -> str:
    """What two texts must share to count as exact duplicates: NFKC, case-folded, whitespace collapsed."""
    return _SPACE.sub(" ", unicodedata.normalize("NFKC", text).casefold()).strip()


@dataclass(frozen=True)
class Budget:
    """The memory budget shared by the tasks that run at once; sizes partitions and read batches."""

    budget_mb: int
    concurrency: int

    @property
    def per_task_bytes(self) -> int:
        return max(16, self.budget_mb // max(1, self.concurrency)) * 1024 * 1024

    def partitions(self, total_bytes: int, fixed: int | None = None, cap: int = 4096) -> int:
        """Enough partitions that one partition, with working memory (~4× its raw size), fits one task's share."""
        if fixed:
            return fixed
        return int(min(cap, max(1, math.ceil(4 * total_bytes / self.per_task_bytes))))

    def batch_rows(self, bytes_per_row: int, cap: int = 20_000) -> int:
        return int(max(64, min(cap, self.per_task_bytes // max(1, 8 * bytes_per_row))))

    @property
    def spill_bytes(self) -> int:
        """Buffered shuffle output above this size is written out as one more file (the spill)."""
        return max(1 << 20, self.per_task_bytes // 4)


class SpillWriter:
    """Buffers tables per partition and writes them as numbered Parquet files when the buffer is full."""

    def __init__(self, base: str, name: str, limit_bytes: int):
        self.base, self.name, self.limit = base, name, limit_bytes
        self._buf: dict[str, list[pa.Table]] = {}
        self._bytes = 0
        self._chunk = 0
        self.files = 0

    def add(self, part: str, table: pa.Table) -> None:
        if table.num_rows == 0:
            return
        self._buf.setdefault(part, []).append(table)
        self._bytes += table.nbytes
        if self._bytes >= self.limit:
            self.flush()

    def flush(self) -> None:
        for part, tables in sorted(self._buf.items()):
            path = storage.join(self.base, part, f"{self.name}-{self._chunk:04d}.parquet")
            write_state(path, pa.concat_tables(tables))
            self.files += 1
        self._buf.clear()
        self._bytes = 0
        self._chunk += 1


def read_dir(path: str, columns: list[str] | None = None) -> pa.Table | None:
    """All Parquet files directly under a directory as one table, or None if there are none."""
    files = storage.list_files(path, ".parquet")
    if not files:
        return None
    return pa.concat_tables([parquet_io.read_parquet(f, columns) for f in files])


def iter_batches(path: str, columns: list[str], batch_rows: int) -> Iterator[pa.Table]:
    fs, inner = storage.filesystem(path)
    with fs.open_input_file(inner) as f:
        pf = pq.ParquetFile(f)
        present = [c for c in columns if c in pf.schema_arrow.names]
        for batch in pf.iter_batches(batch_size=batch_rows, columns=present):
            t = pa.Table.from_batches([batch])
            for c in columns:  # an optional column (score, url) missing from this unit reads as nulls
                if c not in t.column_names:
                    t = t.append_column(
                        c, pa.nulls(t.num_rows, pa.float64() if c not in (schema.URL,) else pa.string())
                    )
            yield t


def split_rows(table: pa.Table, parts: np.ndarray) -> Iterator[tuple[int, pa.Table]]:
    """Rows grouped by partition number, in partition order."""
    if table.num_rows == 0:
        return
    order = np.argsort(parts, kind="stable")
    sorted_parts = parts[order]
    bounds = np.flatnonzero(np.diff(sorted_parts)) + 1
    starts = np.concatenate([[0], bounds])
    ends = np.concatenate([bounds, [len(order)]])
    for s, e in zip(starts, ends):
        yield int(sorted_parts[s]), table.take(pa.array(order[s:e]))


def scores_of(table: pa.Table, column: str | None) -> pa.Array:
    n = table.num_rows
    if column and column in table.column_names:
        try:
            return table[column].combine_chunks().cast(pa.float64())
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
            pass  # a non-numeric column cannot rank survivors; fall back to the id rule
    return pa.nulls(n, pa.float64())


def survivor_task(groups_dir: str, members_dir: str, q: int) -> dict:
    """Pick one survivor per group: highest score (missing scores rank last), then smallest id.

    Writes, per unit, every member of a group of two or more: id, cluster (the survivor's id), size, keep.
    """
    t = read_dir(storage.join(groups_dir, f"q{q:04d}"))
    out = {"groups": 0, "duplicates": 0, "peak_rss_mb": 0.0}
    if t is None or t.num_rows == 0:
        out["peak_rss_mb"] = peak_rss_mb()
        return out
    t = t.sort_by([(GROUP, "ascending"), (SCORE, "descending"), (schema.ID, "ascending")])
    g = t[GROUP].to_numpy()
    starts = np.concatenate([[0], np.flatnonzero(np.diff(g)) + 1])
    sizes = np.diff(np.concatenate([starts, [len(g)]]))
    size_per_row = np.repeat(sizes, sizes)
    first_per_row = np.repeat(starts, sizes)
    multi = size_per_row > 1
    ids = t[schema.ID].combine_chunks()
    clusters = ids.take(pa.array(first_per_row))
    keep = np.arange(len(g)) == first_per_row
    members = pa.table(
        {
            schema.ID: ids,
            CLUSTER: clusters,
            SIZE: pa.array(size_per_row, pa.int64()),
            KEEP: pa.array(keep),
            UNIT: t[UNIT],
        }
    ).filter(pa.array(multi))
    out["groups"] = int((sizes > 1).sum())
    out["duplicates"] = int(multi.sum() - out["groups"])
    if members.num_rows:
        units = members[UNIT].to_pylist()
        keys = sorted(set(units))
        index = {k: i for i, k in enumerate(keys)}
        for i, part in split_rows(members.drop_columns([UNIT]), np.array([index[u] for u in units])):
            write_state(storage.join(members_dir, f"u{keys[i]}", f"q{q:04d}.parquet"), part)
    out["peak_rss_mb"] = peak_rss_mb()
    return out


class MemberIndex:
    """The apply side: who in this unit is a duplicate, of whom, and whether it survives. One unit cached."""

    def __init__(self) -> None:
        self._unit: str | None = None
        self._members: dict[str, tuple[str, int, bool]] = {}

    def load(self, members_dir: str, unit: str) -> dict[str, tuple[str, int, bool]]:
        if unit != self._unit:
            t = read_dir(storage.join(members_dir, f"u{unit}"))
            members: dict[str, tuple[str, int, bool]] = {}
            if t is not None:
                for i, c, s, k in zip(*(t[col].to_pylist() for col in (schema.ID, CLUSTER, SIZE, KEEP))):
                    # An id listed twice (never expected: ids hash the source locator) keeps if any copy keeps.
                    prev = members.get(i)
                    members[i] = (c, s, k or (prev is not None and prev[2]))
            self._unit, self._members = unit, members
        return self._members


def unit_index(offsets: list[int], gids: np.ndarray) -> np.ndarray:
    """Which unit a global document number belongs to (units own consecutive ranges starting at offsets)."""
    return np.searchsorted(np.asarray(offsets, np.int64), gids, side="right") - 1
