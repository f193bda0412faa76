"""The wheel as a user installs it: one `winnow` package, bundled recipes, stages found by entry point."""

from __future__ import annotations

import json

import pytest

from tests.packaging.conftest import REPO, _run

pytestmark = pytest.mark.slow


def test_wheel_installs_one_package_and_runs_from_an_empty_directory(wheel_env, demo_dir, tmp_path, shared_data):
    bin_dir, env = wheel_env
    winnow = str(bin_dir / "winnow")
    where = _run([str(bin_dir / "python"), "-c", "import winnow.pipeline as p; print(p.__file__)"], tmp_path, env)
    assert "site-packages" in where.stdout and str(REPO) not in where.stdout

    listed = _run([winnow, "recipes"], tmp_path, env).stdout
    assert "commoncrawl" in listed and "demo" in listed
    _run([winnow, "recipes", "copy", "dedup", "mine"], tmp_path, env)
    assert "shared/" not in (tmp_path / "mine" / "dedup.yaml").read_text()

    warc = shared_data / "cc" / "web_pages.warc.gz"
    _run([winnow, "run", "commoncrawl", "--input", str(warc), "--output", "cc", "-q"], tmp_path, env)
    assert json.loads((tmp_path / "cc" / "stats.json").read_text())["balanced"]

    stats = json.loads((demo_dir / "out" / "demo" / "stats.json").read_text())  # `winnow run`: the demo
    assert stats["balanced"] and stats["documents"] > 0

    tiny = ["--set", "swarm.num_mixtures=4", "--set", "swarm.adaptive=false", "--set", "swarm.tokens_per_proxy=3000", "--set", "validation.seeds=2",
            "--set", "proxy.n_layer=1", "--set", "proxy.eval_tokens=1024", "--set", "optimiser.samples=500",
            "--set", "regression.folds=2", "--set", "vocab_size=300", "-q"]
    _run([winnow, "mix", *tiny], demo_dir, env)
    assert (demo_dir / "out" / "mix" / "weights.yaml").is_file()
    _run([winnow, "export", "-q"], demo_dir, env)
    assert json.loads((demo_dir / "out" / "export" / "manifest.json").read_text())["total_tokens"] > 0


def test_third_party_stage_runs_from_a_config(wheel_env, tmp_path, shared_data):
    bin_dir, env = wheel_env
    config = tmp_path / "hello.yaml"
    config.write_text(
        f"inputs:\n  - {shared_data / 'domains' / 'wiki.jsonl.gz'}\noutput: {tmp_path / 'out'}\n"
        "engine:\n  executor: local\nstages:\n  - name: hello_filter\n    word: the\n"
    )
    _run([str(bin_dir / "winnow"), "run", str(config), "-q"], tmp_path, env)
    stats = json.loads((tmp_path / "out" / "stats.json").read_text())
    hello = next(s for s in stats["stages"] if s["name"] == "hello_filter")
    assert hello["kept"] > 0 and set(hello["dropped"]) <= {"hello_filter_missing_word"}
