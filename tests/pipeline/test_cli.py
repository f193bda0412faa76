"""The command line as a user meets it: help, clear errors without tracebacks, the demo, inspect."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def winnow(*args, cwd=None, timeout=300):
    return subprocess.run([sys.executable, "-m", "winnow.pipeline.cli", *args], capture_output=True, text=True,
                          cwd=cwd or ROOT, env=os.environ.copy(), timeout=timeout)


def test_help_lists_commands():
    r = winnow("--help")
    assert r.returncode == 0
    for cmd in ("run", "inspect"):
        assert cmd in r.stdout


def test_config_error_is_one_clear_message(tmp_path):
    cfg = tmp_path / "bad.yaml"
    cfg.write_text("inputs: [x.jsonl]\noutput: o\nstages:\n  - {name: test_min_chars, min_char: 3}\n")
    r = winnow("run", str(cfg))
    assert r.returncode == 2
    assert "unknown key 'min_char'" in r.stderr and "Traceback" not in r.stderr + r.stdout


def test_missing_input_is_an_error_before_work(tmp_path):
    r = winnow("run", "--input", str(tmp_path / "none*.jsonl"), "--output", str(tmp_path / "o"))
    assert r.returncode == 2 and "matches no files" in r.stderr and "Traceback" not in r.stderr
    assert not (tmp_path / "o" / "documents").exists()


def test_set_overrides_a_param(tmp_path, shared_data):
    cfg = tmp_path / "c.yaml"
    cfg.write_text("params: {n: 1}\ninputs: [x]\noutput: o\nengine: {executor: local}\nstages:\n  - {name: test_min_chars, min_chars: '${n}'}\n")
    src = shared_data / "cc" / "cc_jsonl" / "dolma"
    r = winnow("run", str(cfg), "--input", f"{src}/*.jsonl.gz", "--output", str(tmp_path / "o"), "--set", "n=100000", "-q")
    assert r.returncode == 0, r.stderr
    stats = json.loads((tmp_path / "o" / "stats.json").read_text())
    assert stats["documents"] == 0 and stats["stages"][1]["dropped"] == {"test_min_chars_short": 20}


@pytest.mark.slow
def test_demo_runs_end_to_end_and_resumes(tmp_path):
    """`winnow run` with no arguments: the demo, built offline, on Ray; a second run changes nothing."""
    r = winnow("run", cwd=tmp_path, timeout=600)
    assert r.returncode == 0, r.stderr[-3000:]
    out = tmp_path / "out" / "demo"
    stats = json.loads((out / "stats.json").read_text())
    assert stats["balanced"] and stats["documents"] > 100
    for name in ("documents", "stats.json", "report.html"):
        assert (out / name).exists()
    # The demo's classifier judges extracted main content: encyclopedia pages high, the other web pages low.
    import statistics

    import pyarrow.parquet as pq

    docs = pq.read_table(out / "documents", columns=["domain", "score_fasttext_quality_v1"]).to_pylist()
    median = {d: statistics.median(r["score_fasttext_quality_v1"] for r in docs if r["domain"] == d) for d in ("wiki", "web")}
    assert median["wiki"] > 0.5 > median["web"], median
    before = {p.name: p.read_bytes() for p in (out / "documents").glob("*.parquet")}
    r2 = winnow("run", cwd=tmp_path, timeout=600)
    assert r2.returncode == 0
    assert {p.name: p.read_bytes() for p in (out / "documents").glob("*.parquet")} == before
    r3 = winnow("inspect", str(out), "-n", "2", cwd=tmp_path)
    assert r3.returncode == 0 and "kept" in r3.stdout
