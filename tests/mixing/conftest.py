"""Fixtures for the mixing tests: a tiny fake `winnow run` output built from the real domain samples."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import pytest

TINY_PROXY = {"n_layer": 1, "n_head": 2, "n_embd": 32, "seq_len": 32, "batch_size": 8, "warmup_steps": 2,
              "eval_tokens": 1024}


def write_run_dir(domains_dir: Path, out: Path, domains: list[str], docs: int, chars: int) -> Path:
    """OUT/documents/part-00000.parquet with id, text, domain: what `winnow mix` reads from a run."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    rows = []
    for dom in domains:
        with gzip.open(domains_dir / f"{dom}.jsonl.gz", "rt", encoding="utf-8") as f:
            for i, line in enumerate(f):
                if i >= docs:
                    break
                r = json.loads(line)
                rows.append({"id": r["id"], "text": r["text"][:chars], "domain": dom})
    (out / "documents").mkdir(parents=True, exist_ok=True)
    pq.write_table(pa.Table.from_pylist(rows), out / "documents" / "part-00000.parquet")
    return out


@pytest.fixture(scope="session")
def tiny_run(shared_data: Path, tmp_path_factory) -> Path:
    return write_run_dir(shared_data / "domains", tmp_path_factory.mktemp("run"), ["wiki", "code", "web"], 40, 1500)


def tiny_config(run: Path, out: Path, **extra) -> dict:
    cfg = {
        "documents": str(run),
        "output": str(out),
        "cache_dir": str(out / "cache"),
        "vocab_size": 300,
        "heldout_fraction": 0.2,
        "targets": [{"domain": "web"}],
        # fixed size: the adaptive rounds have tests of their own (test_adaptive.py)
        "swarm": {"num_mixtures": 5, "tokens_per_proxy": 4000, "adaptive": False, "noise_seeds": 2},
        "proxy": dict(TINY_PROXY),
        "optimiser": {"samples": 500, "top_k": 10},
        "validation": {"seeds": 2},
        "regression": {"folds": 3},
        "engine": {"executor": "local"},
    }
    cfg.update(extra)
    return cfg
