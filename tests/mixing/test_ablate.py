"""`winnow ablate` on a small fake run built from the real domain samples: refusals before training, benchmark
formats, and a tiny end-to-end ablation (verdicts, intervals, the A/A control, cache reuse)."""

from __future__ import annotations

import gzip
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from winnow.mixing.ablate import benchmarks, report
from winnow.mixing.ablate.config import AblateConfig, AblateInputError, BenchmarkConfig, load_ablate_config
from winnow.mixing.ablate.job import run_ablation
from winnow.mixing.ablate.prepare import prepare
from winnow.pipeline.config import ConfigError

TINY = {"n_layer": 1, "n_head": 2, "n_embd": 32, "seq_len": 32, "batch_size": 8, "warmup_steps": 2}


def _letters(text: str) -> float:
    return sum(c.isalpha() for c in text) / max(1, len(text))


@pytest.fixture(scope="module")
def scored_run(shared_data: Path, tmp_path_factory) -> Path:
    """OUT/documents/part-00000.parquet: 40 real documents per domain, with a score column the run "wrote"."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    rows = []
    for dom in ("wiki", "web", "code"):
        with gzip.open(shared_data / "domains" / f"{dom}.jsonl.gz", "rt", encoding="utf-8") as f:
            for i, line in enumerate(f):
                if i >= 40:
                    break
                r = json.loads(line)
                text = r["text"][:1500]
                rows.append({"id": r["id"], "text": text, "domain": dom, "score_letters_v1": _letters(text)})
    out = tmp_path_factory.mktemp("run")
    (out / "documents").mkdir()
    pq.write_table(pa.Table.from_pylist(rows), out / "documents" / "part-00000.parquet")
    return out


def _config(run: Path, out: Path, **extra) -> dict:
    cfg = {
        "output": str(out), "cache_dir": str(out / "cache"), "vocab_size": 300, "tokens": 6000, "seeds": 2,
        "variants": [
            {"name": "all", "documents": str(run)},
            {"name": "letters", "documents": str(run), "where": "score_letters_v1 >= 0.72"},
            {"name": "prose", "documents": str(run), "exclude_domains": ["code"]},
        ],
        "heldout": {"fraction": 0.2},
        "proxy": dict(TINY),
        "stats": {"bootstrap": 300},
        "engine": {"executor": "local"},
    }
    cfg.update(extra)
    return cfg


def _runs_trained(out: Path) -> int:
    runs = out / "cache" / "runs"
    return len(os.listdir(runs)) if runs.is_dir() else 0


def test_unknown_column_in_a_decision_is_refused(scored_run, tmp_path):
    cfg = _config(scored_run, tmp_path)
    cfg["variants"][1]["where"] = "score_nope_v1 >= 0.5"
    with pytest.raises(AblateInputError, match="unknown column 'score_nope_v1'.*score_letters_v1"):
        prepare(AblateConfig(**cfg))
    cfg["variants"][1] = {"name": "top", "documents": str(scored_run),
                          "top_percent": {"column": "missing", "percent": 30}}
    with pytest.raises(AblateInputError, match="top_percent.column names unknown column 'missing'"):
        prepare(AblateConfig(**cfg))
    assert _runs_trained(tmp_path) == 0


def test_unknown_domain_and_unsafe_expression_are_refused(scored_run, tmp_path):
    cfg = _config(scored_run, tmp_path)
    cfg["variants"][2]["exclude_domains"] = ["books"]
    with pytest.raises(AblateInputError, match="domain\\(s\\) books not in the documents; present: code, web, wiki"):
        prepare(AblateConfig(**cfg))
    cfg = _config(scored_run, tmp_path)
    cfg["variants"][1]["where"] = "__import__('os').system('true')"
    with pytest.raises((AblateInputError, ConfigError), match="is not allowed"):
        prepare(AblateConfig(**cfg))


def test_variant_short_of_the_budget_is_refused_unless_repetition_is_allowed(scored_run, tmp_path):
    cfg = _config(scored_run, tmp_path, tokens=40_000)
    cfg["variants"][1]["where"] = "score_letters_v1 >= 0.8"  # a small variant (~22k tokens)
    with pytest.raises(AblateInputError, match="'letters' has [0-9,]+ training tokens, fewer than the budget of 40,"):
        prepare(AblateConfig(**cfg))
    assert _runs_trained(tmp_path) == 0
    data = prepare(AblateConfig(**{**cfg, "allow_repetition": True}))
    assert data.budget == 40_000 and data.usable("letters") < 40_000 <= data.usable("all")
    stated = report._variant(data, data.variants[1], data.budget)  # what ablation.json and the console say
    assert stated["repeated"] and stated["epochs_at_budget"] > 1
    assert not report._variant(data, data.variants[0], data.budget)["repeated"]
    auto = prepare(AblateConfig(**{**cfg, "tokens": "auto"}))
    assert auto.budget == min(auto.usable(v.name) for v in auto.variants)


def test_benchmark_in_an_unknown_format_is_refused(scored_run, tmp_path):
    odd = tmp_path / "odd.jsonl"
    odd.write_text(json.dumps({"prompt_text": "2 + 2 =", "label": "4"}) + "\n")
    cfg = _config(scored_run, tmp_path, benchmarks=[{"path": str(odd)}])
    with pytest.raises(AblateInputError, match="benchmark .*odd.jsonl: unknown format .*accepted formats"):
        prepare(AblateConfig(**cfg))
    text = tmp_path / "notes.txt"
    text.write_text("not a benchmark\n")
    with pytest.raises(AblateInputError, match="unknown format \\(not .jsonl or .csv\\)"):
        benchmarks.load(BenchmarkConfig(path=str(text)), 10)


@pytest.mark.parametrize("path,fmt,options", [
    ("llm-foundry/world_knowledge/arc_easy.jsonl", "mc", 4),
    ("llm-foundry/tests_small/winograd_small.jsonl", "winograd", 2),
    ("llm-foundry/tests_small/piqa_small.jsonl", "mc", 2),
    ("mmlu/test/anatomy_test.csv", "mmlu-csv", 4),
    ("gsm8k/test.jsonl", "cloze", 1),
    ("humaneval/HumanEval.jsonl.gz", "cloze", 1),
])
def test_benchmark_formats_of_the_shared_data(shared_data, path, fmt, options):
    b = benchmarks.load(BenchmarkConfig(path=str(shared_data / "benchmarks" / path)), 3)
    assert b.format == fmt and len(b.items) == 3
    assert all(len(i.options) == options and 0 <= i.gold < options for i in b.items)
    assert all(x.startswith(" ") and x.strip() for i in b.items for _, x in i.options)


def test_cli_refuses_in_one_line_with_exit_code_2(scored_run, tmp_path):
    cfg = _config(scored_run, tmp_path)
    cfg["variants"][1]["where"] = "score_nope_v1 >= 0.5"
    path = tmp_path / "bad.yaml"
    path.write_text(yaml.safe_dump(cfg))
    r = subprocess.run([sys.executable, "-m", "winnow.pipeline.cli", "ablate", str(path), "-q"],
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 2, r.stderr[-2000:]
    assert r.stderr.strip().startswith("error:") and len(r.stderr.strip().splitlines()) == 1
    assert "unknown column 'score_nope_v1'" in r.stderr
    with pytest.raises(ConfigError, match="unknown key 'tokenz'"):
        load_ablate_config(text=yaml.safe_dump({**cfg, "tokenz": 5}))


@pytest.fixture(scope="module")
def ablation(scored_run, shared_data, tmp_path_factory):
    out = tmp_path_factory.mktemp("ablate")
    arc = {"path": str(shared_data / "benchmarks/llm-foundry/world_knowledge/arc_easy.jsonl"), "max_items": 20}
    cfg = AblateConfig(**_config(scored_run, out, benchmarks=[arc]))
    progress: list[str] = []
    return cfg, run_ablation(cfg, progress.append), progress


def test_ablation_writes_verdicts_intervals_and_the_aa_control(ablation):
    cfg, rep, progress = ablation
    on_disk = json.loads(Path(cfg.output, "ablation.json").read_text())
    assert on_disk["pairs"] == json.loads(json.dumps(rep["pairs"]))
    assert Path(cfg.output, "differences.png").stat().st_size > 0
    page = Path(cfg.output, "ablation.html").read_text()  # the section report pages show, standalone
    assert page.count("<section id='ablation'>") == 1 and "data:image/png;base64," in page
    for p in rep["pairs"]:
        assert f"{p['a']} vs {p['b']}</td><td><b>{p['verdict']}</b>" in page
    assert rep["aa_control"]["verdict"] in page
    # 3 variants + 2 halves, 2 seeds, 2 learning rates: every proxy recorded with its metrics.
    assert len(rep["proxies"]) == 20 and rep["engine"]["trained"] == 20
    assert rep["proxy"]["learning_rates"] == [1e-3, 5e-4]
    assert {s["name"] for s in rep["slices"]} >= {"heldout/wiki", "heldout/code", "bench/arc_easy"}
    assert {(p["a"], p["b"]) for p in rep["pairs"]} == {("all", "letters"), ("all", "prose"), ("letters", "prose")}
    for p in rep["pairs"]:
        assert p["verdict"] in ("inconclusive", f"{p['a']} is better", f"{p['b']} is better")
        assert p["min_detectable_effect"] > 0 and len(p["rates"]) == 2
        for r in p["rates"]:
            lo, hi = r["main"]["ci_holm"]
            assert lo <= r["main"]["estimate"] <= hi and 0 <= r["main"]["p_holm"] <= 1
            assert "bench/arc_easy:margin" in r["metrics"] and "heldout/wiki:bpb" in r["metrics"]
    assert [p["scale_sensitive"] for p in rep["pairs"]] == [True, False, True]  # filter decisions only
    aa = rep["aa_control"]
    assert (aa["a"], aa["b"]) == ("all#1", "all#2") and len(aa["rates"]) == 2 and "verdict" in aa
    assert all(v["unique_tokens"] > 0 and v["epochs_at_budget"] < 1 for v in rep["variants"].values())
    metrics = rep["metrics"][0]["metrics"]
    assert "snr" in metrics["heldout/wiki:bpb"] and isinstance(metrics["bench/arc_easy:acc"]["too_noisy"], bool)
    assert any("ETA" in line and "proxies/h" in line for line in progress)


def test_held_out_documents_are_out_of_every_variant(ablation, scored_run):
    cfg, rep, _ = ablation
    data = prepare(cfg)
    assert any(s.name.startswith("heldout/") for s in data.slices)
    assert all(v["removed_overlapping_evaluation"] > 0 for v in rep["variants"].values())
    train_ids = {i for v in data.arms() for i in v.docs.ids}
    from winnow.mixing.data import is_heldout

    assert not any(is_heldout(i, cfg.heldout.fraction) for i in train_ids)


def test_cli_replaces_another_configs_ablation_only_with_overwrite(ablation, scored_run, tmp_path):
    from winnow.pipeline.cli.common import JobOptions

    cfg, _, _ = ablation
    other = _config(scored_run, Path(cfg.output))
    other["variants"][1]["where"] = "score_nope_v1 >= 0.5"  # another config, and one refused before any training
    path = tmp_path / "other.yaml"
    path.write_text(yaml.safe_dump(other))
    cmd = [sys.executable, "-m", "winnow.pipeline.cli", "ablate", str(path), "-q"]
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=120, check=False)
    assert r.returncode == 2, r.stderr[-2000:]
    assert len(r.stderr.strip().splitlines()) == 1
    assert "holds an ablation of another config; pass --overwrite" in r.stderr
    r = subprocess.run([*cmd, "--overwrite"], capture_output=True, text=True, timeout=120, check=False)
    assert r.returncode == 2 and "unknown column 'score_nope_v1'" in r.stderr  # past the guard, to the input checks
    same = AblateConfig(**json.loads(Path(cfg.output, "ablation.json").read_text())["config"])
    job = JobOptions("ablate", "ablate", "ablation", "ablation.json", None, None, [], None, False, True, False)
    # The same config run another way (engine) is not another ablation: no exit.
    job.refuse_other(same.model_copy(update={"engine": same.engine.model_copy(update={"num_cpus": 3})}))


def test_the_verdicts_show_in_the_report_of_the_run_a_variant_reads(ablation, shared_data, tmp_path):
    from winnow.mixing.ablate import html
    from winnow.pipeline.config import load_config
    from winnow.pipeline.runner import run_pipeline

    cfg, rep, _ = ablation
    docs = tmp_path / "web.jsonl"
    docs.write_bytes(b"\n".join(gzip.decompress((shared_data / "domains" / "web.jsonl.gz").read_bytes())
                                .splitlines()[:20]) + b"\n")
    run = tmp_path / "run"
    run_pipeline(load_config(text=f"inputs: ['{docs}']\noutput: {run}\nengine: {{executor: local}}\n"
                                  "stages:\n  - {name: domain_tag, default: web}\n"))
    as_if_read = json.loads(json.dumps(rep))
    as_if_read["variants"]["all"]["source"] = str(run)  # the ablation's own variants read a fake run: no stats.json
    for _ in range(2):  # a rerun replaces its section
        assert html.add_to_run_reports(as_if_read, cfg.output) == [str(run)]
    page = (run / "report.html").read_text()
    assert "id='funnel'" in page and page.count("<section id='ablation'>") == 1
    assert rep["aa_control"]["verdict"] in page and os.path.abspath(cfg.output) in page
    assert html.add_to_run_reports(rep, cfg.output) == []  # sources without stats.json are not runs


@pytest.mark.slow
def test_the_verdicts_reach_a_run_written_to_s3(ablation, shared_data, tmp_path, s3_server):
    """A variant reading a run on an object store gets the section there too (it used to be skipped)."""
    import pyarrow.fs as pafs

    from winnow.mixing.ablate import html
    from winnow.pipeline import storage
    from winnow.pipeline.config import load_config
    from winnow.pipeline.runner import run_pipeline

    pafs.S3FileSystem(endpoint_override=s3_server, scheme="http", access_key="testing-key-id", secret_key="SECRETsecret123",
                      region="us-east-1", allow_bucket_creation=True).create_dir("winnow-ablate")
    cfg, rep, _ = ablation
    docs = tmp_path / "web.jsonl"
    docs.write_bytes(b"\n".join(gzip.decompress((shared_data / "domains" / "web.jsonl.gz").read_bytes())
                                .splitlines()[:10]) + b"\n")
    run = "s3://winnow-ablate/run"
    run_pipeline(load_config(text=f"inputs: ['{docs}']\noutput: {run}\nengine: {{executor: local}}\n"
                                  "stages:\n  - {name: domain_tag, default: web}\n"))
    as_if_read = json.loads(json.dumps(rep))
    as_if_read["variants"]["all"]["source"] = run
    assert html.add_to_run_reports(as_if_read, cfg.output) == [run]
    page = storage.read_bytes(f"{run}/report.html").decode("utf-8")
    assert "id='funnel'" in page and page.count("<section id='ablation'>") == 1
    assert storage.list_files(f"{run}/report.d", ".html")  # kept there, so the next rebuild shows it again


def test_rerun_trains_nothing_and_scores_a_new_slice_from_saved_weights(ablation, shared_data):
    cfg, rep, _ = ablation
    again = run_ablation(cfg)
    assert again["engine"]["trained"] == 0 and all(p["cached"] for p in again["proxies"])
    assert again["pairs"] == rep["pairs"]
    piqa = {"path": str(shared_data / "benchmarks/llm-foundry/tests_small/piqa_small.jsonl")}
    grown = run_ablation(cfg.model_copy(update={"benchmarks": [*cfg.benchmarks, type(cfg.benchmarks[0])(**piqa)]}))
    assert grown["engine"]["trained"] == 0
    assert "bench/piqa_small:margin" in grown["pairs"][0]["rates"][0]["metrics"]


def test_filter_language_on_a_table():
    import pyarrow as pa

    from winnow.mixing.ablate import decide

    t = pa.table({"s": [0.1, 0.6, None, 0.95], "domain": ["web", "wiki", "code", "wiki"]})

    def truth(expr: str) -> list:
        return decide.evaluate(decide.parse(expr, "where"), t, "where").to_pylist()

    assert truth("s >= 0.5") == [False, True, None, True]  # a missing score is undecided, not False
    assert truth("0.5 <= s < 0.9") == [False, True, None, False]
    assert truth("s >= 0.5 or domain == 'code'") == [False, True, True, True]
    assert truth("domain in ['wiki', 'code'] and not s < 0.9") == [False, False, None, True]
    assert truth("s is None") == [False, False, True, False]
    assert decide.columns(decide.parse("s > 1 and domain != 'x'", "w")) == {"s", "domain"}
    with pytest.raises(ConfigError, match="Call is not allowed"):
        decide.parse("len(domain) > 3", "where")
    with pytest.raises(ConfigError, match="cannot evaluate"):
        truth("domain > 0.5")
    top = decide.top_percent_mask(pa.chunked_array([[0.1, 0.9, None, 0.5, 0.9]]), 40)
    assert top.tolist() == [False, True, None, False, True]  # ties at the cut are kept


def test_overlap_index_removes_embedded_copies_but_not_shared_templates(shared_data):
    from winnow.mixing.ablate.heldout import OverlapIndex
    from winnow.mixing.ablate.variants import Docs

    with gzip.open(shared_data / "domains" / "wiki.jsonl.gz", "rt", encoding="utf-8") as f:
        texts = [json.loads(line)["text"][:2000] for _, line in zip(range(6), f)]
    menu = "Home | News | Topics | About us | Contact | Privacy policy | Subscribe to our newsletter today"
    footer = "We use cookies to improve your experience. By continuing to browse you accept our cookie policy."
    index = OverlapIndex(0.5)
    for i, t in enumerate(texts[:3]):  # three held-out pages of one site: the menu and footer are template
        index.add(f"held{i}", f"{menu}\n\n{t}\n\n{footer}")
    training = Docs(
        ids=["raw-copy", "other-site", "same-site-new-page", "held1"],
        texts=[f"{menu}\nArchive\n{texts[0]}\n{footer}", texts[3], f"{menu}\n\n{texts[4]}\n\n{footer}", "renamed"],
        domains=["wiki"] * 4,
    )
    kept, removed = index.remove_from(training)
    assert removed == 2 and kept.ids == ["other-site", "same-site-new-page"]


def test_overlap_index_removes_a_short_held_out_text_under_another_id():
    """A text under 8 words has no 8-gram; its copy under another id (a URL in a raw variant) still goes."""
    from winnow.mixing.ablate.heldout import OverlapIndex
    from winnow.mixing.ablate.variants import Docs

    index = OverlapIndex(0.5)
    index.add("held-short", "Quarterly rainfall totals for Lisbon rose sharply.")
    index.add("held-empty", "—")  # no word at all: matches nothing
    training = Docs(ids=["raw:copy", "raw:other", "raw:dash"],
                    texts=["quarterly rainfall totals, for Lisbon, rose sharply", "Lisbon rose sharply.", "…"],
                    domains=["web"] * 3)
    kept, removed = index.remove_from(training)
    assert removed == 1 and kept.ids == ["raw:other", "raw:dash"]
