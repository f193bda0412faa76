"""The same mixing config on the same data gives the same weights and verdict, whatever the executor and
with nothing cached: a fresh cache directory under the local executor and another under Ray."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.mixing.conftest import tiny_config
from winnow.mixing.config import MixConfig
from winnow.mixing.job import run_mix

pytestmark = pytest.mark.slow


def _mix(run: Path, out: Path, executor: str) -> dict:
    cfg = MixConfig(**tiny_config(run, out, engine={"executor": executor, "num_cpus": 2,
                                                    "object_store_memory_mb": 256}))
    run_mix(cfg)
    return json.loads((out / "report.json").read_text())


def test_weights_and_verdict_do_not_depend_on_executor_or_cache(tiny_run, tmp_path, ray_session):
    local = _mix(tiny_run, tmp_path / "local", "local")
    ray = _mix(tiny_run, tmp_path / "ray", "ray")
    assert local["swarm"]["trained"] == ray["swarm"]["trained"] > 0  # nothing came from a cache
    assert local["weights"] == ray["weights"]
    assert local["validation"] == ray["validation"]
    assert local["verdict"] == ray["verdict"]
