"""Repeated-line removal (`line_dedup`): lines or paragraphs found in many documents (menus, cookie banners,
footers) are cut from every text, as DCLM's BFF and dolma's paragraph dedup do; texts left empty are dropped.

fit counts, per normalised line, how many documents contain it (each document counts a line once), through
the same hash-partitioned spill files as the other dedup stages; the lines in at least `min_docs` documents
are the repeated ones. apply removes them and reports how many lines and characters went.
"""

from __future__ import annotations

import json
import re
from typing import Literal

import numpy as np
import pyarrow as pa

from winnow.filters.dedup.common import (
    INDEX_OVERHEAD_BYTES,
    Budget,
    SpillWriter,
    hash64,
    iter_batches,
    normalise_text,
    partition_of,
    peak_rss_mb,
    read_dir,
    write_state,
)
from winnow.pipeline import parquet_io, schema, storage
from winnow.pipeline.corpus import Corpus
from winnow.pipeline.registry import register_stage
from winnow.pipeline.stage import GlobalStage, Outcome, StageParams, set_column

_PARAGRAPH = re.compile(r"\n\s*\n")


class LineDedupParams(StageParams):
    unit: Literal["line", "paragraph"] = "line"  # paragraph: blocks separated by blank lines
    min_docs: int = 5  # a line in at least this many documents is boilerplate
    min_chars: int = 10  # shorter lines (after normalising) are never removed: "}", "Chapter 1", list bullets
    skip_domains: tuple[str, ...] = ("code",)  # repeated lines are meaningful there (imports, licence headers)
    partitions: int | None = None  # shuffle partitions; default derived from engine.memory_budget_mb


def split_blocks(text: str, unit: str) -> list[str]:
    return _PARAGRAPH.split(text) if unit == "paragraph" else text.split("\n")


def block_hash(block: str, min_chars: int) -> int | None:
    norm = normalise_text(block)
    return hash64(norm) if len(norm) >= min_chars else None


def count_task(unit: str, path: str, p: dict, state_dir: str, n_parts: int, rows: int, spill: int) -> dict:
    out = SpillWriter(storage.join(state_dir, "lines"), f"u{unit}", spill)
    skip = set(p["skip_domains"])
    for t in iter_batches(path, [schema.TEXT, schema.DOMAIN], rows):
        hashes: list[int] = []
        for text, domain in zip(t[schema.TEXT].to_pylist(), t[schema.DOMAIN].to_pylist()):
            if not text or domain in skip:
                continue
            hs = {block_hash(b, p["min_chars"]) for b in split_blocks(text, p["unit"])}
            hs.discard(None)
            hashes.extend(hs)
        if hashes:
            h = np.array(hashes, dtype=np.uint64)
            table = pa.table({"h": pa.array(h.view(np.int64))})
            parts = partition_of(h, n_parts)
            for q in np.unique(parts):
                out.add(f"p{q:04d}", table.filter(pa.array(parts == q)))
    out.flush()
    return {"peak_rss_mb": peak_rss_mb()}


def repeated_task(state_dir: str, q: int, min_docs: int) -> dict:
    t = read_dir(storage.join(state_dir, "lines", f"p{q:04d}"))
    if t is None:
        return {"repeated": 0, "peak_rss_mb": peak_rss_mb()}
    h, n = np.unique(t["h"].to_numpy(), return_counts=True)
    rep = n >= min_docs
    write_state(
        storage.join(state_dir, "repeated", f"p{q:04d}.parquet"),
        pa.table({"h": pa.array(h[rep]), "docs": pa.array(n[rep])}),
    )
    return {"repeated": int(rep.sum()), "peak_rss_mb": peak_rss_mb()}


@register_stage("line_dedup")
class LineDedupStage(GlobalStage):
    """Removes lines (or paragraphs) repeated across at least `min_docs` documents; empty results are dropped."""

    Params = LineDedupParams
    adds_columns = {"line_dedup_lines_removed": pa.int64()}
    reasons = ("line_dedup_empty",)
    reads = (schema.TEXT, schema.DOMAIN)

    def __init__(self, params=None, **kwargs):
        super().__init__(params, **kwargs)
        self._repeated: np.ndarray | None = None

    def index_bytes_per_document(self) -> int:
        return 16 + INDEX_OVERHEAD_BYTES  # the repeated-line hashes; documents themselves are not indexed

    def fit(self, corpus: Corpus) -> None:
        assert self.state_dir is not None
        p = self.params
        budget = Budget(corpus.memory_budget_mb, corpus.num_cpus)
        total = sum(parquet_io.count_rows([corpus.units[u]]) for u in corpus.units)
        n_parts = budget.partitions(total * 8 * 50, p.partitions)  # ~50 distinct lines per document
        corpus.map(count_task, (p.model_dump(), self.state_dir, n_parts, budget.batch_rows(8192), budget.spill_bytes))
        res = corpus.map_items(repeated_task, [(self.state_dir, q, p.min_docs) for q in range(n_parts)])
        storage.delete_dir(storage.join(self.state_dir, "lines"))
        stats = {
            "partitions": n_parts,
            "repeated_lines": sum(r["repeated"] for r in res),
            "peak_rss_mb_tasks": max(r["peak_rss_mb"] for r in res),
            "peak_rss_mb_driver": peak_rss_mb(),
        }
        storage.write_atomic(storage.join(self.state_dir, "fit_stats.json"), json.dumps(stats, indent=1).encode())

    def _load(self) -> np.ndarray:
        # The repeated lines' hashes, sorted: 8 bytes each, looked up by binary search.
        if self._repeated is None:
            t = read_dir(storage.join(self.state_dir, "repeated"), ["h"])
            h = t["h"].to_numpy().view(np.uint64) if t is not None else np.zeros(0, np.uint64)
            self._repeated = np.sort(h)
        return self._repeated

    def _is_repeated(self, h: int) -> bool:
        rep = self._load()
        i = int(np.searchsorted(rep, np.uint64(h)))
        return i < len(rep) and int(rep[i]) == h

    def apply(self, batch: pa.Table, unit: str) -> Outcome:
        p = self.params
        skip = set(p.skip_domains)
        sep = "\n\n" if p.unit == "paragraph" else "\n"
        domains = batch[schema.DOMAIN].to_pylist() if schema.DOMAIN in batch.column_names else [None] * batch.num_rows
        texts, removed, reasons = [], [], []
        lines_removed = chars_removed = changed = 0
        for text, domain in zip(batch[schema.TEXT].to_pylist(), domains):
            if not text or domain in skip:
                texts.append(text)
                removed.append(0)
                reasons.append(None)
                continue
            kept_blocks, n = [], 0
            for block in split_blocks(text, p.unit):
                h = block_hash(block, p.min_chars)
                if h is not None and self._is_repeated(h):
                    n += 1
                    chars_removed += len(block)
                else:
                    kept_blocks.append(block)
            new = sep.join(kept_blocks).strip() if n else text
            lines_removed += n
            changed += n > 0
            texts.append(new)
            removed.append(n)
            reasons.append("line_dedup_empty" if n and not new.strip() else None)  # emptied by this stage only
        out = set_column(batch, schema.TEXT, pa.array(texts, pa.string()))
        out = set_column(out, "line_dedup_lines_removed", pa.array(removed, pa.int64()))
        outcome = Outcome.from_decisions(out, reasons)
        outcome.counters = {
            "line_dedup_lines_removed": lines_removed,
            "line_dedup_chars_removed": chars_removed,
            "line_dedup_docs_changed": changed,
        }
        return outcome
