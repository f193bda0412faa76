"""SIGKILL the driver at 10 random points of a demo run; every rerun completes byte-identical and balanced."""

import json
import multiprocessing
import os
import random
import signal
import time
from pathlib import Path

import pytest

from winnow.pipeline.config import load_config
from winnow.pipeline.runner import run_pipeline

pytestmark = pytest.mark.slow
ROOT = Path(__file__).resolve().parents[2]
KILLS = int(os.environ.get("WINNOW_KILL_POINTS", "10"))


def _run(out: str) -> None:
    cfg = load_config(str(ROOT / "configs" / "demo.yaml"), output=out, executor="local")
    result = run_pipeline(cfg)
    os._exit(0 if result.balanced else 3)


_CTX = multiprocessing.get_context("forkserver")
# The fork server imports Winnow once; each driver it forks starts in milliseconds, so twenty-one runs stay
# cheap. Forking pytest itself would copy a process that may hold Ray's threads (and their locks).
_CTX.set_forkserver_preload(["winnow.pipeline.runner", "winnow.pipeline.config"])


def _driver(out: Path) -> multiprocessing.Process:
    """A separate driver process that dies by SIGKILL with no chance to clean up."""
    proc = _CTX.Process(target=_run, args=(str(out),))
    proc.start()
    return proc


def _documents(out: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted((out / "documents").glob("*.parquet"))}


def test_kill_at_random_points_then_resume(tmp_path):
    reference = tmp_path / "reference"
    t0 = time.time()
    proc = _driver(reference)
    proc.join(600)
    duration = time.time() - t0
    assert proc.exitcode == 0
    expected = _documents(reference)
    assert expected
    # Kill while units are being processed: between the start and the moment the last unit pass finished.
    markers = sorted(m.stat().st_mtime for m in (reference / "_work").glob("seg*/*.done.json"))
    busy_until = max(markers[-1] - t0, 0.5)

    rng = random.Random(1234)
    interrupted = 0
    log = []
    for trial in range(KILLS):
        out = tmp_path / f"trial{trial}"
        delay = rng.uniform(0.05, busy_until)
        proc = _driver(out)
        time.sleep(delay)
        if proc.is_alive():
            os.kill(proc.pid, signal.SIGKILL)
            interrupted += 1
        proc.join()
        finished_units = len(list((out / "_work").glob("seg*/*.done.json"))) if (out / "_work").exists() else 0
        rerun = _driver(out)
        rerun.join(600)
        assert rerun.exitcode == 0, f"trial {trial}: rerun after a kill at {delay:.2f}s failed"
        stats = json.loads((out / "stats.json").read_text())
        assert stats["balanced"], stats["problems"]
        assert _documents(out) == expected, f"trial {trial}: documents differ after a kill at {delay:.2f}s"
        log.append({"trial": trial, "kill_at_s": round(delay, 2), "unit_passes_done_at_kill": finished_units,
                    "resumed": stats["units_resumed"]})
    assert interrupted >= KILLS // 2, f"only {interrupted} of {KILLS} kills landed mid-run"
    print(json.dumps({"reference_seconds": round(duration, 2), "units_busy_until_s": round(busy_until, 2), "trials": log}))
