"""Fixtures for the packaging tests: the wheel installed in a fresh venv, and the demo run by it.

The wheel is built offline and installed (with the third-party stage package in tests/plugins/hello_stage)
into a fresh virtual environment whose dependencies come from this one; commands run from empty directories.
"""

from __future__ import annotations

import os
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
PLUGIN = REPO / "tests" / "plugins" / "hello_stage"
PIP_OFFLINE = ["--no-deps", "--no-index", "--no-build-isolation", "-q"]


def _run(cmd: list[str], cwd: Path, env: dict, timeout: float = 600) -> subprocess.CompletedProcess:
    r = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)
    assert r.returncode == 0, f"{' '.join(map(str, cmd))} exited {r.returncode}\n{r.stdout[-3000:]}\n{r.stderr[-3000:]}"
    return r


@pytest.fixture(scope="session")
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


@pytest.fixture(scope="session")
def demo_dir(wheel_env, tmp_path_factory) -> Path:
    """A working directory where the installed `winnow run` (no arguments) wrote the demo to out/demo."""
    bin_dir, env = wheel_env
    work = tmp_path_factory.mktemp("demo")
    _run([str(bin_dir / "winnow"), "run", "-q"], work, env)
    return work
