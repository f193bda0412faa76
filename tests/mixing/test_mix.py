"""`winnow mix` end to end on a tiny fake run: outputs, bad input refused before training, cache reuse."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from winnow.mixing.config import MixConfig
from winnow.mixing.data import MixInputError, is_heldout, prepare
from winnow.mixing.job import run_mix
from winnow.mixing.simplex import BoundsError
from tests.mixing.conftest import tiny_config


@pytest.fixture(scope="module")
def first_run(tiny_run, tmp_path_factory):
    out = tmp_path_factory.mktemp("mix")
    cfg = MixConfig(**tiny_config(tiny_run, out))
    return cfg, run_mix(cfg)


def test_outputs(first_run):
    cfg, _ = first_run
    out = Path(cfg.output)
    weights = yaml.safe_load((out / "weights.yaml").read_text())
    assert set(weights) == {"code", "web", "wiki"}
    assert sum(weights.values()) == pytest.approx(1.0, abs=1e-5)
    on_disk = json.loads((out / "report.json").read_text())
    assert isinstance(on_disk["spearman_heldout"], float)
    assert set(on_disk["validation"]) == {"optimized", "natural", "uniform"}
    assert all(len(v) == 2 for v in on_disk["validation"].values())
    assert on_disk["swarm"]["trained"] == 5 and on_disk["swarm"]["proxies_per_hour"] > 0
    for name in ("predicted_vs_actual.png", "weights.png", "targets.jsonl", "swarm.jsonl"):
        assert (out / name).stat().st_size > 0


def test_targets_are_held_out_and_written_for_decontamination(first_run):
    cfg, _ = first_run
    rows = [json.loads(line) for line in Path(cfg.output, "targets.jsonl").read_text().splitlines()]
    assert rows and all(r["target"] == "web" and is_heldout(r["id"], 0.2) for r in rows)
    data = prepare(cfg)
    training_ids = {i for p in data.pools.values() for i in p.doc_ids}
    assert not training_ids & {r["id"] for r in rows}


def test_rerun_trains_nothing_and_new_target_is_scored_from_saved_weights(first_run):
    cfg, report = first_run
    again = run_mix(cfg)
    assert again["swarm"]["trained"] == 0 and again["swarm"]["cached"] == 5
    assert again["validation"] == report["validation"]
    changed = cfg.model_copy(update={"targets": [*cfg.targets, type(cfg.targets[0])(domain="code")]})
    third = run_mix(changed)
    assert third["swarm"]["trained"] == 0  # the new target was scored from cached weights
    assert set(third["validation_detail"]["natural"]["targets"]) == {"web", "code"}


def test_the_regression_is_fitted_once_on_the_final_runs(first_run, monkeypatch):
    """The stopping rule's last fit is the one optimised: no second cross-validated fit on the same runs."""
    from winnow.mixing import regression

    cfg, report = first_run
    sizes, real_fit = [], regression.fit
    monkeypatch.setattr(regression, "fit", lambda X, y, *a, **k: sizes.append(len(y)) or real_fit(X, y, *a, **k))
    again = run_mix(cfg)  # every proxy comes from the cache: only the regression and optimiser run
    assert sizes == [again["swarm"]["cached"]]
    assert again["spearman_heldout"] == report["spearman_heldout"]


def test_added_domain_reuses_earlier_runs(shared_data, tmp_path):
    from tests.mixing.conftest import write_run_dir

    # The first corpus has web and wiki only; the second adds code. The cache keeps the tokenizer it trained
    # first, so the web and wiki pools (and the runs drawing on them) stay valid.
    small = write_run_dir(shared_data / "domains", tmp_path / "run1", ["wiki", "web"], 40, 1500)
    bigger = write_run_dir(shared_data / "domains", tmp_path / "run2", ["wiki", "code", "web"], 40, 1500)
    base = {"cache_dir": str(tmp_path / "cache"), "validation": {"enabled": False}}
    first = run_mix(MixConfig(**tiny_config(small, tmp_path / "a", **base)))
    grown = run_mix(MixConfig(**tiny_config(bigger, tmp_path / "c", **base)))
    assert grown["tokenizer"]["path"] == first["tokenizer"]["path"]
    assert grown["swarm"]["reused_from_other_configs"] == 2  # half the swarm of 5, rounded down
    assert grown["swarm"]["trained"] == 3


def test_domain_without_documents_is_refused(tiny_run, tmp_path):
    cfg = MixConfig(**tiny_config(tiny_run, tmp_path, domains=["wiki", "books"]))
    with pytest.raises(MixInputError, match="books have no training documents"):
        run_mix(cfg)


def test_impossible_bounds_are_refused_before_training(tiny_run, tmp_path):
    cfg = MixConfig(**tiny_config(tiny_run, tmp_path, bounds={"min": {"wiki": 0.7, "code": 0.5}}))
    with pytest.raises(BoundsError, match="minimum weights sum to 1.200"):
        run_mix(cfg)
    assert not (tmp_path / "cache" / "runs").exists() or not any((tmp_path / "cache" / "runs").iterdir())


def test_target_overlapping_training_data_is_refused(tiny_run, tmp_path):
    import pyarrow.parquet as pq

    rows = pq.read_table(tiny_run / "documents").to_pylist()
    leak = [r for r in rows if r["domain"] == "wiki" and not is_heldout(r["id"], 0.2)][:3]
    path = tmp_path / "bench.jsonl"
    path.write_text("".join(json.dumps({"id": f"q{i}", "text": r["text"]}) + "\n" for i, r in enumerate(leak)))
    cfg = MixConfig(**tiny_config(tiny_run, tmp_path, targets=[{"path": str(path)}]))
    with pytest.raises(MixInputError, match="overlaps the training data: 3 of its 3"):
        run_mix(cfg)


@pytest.mark.slow
def test_ray_executor_trains_the_swarm(ray_session, tiny_run, tmp_path):
    cfg = MixConfig(**tiny_config(tiny_run, tmp_path, swarm={"num_mixtures": 3, "tokens_per_proxy": 2000, "adaptive": False},
                                  validation={"enabled": False}, engine={"executor": "ray"}))
    report = run_mix(cfg)
    assert report["swarm"]["trained"] == 3 and report["swarm"]["executor"] == "ray"
    assert all(len(r["losses"]) == 1 for r in map(json.loads, Path(cfg.output, "swarm.jsonl").read_text().splitlines()))


def test_explicit_sources_label_files_by_domain(shared_data, tmp_path):
    """`sources:` names the files of each domain; their own domain column (or its absence) does not matter."""
    import gzip

    for dom in ("wiki", "code"):
        with gzip.open(shared_data / "domains" / f"{dom}.jsonl.gz", "rt", encoding="utf-8") as f:
            rows = [json.loads(line) for _, line in zip(range(40), f)]
        # No id and no domain column: plain text files, as a user might have them.
        (tmp_path / f"{dom}.jsonl").write_text("".join(json.dumps({"text": r["text"][:1500]}) + "\n" for r in rows))
    extra = {"sources": {"wiki": str(tmp_path / "wiki.jsonl"), "code": [str(tmp_path / "code.jsonl")]},
             "targets": [{"domain": "wiki"}], "validation": {"enabled": False}}
    cfg = MixConfig(**{k: v for k, v in tiny_config(tmp_path, tmp_path / "mix", **extra).items() if k != "documents"})
    report = run_mix(cfg)
    assert set(report["weights"]) == {"code", "wiki"}
    assert report["domains"]["wiki"]["train_docs"] + report["domains"]["wiki"]["heldout_docs"] == 40
    assert report["domains"]["code"]["train_docs"] > 0


def test_documents_and_sources_are_exclusive(tmp_path):
    from winnow.pipeline.config import ConfigError

    from winnow.mixing.config import load_mix_config

    with pytest.raises(ConfigError, match="exactly one of documents"):
        load_mix_config(text="targets: [{domain: wiki}]\noutput: x\n")
    with pytest.raises(ConfigError, match="exactly one of documents"):
        load_mix_config(text="documents: a\nsources: {wiki: b}\ntargets: [{domain: wiki}]\n")


def test_a_file_under_two_domains_is_refused(tmp_path):
    (tmp_path / "a.jsonl").write_text(json.dumps({"text": "some text here"}) + "\n")
    cfg = MixConfig(sources={"wiki": str(tmp_path / "a.jsonl"), "web": str(tmp_path / "a.jsonl")},
                    targets=[{"domain": "wiki"}], output=str(tmp_path / "mix"))
    with pytest.raises(MixInputError, match="under two domains"):
        prepare(cfg)
