"""The wheel as a user installs it: one `winnow` package, bundled recipes, stages found by entry point.

Builds the wheel offline, installs it (and a third-party stage package from tests/plugins/hello_stage)
into a fresh virtual environment whose dependencies come from this one, and runs the commands a new
user runs from an empty directory.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest


REPO = Path(__file__).resolve().parents[2]
PLUGIN = REPO / "tests" / "plugins" / "hello_stage"
PIP_OFFLINE = ["--no-deps", "--no-index", "--no-build-isolation", "-q"]

pytestmark = pytest.mark.slow


def _run(cmd: list[str], cwd: Path, env: dict, timeout: float = 600) -> subprocess.CompletedProcess:
    r = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)
    assert r.returncode == 0, f"{' '.join(map(str, cmd))} exited {r.returncode}\n{r.stdout[-3000:]}\n{r.stderr[-3000:]}"
    return r


@pytest.fixture(scope="module")
def wheel_env(tmp_path_factory) -> tuple[Path, dict]:
    """(bin dir, environment) of a fresh venv holding the Winnow wheel and the hello_stage plugin."""
    tmp = tmp_path_factory.mktemp("wheel")
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "WINNOW_PLUGINS")}
    # Wheels are built with this environment's setuptools (the fresh venv's own may be too old).
    for project in (REPO, PLUGIN):
        _run([sys.executable, "-m", "pip", "wheel", str(project), "-w", str(tmp / "dist"), *PIP_OFFLINE], REPO, env)
    wheel = next((tmp / "dist").glob("winnow-*.whl"))
    plugin_wheel = next((tmp / "dist").glob("winnow_hello_stage-*.whl"))
    venv = tmp / "venv"
    _run([sys.executable, "-m", "venv", str(venv)], tmp, env)
    site = Path(_run([str(venv / "bin" / "python"), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                     tmp, env).stdout.strip())
    before = set(os.listdir(site))
    py = str(venv / "bin" / "python")
    _run([py, "-m", "pip", "install", str(wheel), *PIP_OFFLINE], tmp, env)
    added = set(os.listdir(site)) - before
    assert added == {"winnow", wheel.name.split("-")[0] + "-" + wheel.name.split("-")[1] + ".dist-info"}, added
    # The dependencies: this environment's site-packages, appended after the wheel's own (a .pth in a
    # site directory is read; the editable install's .pth inside it is not, so the wheel is what imports).
    (site / "zz_winnow_test_deps.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    _run([py, "-m", "pip", "install", str(plugin_wheel), *PIP_OFFLINE], tmp, env)
    return venv / "bin", env


def test_wheel_installs_one_package_and_runs_from_an_empty_directory(wheel_env, tmp_path, shared_data):
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

    _run([winnow, "run", "-q"], tmp_path, env)  # the demo: writes out/demo
    stats = json.loads((tmp_path / "out" / "demo" / "stats.json").read_text())
    assert stats["balanced"] and stats["documents"] > 0

    tiny = ["--set", "swarm.num_mixtures=4", "--set", "swarm.tokens_per_proxy=3000", "--set", "validation.seeds=2",
            "--set", "proxy.n_layer=1", "--set", "proxy.eval_tokens=1024", "--set", "optimiser.samples=500",
            "--set", "regression.folds=2", "--set", "vocab_size=300", "-q"]
    _run([winnow, "mix", *tiny], tmp_path, env)
    assert (tmp_path / "out" / "mix" / "weights.yaml").is_file()
    _run([winnow, "export", "-q"], tmp_path, env)
    assert json.loads((tmp_path / "out" / "export" / "manifest.json").read_text())["total_tokens"] > 0


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
