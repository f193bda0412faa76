"""Fuzz drill: 1,000 mutated WARC, WET, WAT, JSONL, Parquet and PDF inputs plus decompression bombs in one run.

No crash, no hang past the configured caps, memory bounded despite the bombs, the funnel balanced, and every
input file accounted for: the rows it produced in documents/, rejected/ and errors/ add up to what was read.
"""

from __future__ import annotations

import hashlib
import json
import re
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from _fuzz_mutants import COUNTS, MIB, write_bombs, write_corpus
from _fuzz_rss import PeakRSS

pytestmark = pytest.mark.slow

SEED = 20261130
BOMB_BYTES = 1024 * MIB  # each bomb inflates to 1 GiB; the run must stay far below that
MEMORY_CAP = 900 * MIB  # the whole process tree (driver + extraction and PDF children); ~400 MiB is normal
WALL_CAP_S = 300  # 1,006 files on two busy cores take about a minute; a hang would run into this
CONFIG = """\
inputs: ['{inputs}']
output: {output}
engine: {{executor: local}}
stages:
  - {{name: extract, timeout_s: 5}}
  - {{name: pdf_extract, engine: none, timeout_s: 20, page_timeout_s: 4, memory_limit_mb: 512}}
"""
CODE_RE = re.compile(r"^[a-z][A-Za-z0-9_]{0,63}$")  # snake_case, or read_<ExceptionType> for a bad file


@pytest.fixture(scope="module")
def fuzz_run(shared_data, tmp_path_factory):
    root = tmp_path_factory.mktemp("fuzz")
    inputs, output = root / "in", root / "out"
    mutants = write_corpus(shared_data, inputs, seed=SEED)
    # The Parquet bomb's rows are all valid 1 MiB documents, held in memory like any unit's rows: it stays small.
    bombs = write_bombs(inputs, size=BOMB_BYTES, parquet_size=64 * MIB)
    cfg = root / "fuzz.yaml"
    cfg.write_text(CONFIG.format(inputs=inputs, output=output))
    cmd = [sys.executable, "-m", "winnow.pipeline.cli", "run", str(cfg), "--executor", "local", "--overwrite", "-q"]
    t0 = time.monotonic()
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    with PeakRSS(proc.pid) as peak:
        try:
            log, _ = proc.communicate(timeout=WALL_CAP_S)
        except subprocess.TimeoutExpired:
            proc.kill()
            log, _ = proc.communicate()
            pytest.fail(f"the fuzz run hung: still running after {WALL_CAP_S}s\n{log[-3000:]}")
    return {"mutants": mutants, "bombs": bombs, "inputs": inputs, "output": output, "rc": proc.returncode, "log": log,
            "wall": time.monotonic() - t0, "peak": peak.bytes}


def test_mutants_are_varied_and_deterministic(shared_data, tmp_path):
    small = {"warc": 14, "wet": 6, "jsonl": 12, "parquet": 10, "pdf": 8}
    a = write_corpus(shared_data, tmp_path / "a", seed=7, counts=small)
    b = write_corpus(shared_data, tmp_path / "b", seed=7, counts=small)
    digest = lambda ps: [(p.name, hashlib.sha1(p.read_bytes()).hexdigest()) for p in ps]
    assert digest(a) == digest(b)
    c = write_corpus(shared_data, tmp_path / "c", seed=8, counts=small)
    assert digest(a) != digest(c)
    ops = Counter(p.name.split("-")[-2] for p in a)
    assert len(ops) >= 6, ops


def test_the_fuzzed_corpus_is_what_was_counted(fuzz_run):
    """Count the files the run was given, on disk: 1,000 or more mutants in the planned mix, most distinct; bombs."""
    mutants = fuzz_run["mutants"]
    on_disk = sorted(p for p in fuzz_run["inputs"].iterdir() if p.is_file())
    assert on_disk == sorted(mutants + fuzz_run["bombs"])  # nothing written twice under one name, nothing missing
    assert len(mutants) >= 1000 and len(fuzz_run["bombs"]) >= 6
    assert Counter(p.name.split("-")[0] for p in mutants) == COUNTS
    distinct = len({hashlib.sha1(p.read_bytes()).digest() for p in mutants})
    ops = Counter(p.name.split("-")[-2] for p in mutants)
    # Re-encodings and HTTP-header lies have few variants per seed, so some mutants repeat: 901 of 1,000 differ.
    assert distinct >= 850, f"only {distinct} of {len(mutants)} mutants differ"
    assert len(ops) >= 12 and min(ops.values()) >= 20, ops
    print(f"\nfuzz corpus: {len(mutants)} mutants ({distinct} distinct) by {len(ops)} operators, "
          f"{len(fuzz_run['bombs'])} bombs; {dict(Counter(p.name.split('-')[0] for p in mutants))}")


def test_fuzz_run_completes_balanced_and_bounded(fuzz_run):
    assert fuzz_run["rc"] == 0, fuzz_run["log"][-3000:]
    stats = json.loads((fuzz_run["output"] / "stats.json").read_text())
    assert stats["balanced"] and not stats["problems"]
    assert stats["files"] == len(fuzz_run["mutants"]) + len(fuzz_run["bombs"])
    assert stats["documents"] > 0 and stats["rejected"] > 0 and stats["errors"] > 0
    assert fuzz_run["peak"] < MEMORY_CAP, f"peak RSS {fuzz_run['peak'] / MIB:.0f} MiB"
    for stage in stats["stages"]:  # hostile input must not be able to invent funnel keys
        for code in list(stage["dropped"]) + list(stage["failed"]):
            assert CODE_RE.match(code), (stage["name"], code)
    print(f"\nfuzz: {stats['files']} files in {stats['units']} units, wall {fuzz_run['wall']:.1f}s, "
          f"peak RSS {fuzz_run['peak'] / MIB:.0f} MiB, "
          f"{stats['documents']} documents, {stats['rejected']} rejected, {stats['errors']} errors")


def _rows(path: Path) -> int:
    return pq.ParquetFile(path).metadata.num_rows if path.exists() else 0


def test_every_input_file_is_accounted_for(fuzz_run):
    out = fuzz_run["output"]
    markers = [json.loads(p.read_text()) for p in (out / "_work" / "seg0").glob("unit-*.done.json")]
    by_path = {path: m for m in markers for path in m["paths"]}
    files = [str(p) for p in fuzz_run["mutants"] + fuzz_run["bombs"]]
    assert sorted(by_path) == sorted(files)
    silent = []
    for m in markers:
        unit = m["unit"]
        read = next(s for s in m["stages"] if s["name"] == "read")
        written = (_rows(out / "documents" / f"part-{unit}.parquet") + _rows(out / "rejected" / f"part-s0-{unit}.parquet")
                   + _rows(out / "errors" / f"part-s0-{unit}.parquet"))
        # Non-documents (WARC requests, revisits) are counted as skipped and leave no row.
        assert written + sum(read.get("skipped", {}).values()) == read["in"], (m["paths"], written, read)
        if len(m["paths"]) > 1:  # a group of small files (PDFs): each yields a document or an error row
            assert read["in"] >= len(m["paths"]), (m["paths"], read)
        elif read["in"] == 0:
            silent.append(Path(m["paths"][0]))
    # A file yields no row only when there was nothing in it to read: empty, or cut before its first record.
    for p in silent:
        assert p.stat().st_size < 64 or p.name.split("-")[-2] in ("trunc", "gztrunc", "splice", "reenc"), p


def test_bombs_are_stopped_by_caps(fuzz_run):
    out = fuzz_run["output"]
    errors = pq.read_table(out / "errors").to_pylist()
    by_file = {}
    for row in errors:
        by_file.setdefault(Path(row["locator"].split("@")[0].split(":")[0].split("#")[0]).name, []).append(row["error"])
    assert "read_ValueError" in by_file["jsonl-bomb-line.jsonl.gz"]  # max_line_bytes
    assert "read_warc_bad_encoding" in by_file["warc-bomb-http.warc.gz"]  # HTTP body inflating past its cap
    assert "read_warc_truncated" in by_file["wet-bomb-block.warc.wet.gz"]  # block cut at MAX_BLOCK_BYTES
    assert set(by_file["pdf-bomb-stream.pdf"]) & {"pdf_extract_timeout", "pdf_extract_memory"}
