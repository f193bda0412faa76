"""Faults found by an audit of `winnow mix` and `winnow ablate`: each test fails on the code before its fix."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from winnow.mixing.config import MixConfig, load_mix_config
from winnow.mixing.data import is_heldout, prepare
from winnow.mixing.job import run_mix
from winnow.pipeline.config import ConfigError
from tests.mixing.conftest import tiny_config

MIX = "documents: x\ntargets: [{domain: wiki}]\n"


def _swarm_rows(out: Path) -> list[dict]:
    return [json.loads(line) for line in (out / "swarm.jsonl").read_text().splitlines()]


@pytest.fixture(scope="module")
def shared_cache(tiny_run, tmp_path_factory):
    """Config A (swarm.seed 0) run fresh into a cache that config B (swarm.seed 1) then shares."""
    root = tmp_path_factory.mktemp("shared")
    cfg = lambda tag, seed: MixConfig(**tiny_config(tiny_run, root / tag, cache_dir=str(root / "cache"),
                                                    swarm={**tiny_config(tiny_run, root)["swarm"], "seed": seed}))
    return cfg("A", 0), run_mix(cfg("A", 0)), cfg("B", 1)


def test_a_rerun_reuses_the_same_runs_and_writes_the_same_weights(shared_cache):
    _, _, b = shared_cache
    first = run_mix(b)
    assert first["swarm"]["reused_from_other_configs"] >= 1  # A's optimised validation run at seed 1
    keys = sorted(r["key"] for r in _swarm_rows(Path(b.output)))
    again = run_mix(b)  # the cache now also holds B's own validation runs
    assert again["swarm"]["trained"] == 0
    assert again["weights"] == first["weights"]
    assert sorted(r["key"] for r in _swarm_rows(Path(b.output))) == keys
    # B's own runs (its uniform noise seeds, its validation runs) are never offered as another config's
    reused = {r["key"] for r in _swarm_rows(Path(b.output)) if r["label"] == "reused"}
    own = {r["key"] for r in _swarm_rows(Path(b.output)) if r["label"] != "reused"}
    assert not reused & own
    uniform_b = first["baselines"]["uniform"]
    for r in _swarm_rows(Path(b.output)):
        if r["label"] == "reused":
            assert r["mixture"] != uniform_b


def test_a_fresh_run_marks_no_proxy_cached(shared_cache):
    a, report, _ = shared_cache
    assert report["swarm"]["cached"] == 0
    assert not any(r["cached"] for r in _swarm_rows(Path(a.output)))


def test_every_training_copy_of_a_heldout_text_is_excluded(tiny_run, tmp_path):
    import pyarrow as pa
    import pyarrow.parquet as pq

    rows = pq.read_table(tiny_run / "documents").to_pylist()
    held = next(r for r in rows if r["domain"] == "web" and is_heldout(r["id"], 0.2))
    copies = [f"copy-{i}" for i in range(100) if not is_heldout(f"copy-{i}", 0.2)][:3]
    rows += [{"id": c, "text": held["text"], "domain": "wiki"} for c in copies]
    (tmp_path / "run" / "documents").mkdir(parents=True)
    pq.write_table(pa.Table.from_pylist(rows), tmp_path / "run" / "documents" / "part-00000.parquet")
    data = prepare(MixConfig(**tiny_config(tmp_path / "run", tmp_path / "out")))
    assert held["id"] in data.targets[0].doc_ids
    assert not set(copies) & {i for p in data.pools.values() for i in p.doc_ids}


@pytest.mark.parametrize("extra, message", [
    ("domains: [wiki, wiki, code]", "domains: .*wiki listed more than once"),
    ("bounds: {min: {web: -0.3}}", "bounds.min.web: .*greater than or equal to 0"),
    ("bounds: {min: {web: .nan}}", "bounds.min.web: .*finite"),
    ("swarm: {num_mixtures: 2}", "swarm.num_mixtures: .*greater than or equal to 3"),
    ("swarm: {concentration: [0, 30]}", "swarm.concentration.0: .*greater than 0"),
    ("swarm: {concentration: [-1, 30]}", "swarm.concentration.0: .*greater than 0"),
    ("swarm: {concentration: [1, .nan]}", "swarm.concentration.1: .*finite"),
])
def test_mix_settings_that_crash_after_training_are_refused_at_load(extra, message):
    with pytest.raises(ConfigError, match=message):
        load_mix_config(text=MIX + extra + "\n")


def test_a_cache_dir_that_is_a_file_is_refused_at_load(tmp_path):
    from winnow.mixing.ablate.config import load_ablate_config

    (tmp_path / "f").write_text("x")
    with pytest.raises(ConfigError, match="cache_dir: .*is a file"):
        load_mix_config(text=MIX + f"cache_dir: {tmp_path / 'f'}\n")
    with pytest.raises(ConfigError, match="cache_dir: .*lies under"):
        load_mix_config(text=MIX + f"cache_dir: {tmp_path / 'f' / 'sub'}\n")
    ablate = "variants: [{name: a, documents: x}, {name: b, documents: y}]\n"
    with pytest.raises(ConfigError, match="cache_dir: .*is a file"):
        load_ablate_config(text=ablate + f"cache_dir: {tmp_path / 'f'}\n")
    assert load_mix_config(text=MIX + f"cache_dir: {tmp_path / 'new' / 'cache'}\n")


@pytest.mark.parametrize("rates, message", [("[0.001, -0.001]", "greater than 0"), ("[0.001, .nan]", "finite")])
def test_ablate_learning_rates_must_be_positive_numbers(rates, message):
    from winnow.mixing.ablate.config import load_ablate_config

    with pytest.raises(ConfigError, match=f"learning_rates.1: .*{message}"):
        load_ablate_config(text=f"variants: [{{name: a, documents: x}}, {{name: b, documents: y}}]\n"
                                f"learning_rates: {rates}\n")


def test_the_cli_refuses_a_bad_setting_in_one_line(tmp_path):
    from typer.testing import CliRunner

    from winnow.pipeline.cli import app

    bad = tmp_path / "mix.yaml"
    bad.write_text(yaml.safe_dump({"documents": "x", "targets": [{"domain": "wiki"}], "bounds": {"min": {"web": -0.3}}}))
    result = CliRunner().invoke(app, ["mix", str(bad)])
    assert result.exit_code == 2 and "bounds.min.web" in result.output


def _one_seed(optimized: float, natural: float, uniform: float) -> dict:
    return {n: {"objective": [v], "seeds": [0], "mean": v, "std": 0.0}
            for n, v in (("optimized", optimized), ("natural", natural), ("uniform", uniform))}


def test_one_validation_seed_is_not_called_beyond_noise():
    from winnow.mixing.validate import verdict
    from winnow.pipeline.cli.mix import verdict_line

    s = _one_seed(5.30, 5.31, 5.35)
    unjudged = verdict(s)
    assert not unjudged["better_beyond_noise"] and unjudged["noise"] is None
    assert "cannot be judged" in verdict_line(unjudged)
    judged = verdict(s, seed_noise=(0.02, 5))  # the swarm's uniform runs at 5 seeds
    assert judged["noise"] > 0.01 and not judged["better_beyond_noise"] and judged["at_least_as_good"]
    assert verdict(s, seed_noise=(0.001, 5))["better_beyond_noise"]


def test_holm_intervals_follow_the_step_down():
    from winnow.mixing.ablate import report
    from winnow.mixing.ablate import verdict as V

    a = V.PairStats("A", "B", V.Estimate(2.2, 1.0, 100))  # raw p 0.030: tested second, at 0.05 on its own
    b = V.PairStats("C", "D", V.Estimate(2.25, 1.0, 100))  # raw p 0.027 > 0.05 / 2: Holm stops here
    V.apply_holm([a, b], 0.05)
    for s in (a, b):
        main = report._pair_rate(s, 1e-3, {}, 0.05)["main"]
        assert main["p_holm"] >= 0.05 and main["ci_holm"][0] < 0 < main["ci_holm"][1]
        assert V.decide([s], {}, 0.05, 0.8, 2)["verdict"] == "inconclusive"
    # every pair rejected: each keeps its own step's level
    c, d = V.PairStats("A", "B", V.Estimate(5.0, 1.0, 100)), V.PairStats("C", "D", V.Estimate(4.0, 1.0, 100))
    V.apply_holm([c, d], 0.05)
    assert (c.alpha_holm, d.alpha_holm) == (0.025, 0.05)
