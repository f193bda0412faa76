"""Fuzzy dedup (`minhash_dedup`): MinHash signatures, LSH buckets shuffled to disk, verified candidate pairs,
distributed connected components, one survivor per cluster.

fit runs these steps, each a set of tasks over units or partitions (Ray tasks with the Ray executor):
  1. sign (per unit): word k-shingles → signatures; band keys spilled into hash partitions of `buckets/`.
  2. bucket (per partition): documents sharing a band key → candidate pairs (star: smallest gid → others).
  3. verify (per unit, two hops): a candidate is kept when its signatures agree on ≥ threshold of their
     positions, so the S-curve's false positives do not reach the clusters.
  4. components (per partition, a few rounds): see components.py.
  5. survivors (per partition of clusters): highest `score_column`, then smallest id; per-unit member files.
apply then drops the non-survivors of each unit and writes `dup_cluster` (the survivor's id).
"""

from __future__ import annotations

import json
from typing import Literal

import numpy as np
import pyarrow as pa
from pydantic import model_validator

from winnow.filters.dedup.common import (
    INDEX_OVERHEAD_BYTES,
    GROUP,
    SCORE,
    UNIT,
    Budget,
    MemberIndex,
    SpillWriter,
    iter_batches,
    partition_of,
    peak_rss_mb,
    read_dir,
    scores_of,
    split_rows,
    survivor_task,
    unit_index,
    write_state,
)
from winnow.filters.dedup.components import connected_components, unique_pairs, write_edges
from winnow.filters.dedup.signatures import band_keys, text_signatures
from winnow.pipeline import parquet_io, schema, storage
from winnow.pipeline.corpus import Corpus
from winnow.pipeline.registry import register_stage
from winnow.pipeline.stage import GlobalStage, Outcome, StageParams, set_column

OK, TOO_SHORT, TRUNCATED = 0, 1, 2
DUP_CLUSTER = "dup_cluster"
COPIES = "minhash_dedup_copies"  # the size of the document's cluster, as exact_dedup_copies


class MinhashDedupParams(StageParams):
    # threshold: two documents are joined when their signatures agree on at least this share of the num_perm
    # positions, an estimate (±0.04 at 128) of the Jaccard similarity of their word-shingle sets. At 0.6 two
    # texts of equal length share 3/4 of their 5-grams; a page re-crawled with 2-3 % of its words changed (each
    # change breaks five 5-grams) and a navigation and a footer line added sits mostly at 0.7-0.8 from its original.
    # Clusters are connected components: two edited copies (0.65-0.75 apart) join through their original.
    # Chosen on the "tune" split of filters/dedup/planted.py (bench/dedup.py --sweep): groups left with one
    # document 0.16 at 0.8, 0.92 at 0.7, 0.99 at 0.65, 0.997 at 0.6; distinct same-site pages all kept down to 0.5.
    threshold: float = 0.6
    shingle_size: int = 5  # words per shingle
    num_perm: int = 128  # signature length; the first bands × rows positions feed LSH, all of them verify
    # LSH: a pair at Jaccard s becomes a candidate with probability 1 - (1 - s^rows)^bands; 32 × 4 gives 0.988
    # at s = 0.6 and 0.23 at s = 0.3 (retune both when moving the threshold far from 0.6).
    bands: int = 32
    rows: int = 4
    seed: int = 1
    verify: bool = True  # keep an LSH candidate only if its signatures agree on ≥ threshold of positions
    min_words: int = 10  # fewer words: no signature, so never a duplicate (exact_dedup still sees them)
    # keep: too-short documents pass (counted as minhash_dedup_too_short_kept); drop: they are dropped with the
    # reason minhash_dedup_too_short, for corpora that want no fragments (a filter's job, opted into here)
    too_short: Literal["keep", "drop"] = "keep"
    max_chars: int = 1_000_000  # longer texts are hashed on their first max_chars characters (counted)
    score_column: str | None = None  # survivor: highest value here (missing ranks last), then the smallest id
    partitions: int | None = None  # shuffle partitions; default derived from engine.memory_budget_mb

    @model_validator(mode="after")
    def _check(self):
        if self.bands * self.rows > self.num_perm:
            raise ValueError(f"bands × rows ({self.bands * self.rows}) must not exceed num_perm ({self.num_perm})")
        if self.min_words < self.shingle_size:
            raise ValueError(f"min_words ({self.min_words}) must be at least shingle_size ({self.shingle_size})")
        if not 0 < self.threshold <= 1:
            raise ValueError("threshold must be in (0, 1]")
        return self


def _sig_column(sig: np.ndarray) -> pa.Array:
    return pa.FixedSizeListArray.from_arrays(pa.array(sig.ravel(), pa.uint32()), sig.shape[1])


def _sig_matrix(col, num_perm: int) -> np.ndarray:
    return col.combine_chunks().flatten().to_numpy().reshape(-1, num_perm)


def sign_task(unit: str, path: str, offset: int, p: dict, state_dir: str, n_parts: int, rows: int, spill: int) -> dict:
    columns = [schema.ID, schema.TEXT] + ([p["score_column"]] if p["score_column"] else [])
    buckets = SpillWriter(storage.join(state_dir, "buckets"), f"u{unit}", spill)
    metas, sigs = [], []
    seen = 0
    for t in iter_batches(path, columns, rows):
        texts = [x or "" for x in t[schema.TEXT].to_pylist()]
        sig, lens = text_signatures(texts, p["shingle_size"], p["num_perm"], p["seed"], p["max_chars"])
        status = np.where(lens < p["min_words"], TOO_SHORT, OK)
        status[(status == OK) & (np.fromiter(map(len, texts), np.int64, len(texts)) > p["max_chars"])] = TRUNCATED
        gid = offset + seen + np.arange(t.num_rows, dtype=np.int64)
        seen += t.num_rows
        metas.append(
            pa.table(
                {
                    schema.ID: t[schema.ID],
                    SCORE: scores_of(t, p["score_column"]),
                    "status": pa.array(status, pa.int8()),
                }
            )
        )
        ok = status != TOO_SHORT
        if not ok.any():
            continue
        sigs.append(pa.table({"gid": pa.array(gid[ok]), "sig": _sig_column(sig[ok])}))
        keys = band_keys(sig[ok], p["bands"], p["rows"])
        k = keys.ravel()
        g = np.repeat(gid[ok], p["bands"])
        table = pa.table({"key": pa.array(k.view(np.int64)), "gid": pa.array(g)})
        for q, part in split_rows(table, partition_of(k, n_parts)):
            buckets.add(f"p{q:04d}", part)
    buckets.flush()
    write_state(
        storage.join(state_dir, "meta", f"u{unit}.parquet"),
        parquet_io.concat(metas)
        if metas
        else pa.table(
            {
                schema.ID: pa.array([], pa.string()),
                SCORE: pa.array([], pa.float64()),
                "status": pa.array([], pa.int8()),
            }
        ),
    )
    if sigs:
        write_state(storage.join(state_dir, "sigs", f"u{unit}.parquet"), pa.concat_tables(sigs))
    return {"rows": seen, "peak_rss_mb": peak_rss_mb()}


def bucket_task(state_dir: str, q: int, offsets: list[int], unit_keys: list[str], verify: bool, n_parts: int) -> dict:
    t = read_dir(storage.join(state_dir, "buckets", f"p{q:04d}"))
    if t is None:
        return {"candidates": 0, "peak_rss_mb": peak_rss_mb()}
    key, gid = t["key"].to_numpy(), t["gid"].to_numpy()
    order = np.argsort(key)
    key, gid = key[order], gid[order]
    # every document sharing a bucket key is paired with the smallest document of that bucket
    starts = np.concatenate([[0], np.flatnonzero(key[1:] != key[:-1]) + 1])
    smallest = np.repeat(np.minimum.reduceat(gid, starts), np.diff(np.append(starts, len(key))))
    others = gid != smallest
    a, b = unique_pairs(smallest[others], gid[others])
    if verify:
        table = pa.table({"a": pa.array(a, pa.int64()), "b": pa.array(b, pa.int64())})
        for u, part in split_rows(table, unit_index(offsets, a)):
            write_state(storage.join(state_dir, "cand", f"u{unit_keys[u]}", f"p{q:04d}.parquet"), part)
    else:
        write_edges(storage.join(state_dir, "cc"), 0, f"p{q:04d}", a, b, n_parts, both=True)
    return {"candidates": len(a), "peak_rss_mb": peak_rss_mb()}


def _unit_sigs(state_dir: str, unit: str, num_perm: int) -> tuple[np.ndarray, np.ndarray]:
    t = parquet_io.read_parquet(storage.join(state_dir, "sigs", f"u{unit}.parquet"))
    return t["gid"].to_numpy(), _sig_matrix(t["sig"], num_perm)


def verify_out_task(unit: str, state_dir: str, offsets: list[int], unit_keys: list[str], num_perm: int) -> dict:
    """First hop: attach the signature of each candidate's first document (held by this unit)."""
    t = read_dir(storage.join(state_dir, "cand", f"u{unit}"))
    if t is None:
        return {"peak_rss_mb": peak_rss_mb()}
    a, b = unique_pairs(t["a"].to_numpy(), t["b"].to_numpy())
    gids, sig = _unit_sigs(state_dir, unit, num_perm)
    table = pa.table({"a": pa.array(a), "b": pa.array(b), "sig_a": _sig_column(sig[np.searchsorted(gids, a)])})
    for u, part in split_rows(table, unit_index(offsets, b)):
        write_state(storage.join(state_dir, "cand2", f"u{unit_keys[u]}", f"from-u{unit}.parquet"), part)
    return {"peak_rss_mb": peak_rss_mb()}


def verify_in_task(unit: str, state_dir: str, threshold: float, num_perm: int, n_parts: int) -> dict:
    """Second hop: compare with the second document's signature; verified pairs become component edges."""
    t = read_dir(storage.join(state_dir, "cand2", f"u{unit}"))
    if t is None:
        return {"verified": 0, "peak_rss_mb": peak_rss_mb()}
    a, b = t["a"].to_numpy(), t["b"].to_numpy()
    gids, sig = _unit_sigs(state_dir, unit, num_perm)
    agree = (_sig_matrix(t["sig_a"], num_perm) == sig[np.searchsorted(gids, b)]).mean(axis=1)
    ok = agree >= threshold
    write_edges(storage.join(state_dir, "cc"), 0, f"u{unit}", a[ok], b[ok], n_parts, both=True)
    return {"verified": int(ok.sum()), "peak_rss_mb": peak_rss_mb()}


def attach_task(unit: str, state_dir: str, offset: int, n_parts: int) -> dict:
    """Cluster members of this unit, with id and score, shuffled by cluster root for the survivor choice."""
    labels = read_dir(storage.join(state_dir, "labels", f"u{unit}"))
    if labels is None:
        return {"peak_rss_mb": peak_rss_mb()}
    meta = parquet_io.read_parquet(storage.join(state_dir, "meta", f"u{unit}.parquet"))
    rows = pa.array(labels["gid"].to_numpy() - offset)
    root = labels["root"].to_numpy()
    table = pa.table(
        {
            GROUP: pa.array(root),
            schema.ID: meta[schema.ID].take(rows),
            UNIT: pa.array([unit] * len(root), pa.string()),
            SCORE: meta[SCORE].take(rows),
        }
    )
    for q, part in split_rows(table, partition_of(root, n_parts)):
        write_state(storage.join(state_dir, "groups", f"q{q:04d}", f"u{unit}.parquet"), part)
    return {"peak_rss_mb": peak_rss_mb()}


@register_stage("minhash_dedup")
class MinhashDedupStage(GlobalStage):
    """Near-duplicate removal by MinHash-LSH; clusters are connected components of verified similar pairs."""

    Params = MinhashDedupParams
    adds_columns = {DUP_CLUSTER: pa.string(), COPIES: pa.int64()}
    reasons = ("minhash_dedup_duplicate", "minhash_dedup_too_short")
    cluster_size_column = COPIES
    reads = (schema.ID, schema.TEXT)  # and score_column, to pick survivors

    def __init__(self, params=None, **kwargs):
        super().__init__(params, **kwargs)
        self._members = MemberIndex()
        self._status: tuple[str | None, dict[str, int]] = (None, {})
        self._reported: set[str] = set()

    def index_bytes_per_document(self) -> int:
        return self.params.num_perm * 8 + INDEX_OVERHEAD_BYTES  # one 64-bit value per permutation

    def fit(self, corpus: Corpus) -> None:
        assert self.state_dir is not None
        p, sd = self.params, self.state_dir
        budget = Budget(corpus.memory_budget_mb, corpus.num_cpus)
        unit_keys = sorted(corpus.units)
        counts = [parquet_io.count_rows([corpus.units[u]]) for u in unit_keys]
        offsets = [0] + np.cumsum(counts).tolist()
        total = offsets[-1]
        # bucket records: 16 bytes × bands per document; signatures and edges are smaller than that
        n_parts = budget.partitions(total * 16 * p.bands, p.partitions)
        sign_args = (p.model_dump(), sd, n_parts, budget.batch_rows(8192), budget.spill_bytes)
        signed = corpus.map_items(
            sign_task, [(u, corpus.units[u], offsets[i], *sign_args) for i, u in enumerate(unit_keys)]
        )
        bucketed = corpus.map_items(
            bucket_task, [(sd, q, offsets, unit_keys, p.verify, n_parts) for q in range(n_parts)]
        )
        peaks = [x["peak_rss_mb"] for x in signed + bucketed]
        verified = sum(x["candidates"] for x in bucketed)
        if p.verify:
            outs = corpus.map_items(verify_out_task, [(u, sd, offsets, unit_keys, p.num_perm) for u in unit_keys])
            ins = corpus.map_items(verify_in_task, [(u, sd, p.threshold, p.num_perm, n_parts) for u in unit_keys])
            peaks += [x["peak_rss_mb"] for x in outs + ins]
            verified = sum(x["verified"] for x in ins)
        cc = connected_components(
            corpus, storage.join(sd, "cc"), n_parts, storage.join(sd, "labels"), offsets, unit_keys
        )
        attached = corpus.map_items(attach_task, [(u, sd, offsets[i], n_parts) for i, u in enumerate(unit_keys)])
        groups_dir, members_dir = storage.join(sd, "groups"), storage.join(sd, "members")
        survived = corpus.map_items(survivor_task, [(groups_dir, members_dir, q) for q in range(n_parts)])
        peaks += [cc["peak_rss_mb"]] + [x["peak_rss_mb"] for x in attached + survived]
        for tmp in ("buckets", "cand", "cand2", "cc"):
            storage.delete_dir(storage.join(sd, tmp))
        stats = {
            "documents": total,
            "partitions": n_parts,
            "candidate_pairs": sum(x["candidates"] for x in bucketed),
            "verified_pairs": verified,
            "cc_rounds": cc["rounds"],
            "clusters": sum(x["groups"] for x in survived),
            "duplicates": sum(x["duplicates"] for x in survived),
            "peak_rss_mb_tasks": max(peaks or [0.0]),
            "peak_rss_mb_driver": peak_rss_mb(),
            "report_unit": next((u for u, c in zip(unit_keys, counts) if c), None),
        }
        storage.write_atomic(storage.join(sd, "fit_stats.json"), json.dumps(stats, indent=1).encode())

    def _unit_status(self, unit: str) -> dict[str, int]:
        if self._status[0] != unit:
            t = parquet_io.read_parquet(storage.join(self.state_dir, "meta", f"u{unit}.parquet"))
            status = {i: s for i, s in zip(t[schema.ID].to_pylist(), t["status"].to_pylist()) if s != OK}
            self._status = (unit, status)
        return self._status[1]

    def apply(self, batch: pa.Table, unit: str) -> Outcome:
        members = self._members.load(storage.join(self.state_dir, "members"), unit)
        status = self._unit_status(unit)
        reasons: list[str | None] = []
        clusters: list[str | None] = []
        sizes: list[int] = []
        counters = {"minhash_dedup_truncated": 0, "minhash_dedup_too_short_kept": 0}
        for doc_id in batch[schema.ID].to_pylist():
            member = members.get(doc_id)
            st = status.get(doc_id, OK)
            clusters.append(member[0] if member else None)
            sizes.append(member[1] if member else 1)
            counters["minhash_dedup_truncated"] += st == TRUNCATED
            if st == TOO_SHORT:
                if self.params.too_short == "drop":
                    reasons.append("minhash_dedup_too_short")
                    continue
                counters["minhash_dedup_too_short_kept"] += 1
            reasons.append("minhash_dedup_duplicate" if member is not None and not member[2] else None)
        out = set_column(batch, DUP_CLUSTER, pa.array(clusters, pa.string()))
        out = set_column(out, COPIES, pa.array(sizes, pa.int64()))
        outcome = Outcome.from_decisions(out, reasons)
        outcome.counters = {k: v for k, v in counters.items() if v} | self._fit_counters(unit)
        return outcome

    def _fit_counters(self, unit: str) -> dict[str, int]:
        """The fit's figures (peak memory, rounds), reported once per run through the first non-empty unit."""
        if unit in self._reported:
            return {}
        self._reported.add(unit)
        stats = json.loads(storage.read_bytes(storage.join(self.state_dir, "fit_stats.json")))
        if stats.get("report_unit") != unit:
            return {}
        return {
            "minhash_dedup_fit_peak_rss_mb": int(max(stats["peak_rss_mb_tasks"], stats["peak_rss_mb_driver"])),
            "minhash_dedup_fit_partitions": stats["partitions"],
            "minhash_dedup_fit_cc_rounds": stats["cc_rounds"],
            "minhash_dedup_fit_clusters": stats["clusters"],
        }
