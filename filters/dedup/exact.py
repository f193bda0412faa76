"""Exact dedup on normalised text (`exact_dedup`) and on normalised URL (`url_dedup`): one survivor per group."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import ClassVar
from urllib.parse import urlsplit

import numpy as np
import pyarrow as pa

from winnow.filters.dedup.common import (
    INDEX_OVERHEAD_BYTES,
    GROUP,
    SCORE,
    UNIT,
    Budget,
    MemberIndex,
    SpillWriter,
    hash64,
    iter_batches,
    normalise_text,
    partition_of,
    peak_rss_mb,
    scores_of,
    split_rows,
    survivor_task,
)
from winnow.pipeline import parquet_io, schema, storage
from winnow.pipeline.corpus import Corpus
from winnow.pipeline.registry import register_stage
from winnow.pipeline.stage import GlobalStage, Outcome, StageParams, set_column

BYTES_PER_GROUP_ROW = 80  # group hash, 24-character id, unit key, score, Arrow overhead


class KeyDedupParams(StageParams):
    score_column: str | None = None  # survivor: highest value here (missing ranks last), then the smallest id
    partitions: int | None = None  # shuffle partitions; default derived from engine.memory_budget_mb


def text_key(text: str | None, url: str | None) -> int | None:
    if text is None or not text.strip():
        return None
    return hash64(normalise_text(text))


def normalise_url(url: str) -> str:
    """Same page, same key: scheme, case of the host, default port, fragment and a trailing slash are ignored."""
    try:
        parts = urlsplit(url.strip())
        port = parts.port  # parsed lazily: a port out of range or not a number raises here
    except ValueError:  # not a URL Python can take apart: the string itself is the key
        return url.strip()
    host = (parts.hostname or "").lower()
    if port and port not in (80, 443):
        host = f"{host}:{port}"
    path = parts.path.rstrip("/") or "/"
    return f"{host}{path}" + (f"?{parts.query}" if parts.query else "")


def url_key(text: str | None, url: str | None) -> int | None:
    if not url or not url.strip():
        return None
    return hash64(normalise_url(url))


KEY_FUNCTIONS: dict[str, Callable[[str | None, str | None], int | None]] = {"text": text_key, "url": url_key}


def hash_unit_task(
    unit: str,
    path: str,
    kind: str,
    score_column: str | None,
    state_dir: str,
    n_parts: int,
    batch_rows: int,
    spill: int,
) -> dict:
    """Per unit: the group key of every document, spilled into hash partitions (the shuffle's map side)."""
    key_fn = KEY_FUNCTIONS[kind]
    columns = [schema.ID, schema.TEXT, schema.URL] + ([score_column] if score_column else [])
    out = SpillWriter(storage.join(state_dir, "groups"), f"u{unit}", spill)
    rows = 0
    for t in iter_batches(path, columns, batch_rows):
        rows += t.num_rows
        keys = [key_fn(x, u) for x, u in zip(t[schema.TEXT].to_pylist(), t[schema.URL].to_pylist())]
        valid = np.array([k is not None for k in keys], dtype=bool)
        if not valid.any():
            continue
        t = t.filter(pa.array(valid))
        k = np.array([x for x in keys if x is not None], dtype=np.uint64)
        groups = pa.table(
            {
                GROUP: pa.array(k.view(np.int64)),
                schema.ID: t[schema.ID],
                UNIT: pa.array([unit] * t.num_rows, pa.string()),
                SCORE: scores_of(t, score_column),
            }
        )
        for q, part in split_rows(groups, partition_of(k, n_parts)):
            out.add(f"q{q:04d}", part)
    out.flush()
    return {"rows": rows, "files": out.files, "peak_rss_mb": peak_rss_mb()}


class KeyDedupStage(GlobalStage):
    """Drops every document whose key (normalised text or URL) another document shares, but one survivor."""

    Params = KeyDedupParams
    kind: ClassVar[str] = "text"
    reads = (schema.ID, schema.TEXT, schema.URL)  # and score_column, to pick survivors

    def __init__(self, params=None, **kwargs):
        super().__init__(params, **kwargs)
        self._members = MemberIndex()

    def index_bytes_per_document(self) -> int:
        return 16 + INDEX_OVERHEAD_BYTES  # one 128-bit key hash per document

    def fit(self, corpus: Corpus) -> None:
        assert self.state_dir is not None
        budget = Budget(corpus.memory_budget_mb, corpus.num_cpus)
        rows = parquet_io.count_rows([corpus.units[u] for u in sorted(corpus.units)])
        n_parts = budget.partitions(rows * BYTES_PER_GROUP_ROW, self.params.partitions)
        batch_rows = budget.batch_rows(4096)
        groups_dir = storage.join(self.state_dir, "groups")
        members_dir = storage.join(self.state_dir, "members")
        args = (self.kind, self.params.score_column, self.state_dir, n_parts, batch_rows, budget.spill_bytes)
        mapped = corpus.map(hash_unit_task, args)
        reduced = corpus.map_items(survivor_task, [(groups_dir, members_dir, q) for q in range(n_parts)])
        stats = {
            "documents": rows,
            "partitions": n_parts,
            "groups": sum(r["groups"] for r in reduced),
            "duplicates": sum(r["duplicates"] for r in reduced),
            "peak_rss_mb_tasks": max([r["peak_rss_mb"] for r in [*mapped.values(), *reduced]] or [0.0]),
            "peak_rss_mb_driver": peak_rss_mb(),
        }
        storage.write_atomic(storage.join(self.state_dir, "fit_stats.json"), json.dumps(stats, indent=1).encode())

    def apply(self, batch: pa.Table, unit: str) -> Outcome:
        members = self._members.load(storage.join(self.state_dir, "members"), unit)
        key_fn = KEY_FUNCTIONS[self.kind]
        texts = batch[schema.TEXT].to_pylist() if schema.TEXT in batch.column_names else [None] * batch.num_rows
        urls = batch[schema.URL].to_pylist() if schema.URL in batch.column_names else [None] * batch.num_rows
        reasons: list[str | None] = []
        copies: list[int] = []
        no_key = 0
        for doc_id, text, url in zip(batch[schema.ID].to_pylist(), texts, urls):
            member = members.get(doc_id)
            copies.append(member[1] if member else 1)
            if member is not None and not member[2]:
                reasons.append(f"{self.name}_duplicate")
            elif member is None and key_fn(text, url) is None:
                no_key += 1
                reasons.append(self._no_key_reason())
            else:
                reasons.append(None)
        out = set_column(batch, f"{self.name}_copies", pa.array(copies, pa.int64()))
        outcome = Outcome.from_decisions(out, reasons)
        if self.kind == "url" and no_key:
            outcome.counters = {f"{self.name}_no_url": no_key}
        return outcome

    def _no_key_reason(self) -> str | None:
        return f"{self.name}_empty" if self.kind == "text" else None


@register_stage("exact_dedup")
class ExactDedupStage(KeyDedupStage):
    """Exact duplicates of the normalised text (NFKC, case-folded, whitespace collapsed); empty texts dropped."""

    kind = "text"
    adds_columns = {"exact_dedup_copies": pa.int64()}
    cluster_size_column = "exact_dedup_copies"
    reasons = ("exact_dedup_duplicate", "exact_dedup_empty")


@register_stage("url_dedup")
class UrlDedupStage(KeyDedupStage):
    """Documents of the same URL (scheme, host case, fragment, trailing slash ignored); no URL: kept, counted."""

    kind = "url"
    adds_columns = {"url_dedup_copies": pa.int64()}
    cluster_size_column = "url_dedup_copies"
    reasons = ("url_dedup_duplicate",)
