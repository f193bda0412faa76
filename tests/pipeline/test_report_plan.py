"""report.html (rendered in headless Chromium where installed), inspect, and plan against a real run."""

import gzip
import json
import os
import re
import shutil
import subprocess
import sys

import pytest

from tests.conftest import require
from winnow.pipeline.config import load_config
from winnow.pipeline.plan import estimate, snapshot_estimate
from winnow.pipeline.runner import run_pipeline

CONFIG = """
inputs: [{inputs}]
output: {out}
engine: {{executor: local, batch_size: 20}}
stages:
  - {{name: test_min_chars, min_chars: 400, sleep_s: {sleep}}}
  - {{name: domain_tag, default: web}}
"""


@pytest.fixture(scope="module")
def three_files(tmp_path_factory, shared_data):
    """Three similar slices of real web text, so a one-file sample should predict the three-file run."""
    d = tmp_path_factory.mktemp("plan")
    lines = gzip.decompress((shared_data / "domains" / "web.jsonl.gz").read_bytes()).splitlines()
    for i in range(3):
        script = b'{"text": "<script>alert(1)</script>"}\n'  # dropped as short; its sample must be escaped
        (d / f"part{i}.jsonl").write_bytes(script + b"\n".join(lines[i * 60 : (i + 1) * 60]) + b"\n")
    return d


def test_plan_estimate_within_2x_of_real_run(three_files, tmp_path):
    # A fixed cost per batch stands in for stage work, so the check is about scaling, not machine noise.
    cfg = load_config(text=CONFIG.format(inputs=f"'{three_files}/*.jsonl'", out=tmp_path / "real", sleep=0.05))
    size = (three_files / "part0.jsonl").stat().st_size
    plan = estimate(cfg, sample_bytes=size + 1, cores=1)
    assert plan["inputs"]["sampled_files"] == 1
    real = run_pipeline(cfg).stats
    for est, actual in ((plan["documents"]["kept"], real["documents"]), (plan["documents"]["read"], real["stages"][0]["in"]),
                        (plan["documents"]["errors"], real["errors"])):
        assert actual / 2 <= est <= actual * 2 or est == actual, (est, actual)
    real_cpu = sum(s["seconds"] for s in real["stages"])
    assert real_cpu > 0.4 and real_cpu / 2 <= plan["time"]["cpu_seconds"] <= real_cpu * 2
    snap = snapshot_estimate(plan, nodes=10, cores_per_node=32, memory_gb_per_node=128)
    assert snap["core_hours"] > 0 and snap["kept_documents"] < 3e9


def test_report_escapes_text_and_shows_funnel(three_files, tmp_path):
    out = tmp_path / "run"
    run_pipeline(load_config(text=CONFIG.format(inputs=f"'{three_files}/*.jsonl'", out=out, sleep=0)))
    page = (out / "report.html").read_text()
    assert 'id="funnel"' in page or "id='funnel'" in page
    assert "<script>alert(1)</script>" not in page and "&lt;script&gt;" in page  # sample texts escaped
    assert "Funnel by stage" in page and "test_min_chars_short" in page
    assert not re.search(r"""(src|href)=["']?(https?:)?//""", page)  # self-contained: nothing to fetch
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    require(chromium, "chromium not installed (.ci/run installs Debian's chromium); HTML checked without rendering")
    shot = tmp_path / "shot.png"
    flags = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
             "--disable-sync", "--no-first-run", f"--user-data-dir={tmp_path / 'profile'}"]
    dom = subprocess.run([chromium, *flags, "--dump-dom", f"file://{out / 'report.html'}"], capture_output=True, text=True, timeout=120)
    assert "Funnel by stage" in dom.stdout  # the chart's text, rendered in the DOM
    subprocess.run([chromium, *flags, "--window-size=1100,900", f"--screenshot={shot}", f"file://{out / 'report.html'}"],
                   capture_output=True, timeout=120)
    assert shot.exists() and shot.stat().st_size > 10_000  # a real picture, not a blank page


def test_inspect_shows_dropped_reason(three_files, tmp_path):
    out = tmp_path / "run"
    run_pipeline(load_config(text=CONFIG.format(inputs=f"'{three_files}/*.jsonl'", out=out, sleep=0)))
    r = subprocess.run([sys.executable, "-m", "winnow.pipeline.cli", "inspect", str(out), "--reason", "test_min_chars_short", "-n", "1"],
                       capture_output=True, text=True, env=os.environ.copy())
    assert r.returncode == 0 and "test_min_chars_short" in r.stdout
    for flag, value in (("--stage", "nosuch"), ("--reason", "nosuch_reason")):  # a typo is an error, not "no rows"
        bad = subprocess.run([sys.executable, "-m", "winnow.pipeline.cli", "inspect", str(out), flag, value],
                             capture_output=True, text=True, env=os.environ.copy())
        assert bad.returncode == 2 and value in bad.stderr, bad.stderr


def test_plan_cli_prints_json(three_files, tmp_path):
    cfg = tmp_path / "c.yaml"
    cfg.write_text(CONFIG.format(inputs=f"'{three_files}/*.jsonl'", out=tmp_path / "o", sleep=0))
    r = subprocess.run([sys.executable, "-m", "winnow.pipeline.cli", "plan", str(cfg), "--json", "--snapshot-nodes", "4"],
                       capture_output=True, text=True, env=os.environ.copy())
    assert r.returncode == 0, r.stderr
    plan = json.loads(r.stdout)
    # The smallest file only warms up; the other two are timed and scaled by bytes to all three (183 records).
    assert plan["inputs"]["sampled_files"] == 2 and "snapshot" in plan
    assert 0.75 * 183 <= plan["documents"]["read"] <= 1.25 * 183
    engine = plan["stages"][-1]
    assert engine["documents_in"] is None and engine["cpu_seconds"] >= 0  # writers' time is counted
