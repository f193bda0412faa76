"""configs/rights.yaml end to end on a real crawl: licences, opt-out drops, provenance on every kept document."""

from __future__ import annotations

import glob
import json
from pathlib import Path

import pyarrow.parquet as pq

CONFIGS = Path(__file__).resolve().parents[2] / "configs"


def test_rights_config_on_warc(tmp_path, shared_data):
    from winnow.pipeline.config import load_config
    from winnow.pipeline.runner import run_pipeline

    robots = tmp_path / "robots"
    robots.mkdir()
    (robots / "creativecommons.org.robots.txt").write_text("User-agent: GPTBot\nDisallow: /mission/\n")
    config = load_config(
        str(CONFIGS / "rights.yaml"),
        inputs=[str(shared_data / "cc" / "dolma" / "sample-0001.warc.gz")],
        output=str(tmp_path / "out"),
        overrides={"robots": str(robots), "benchmarks": str(shared_data / "benchmarks" / "gsm8k")},
        executor="local",
    )
    result = run_pipeline(config)
    assert result.balanced, result.problems
    stages = {s["name"]: s for s in result.stats["stages"]}
    assert stages["rights_policy"]["dropped"].get("rights_policy_optout_robots") == 1
    docs = pq.read_table(glob.glob(str(tmp_path / "out" / "documents" / "*.parquet"))).to_pylist()
    assert docs and all(d["rights_policy_status"] for d in docs)
    licensed = [d for d in docs if d["license"]]
    assert licensed and all(json.loads(d["license_evidence"])["found"] for d in licensed)
    for d in docs:  # provenance: URL, source file and offset, capture date, licence evidence, opt-out evidence
        meta = json.loads(d["metadata"])
        assert d["url"] and meta["warc_file"] and meta["warc_offset"] is not None and meta["warc_date"]
        assert d["license_evidence"] and json.loads(d["optout_evidence"])["robots"]["status"] in ("parsed", "missing")
