"""Fuzzy dedup: signatures vs datasketch, distributed components vs scipy, reasons, accuracy, runner end to end."""

from __future__ import annotations

import gzip
import json
import random
import zipfile

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from winnow.filters.dedup.accuracy import pairwise_scores, plant_near_duplicates, true_clusters
from winnow.filters.dedup.common import read_dir
from winnow.filters.dedup.components import connected_components, write_edges
from winnow.filters.dedup.fuzzy import MinhashDedupParams, MinhashDedupStage
from winnow.filters.dedup.common import mix64
from winnow.filters.dedup.signatures import _SHINGLE_MULT, shingle_hashes, text_signatures, tokenize, word_hashes
from winnow.pipeline import schema
from winnow.pipeline.config import load_config
from winnow.pipeline.corpus import Corpus
from winnow.pipeline.executors import LocalExecutor
from winnow.pipeline.report import cluster_sizes
from winnow.pipeline.runner import run_pipeline
from tests.filters.test_dedup import fit_apply, merged


def real_texts(shared_data, domains=("web", "forum_qa"), limit=400) -> list[str]:
    out = []
    for d in domains:
        with gzip.open(shared_data / "domains" / f"{d}.jsonl.gz", "rt") as f:
            out += [json.loads(line)["text"] for line in f]
    random.Random(0).shuffle(out)
    return [t for t in out if len(t.split()) >= 50][:limit]


def test_signatures_agree_with_datasketch(shared_data):
    from datasketch import MinHash

    texts = real_texts(shared_data, limit=12)
    rng = random.Random(3)
    pairs = []
    for t in texts:
        words = t.split(" ")
        for _ in range(max(1, len(words) // 15)):  # roughly 0.6-0.9 Jaccard after edits
            del words[rng.randrange(len(words))]
        pairs.append((t, " ".join(words)))
    ours, theirs, exact = [], [], []
    for a, b in pairs:
        sig, _ = text_signatures([a, b], 5, 256, 1, 10**6)
        ours.append(float((sig[0] == sig[1]).mean()))
        sets = []
        for text in (a, b):
            toks = tokenize(text, 10**6)
            sets.append({" ".join(toks[i : i + 5]) for i in range(len(toks) - 4)})
        m = [MinHash(num_perm=256, seed=1) for _ in range(2)]
        for mh, s in zip(m, sets):
            mh.update_batch([x.encode() for x in s])
        theirs.append(m[0].jaccard(m[1]))
        exact.append(len(sets[0] & sets[1]) / len(sets[0] | sets[1]))
    ours, theirs, exact = map(np.array, (ours, theirs, exact))
    assert np.abs(ours - theirs).max() < 0.12  # two independent estimators of the same Jaccard
    assert np.abs(ours - exact).mean() < 0.04 and np.abs(theirs - exact).mean() < 0.04
    assert exact.min() < 0.9 and exact.max() > 0.3  # the pairs span a real range


def udhr_texts(shared_data) -> list[str]:
    """The Universal Declaration in every script the archive has as UTF-8 (Han, kana, Devanagari, Arabic…)."""
    with zipfile.ZipFile(shared_data / "langid" / "udhr.zip") as z:
        return [z.read(n).decode("utf-8", "replace") for n in sorted(z.namelist()) if n.endswith("-UTF8")]


def test_word_hashes_split_as_the_regex_does(shared_data):
    edge = ["", "İstanbul 東京タワー・ab_c x\u0301y", "𝐀𝐁 𠀋x 😀hi \ud800 a\0b 𐐀𐐨 𐐨𐐨", "Σ. ΣΟΦΟΣ σοφος ΟΣ", "", "z"]
    texts = udhr_texts(shared_data) + real_texts(shared_data, limit=200) + edge
    for max_chars in (40, 10**6):
        hashes, lens = word_hashes(texts, max_chars)
        tokens = [tokenize(t, max_chars) for t in texts]
        assert lens.tolist() == [len(t) for t in tokens]
        by_token: dict[str, int] = {}
        for token, h in zip((w for ws in tokens for w in ws), hashes.tolist()):
            assert by_token.setdefault(token, h) == h, token  # equal words, equal hashes
        assert len(set(by_token.values())) == len(by_token)  # and no two distinct words share one
    assert len(by_token) > 20_000 and any(len(t) > 2000 for t in tokens)  # the whole texts, last pass
    assert word_hashes(["", ""], 10)[1].tolist() == [0, 0]


def test_shingles_stay_inside_their_document():
    rng = np.random.default_rng(0)
    for _ in range(100):  # documents of 0-8 words, many shorter than a shingle, side by side in one buffer
        lens = rng.integers(0, 9, rng.integers(1, 12))
        words = rng.integers(0, 2**63, int(lens.sum()), dtype=np.int64).view(np.uint64)
        got, counts = shingle_hashes(words, lens, 5)
        expected, start = [], 0
        for n in lens.tolist():
            for i in range(n - 4):
                acc = np.uint64(0)
                with np.errstate(over="ignore"):
                    for w in words[start + i : start + i + 5]:
                        acc = acc * _SHINGLE_MULT + w
                expected.append(acc)
            start += n
        assert counts.tolist() == [max(0, n - 4) for n in lens.tolist()]
        assert got.tolist() == mix64(np.array(expected, np.uint64)).tolist()


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_distributed_components_match_scipy(tmp_path, seed):
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import connected_components as scipy_cc

    rng = np.random.default_rng(seed)
    n = 600
    a, b = rng.integers(0, n, 500), rng.integers(0, n, 500)
    if seed == 2:  # a long path, the worst case for label propagation
        a = rng.permutation(n)[:-1]
        b = np.roll(a, 1)[:-1]
        a = a[1:]
    write_edges(str(tmp_path / "cc"), 0, "init", a, b, 3, both=True)
    corpus = Corpus(units={}, state_dir=str(tmp_path), executor=LocalExecutor())
    stats = connected_components(
        corpus, str(tmp_path / "cc"), 3, str(tmp_path / "labels"), [0, 200, 400], ["00000", "00001", "00002"]
    )
    labels = {}
    for u in ("00000", "00001", "00002"):
        t = read_dir(str(tmp_path / "labels" / f"u{u}"))
        if t is not None:
            labels.update(zip(t["gid"].to_pylist(), t["root"].to_pylist()))
    _, comp = scipy_cc(coo_matrix((np.ones(len(a)), (a, b)), shape=(n, n)), directed=False)
    nodes = {int(x) for x, y in zip(a, b) if x != y} | {int(y) for x, y in zip(a, b) if x != y}
    smallest = {}
    for x in range(n):
        smallest.setdefault(comp[x], x)
    assert set(labels) == nodes
    assert all(labels[x] == smallest[comp[x]] for x in nodes)
    assert stats["rounds"] >= 1


def test_params_refuse_inconsistent_banding():
    with pytest.raises(ValueError, match="num_perm"):
        MinhashDedupParams(bands=30, rows=5, num_perm=128)
    with pytest.raises(ValueError, match="min_words"):
        MinhashDedupParams(min_words=3)


def test_minhash_dedup_reasons_cluster_and_survivor(tmp_path, shared_data):
    texts = real_texts(shared_data, limit=40)
    records = [{"id": f"d{i:03d}", "text": t, "q": 0.0} for i, t in enumerate(texts)]
    records.append({"id": "z-copy", "text": texts[0].replace(" ", "  ", 3) + " and one more sentence", "q": 1.0})
    records.append({"id": "a-copy", "text": "Menu | Home\n" + texts[1], "q": None})
    records += [
        {"id": "short", "text": "just a few words"},
        {"id": "empty", "text": ""},
        {"id": "short2", "text": "just a few words"},
    ]
    stage = MinhashDedupStage(score_column="q", partitions=3)
    kept, reasons, counters = merged(fit_apply(stage, tmp_path, records, n_units=3, budget_mb=16))
    assert reasons["d000"] == "minhash_dedup_duplicate"  # z-copy has the higher score
    assert reasons["a-copy"] == "minhash_dedup_duplicate"  # no score ranks last
    assert reasons == {"d000": "minhash_dedup_duplicate", "a-copy": "minhash_dedup_duplicate"}
    clusters = dict(zip(kept[schema.ID].to_pylist(), kept["dup_cluster"].to_pylist()))
    assert clusters["z-copy"] == "z-copy" and clusters["d001"] == "d001" and clusters["d005"] is None
    # too short to compare: kept by default, outside any cluster (identical short texts are exact_dedup's job)
    assert clusters["short"] is clusters["short2"] is clusters["empty"] is None
    copies = dict(zip(kept[schema.ID].to_pylist(), kept["minhash_dedup_copies"].to_pylist()))
    assert (copies["z-copy"], copies["d001"], copies["d005"], copies["short"]) == (2, 2, 1, 1)
    assert counters["minhash_dedup_too_short_kept"] == 3
    assert counters["minhash_dedup_fit_partitions"] == 3 and counters["minhash_dedup_fit_peak_rss_mb"] > 0


def test_minhash_dedup_drops_too_short_only_when_asked(tmp_path, shared_data):
    texts = real_texts(shared_data, limit=2)
    words = tokenize(texts[1], 10**6)  # the stage's own word count
    records = [
        {"id": "long", "text": texts[0]},
        {"id": "nine", "text": " ".join(words[:9])},  # one word under min_words
        {"id": "ten", "text": " ".join(words[:10])},
        {"id": "empty", "text": ""},
    ]
    kept, reasons, counters = merged(fit_apply(MinhashDedupStage(too_short="drop"), tmp_path, records))
    assert reasons == {"nine": "minhash_dedup_too_short", "empty": "minhash_dedup_too_short"}
    assert sorted(kept[schema.ID].to_pylist()) == ["long", "ten"]
    assert "minhash_dedup_too_short_kept" not in counters


def test_minhash_too_short_keep_mode_and_long_text_cap(tmp_path, shared_data):
    texts = real_texts(shared_data, limit=3)
    long_a = " ".join(texts) + " tail A " * 50
    long_b = " ".join(texts) + " completely different ending B " * 50
    records = [{"id": "a", "text": long_a}, {"id": "b", "text": long_b}, {"id": "s", "text": "tiny"}]
    cap = len(" ".join(texts))  # both are hashed on the shared prefix only: the documented rule
    stage = MinhashDedupStage(too_short="keep", max_chars=cap)
    _, reasons, counters = merged(fit_apply(stage, tmp_path, records, n_units=1))
    assert reasons == {"b": "minhash_dedup_duplicate"}
    assert counters["minhash_dedup_truncated"] == 2 and counters["minhash_dedup_too_short_kept"] == 1


@pytest.mark.parametrize("threshold", [0.8, MinhashDedupParams().threshold])
def test_accuracy_on_planted_near_duplicates(tmp_path, shared_data, threshold):
    recs = plant_near_duplicates(real_texts(shared_data, limit=300), 360, dup_fraction=0.35, seed=2)
    truth = true_clusters([r["text"] for r in recs], threshold)
    outcomes = fit_apply(
        MinhashDedupStage(threshold=threshold), tmp_path, [{"id": r["id"], "text": r["text"]} for r in recs], 3
    )
    pred = {}
    for o in outcomes.values():
        for t in (o.kept, o.dropped):
            if t is not None:
                pred.update((i, c or i) for i, c in zip(t[schema.ID].to_pylist(), t["dup_cluster"].to_pylist()))
    scores = pairwise_scores(list(truth), [pred[r["id"]] for r in recs])
    assert scores["true_pairs"] > 50
    assert scores["f1"] >= 0.93, scores


DEDUP_CONFIG = """
inputs: [{input}]
output: {output}
engine: {{executor: {executor}, memory_budget_mb: 64, object_store_memory_mb: 256}}
stages:
  - name: exact_dedup
  - name: minhash_dedup
    partitions: 2
"""


def _write_jsonl(path, shared_data):
    texts = real_texts(shared_data, limit=60)
    with open(path, "w") as f:
        for i, t in enumerate(texts):
            f.write(json.dumps({"id": i, "text": t}) + "\n")
            if i % 10 == 0:
                f.write(json.dumps({"id": f"{i}x", "text": t}) + "\n")  # exact copy
                f.write(json.dumps({"id": f"{i}y", "text": "Cookie notice.\n" + t}) + "\n")  # near copy
        for i, short in enumerate(["Thanks, that worked!", "thanks,  that worked!", "See the answer above."]):
            f.write(json.dumps({"id": f"s{i}", "text": short}) + "\n")  # too short for MinHash; exact dedup sees them


def _run(tmp_path, shared_data, executor):
    inp = tmp_path / "in"
    inp.mkdir()
    _write_jsonl(inp / "a.jsonl", shared_data)
    config = load_config(text=DEDUP_CONFIG.format(input=inp / "*.jsonl", output=tmp_path / "out", executor=executor))
    result = run_pipeline(config)
    assert result.balanced, result.problems
    stages = {s["name"]: s for s in result.stats["stages"]}
    assert stages["exact_dedup"]["dropped"] == {"exact_dedup_duplicate": 7}
    assert stages["minhash_dedup"]["dropped"] == {"minhash_dedup_duplicate": 6}
    docs = pq.read_table(tmp_path / "out" / "documents").to_pylist()
    assert len(docs) == 62 and sum(d["dup_cluster"] is not None for d in docs) == 6
    # report.html's cluster histogram: one survivor per cluster, sized; its duplicates are the dropped rows
    sizes = cluster_sizes(pa.Table.from_pylist(docs), "minhash_dedup_copies")
    assert len(sizes) == 6 and sum(n - 1 for n in sizes) == 6
    # exact_dedup's clusters count where their survivor reached documents/ (minhash_dedup dropped some after)
    assert 0 < sum(n - 1 for n in cluster_sizes(pa.Table.from_pylist(docs), "exact_dedup_copies")) <= 7
    page = (tmp_path / "out" / "report.html").read_text()
    assert "Duplicate clusters (minhash_dedup)" in page and "Duplicate clusters (exact_dedup)" in page
    texts = [d["text"] for d in docs]
    assert "See the answer above." in texts and sum(t.lower().startswith("thanks,") for t in texts) == 1


def test_end_to_end_local(tmp_path, shared_data):
    _run(tmp_path, shared_data, "local")


@pytest.mark.slow
def test_end_to_end_ray(tmp_path, shared_data, ray_session):
    _run(tmp_path, shared_data, "ray")
