"""The demo as a new user meets it: `winnow run` with no arguments from an empty directory (the installed
wheel, on Ray), built offline; a second run changes nothing; `inspect` reads it."""

from __future__ import annotations

import json
import statistics

import pyarrow.parquet as pq
import pytest

from tests.packaging.conftest import _run

pytestmark = pytest.mark.slow


def test_demo_runs_end_to_end_and_resumes(wheel_env, demo_dir):
    bin_dir, env = wheel_env
    out = demo_dir / "out" / "demo"
    stats = json.loads((out / "stats.json").read_text())
    assert stats["balanced"] and stats["documents"] > 100
    for name in ("documents", "stats.json", "report.html"):
        assert (out / name).exists()
    # The demo's classifier judges extracted main content: encyclopedia pages high, the other web pages low.
    docs = pq.read_table(out / "documents", columns=["domain", "score_fasttext_quality_v1"]).to_pylist()
    median = {d: statistics.median(r["score_fasttext_quality_v1"] for r in docs if r["domain"] == d)
              for d in ("wiki", "web")}
    assert median["wiki"] > 0.5 > median["web"], median
    before = {p.name: p.read_bytes() for p in (out / "documents").glob("*.parquet")}
    _run([str(bin_dir / "winnow"), "run", "-q"], demo_dir, env)
    assert {p.name: p.read_bytes() for p in (out / "documents").glob("*.parquet")} == before
    shown = _run([str(bin_dir / "winnow"), "inspect", str(out), "-n", "2"], demo_dir, env)
    assert "kept" in shown.stdout
