"""Shared fixtures: the real sample data beside the project, one small Ray for the whole session, a local S3 server,
and `require`."""

from __future__ import annotations

import importlib
import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from types import ModuleType

import pytest

TESTS_DIR = Path(__file__).resolve().parent
PLUGINS_DIR = TESTS_DIR / "plugins"  # not tests/ itself: tests/filters would shadow the filters package
# Test-only stages (tests/plugins/winnow_test_stages.py) load in this process, in Ray workers and in
# `winnow` subprocesses through the same plugin hook users have.
os.environ["WINNOW_PLUGINS"] = "winnow_test_stages"
os.environ["PYTHONPATH"] = os.pathsep.join(filter(None, [str(PLUGINS_DIR), os.environ.get("PYTHONPATH")]))
os.environ.setdefault("WINNOW_CACHE_DIR", str(TESTS_DIR.parent / ".cache"))
if str(PLUGINS_DIR) not in sys.path:
    sys.path.insert(0, str(PLUGINS_DIR))
if os.environ.get("WINNOW_TEST_FAULT"):  # a deliberate fault for a drill (RELIABILITY.md): in this process too
    import winnow_test_stages  # noqa: F401

SHARED_DATA = Path(os.environ.get("WINNOW_SHARED_DATA", Path(__file__).resolve().parents[2] / "shared" / "data"))

# Under CI (.ci/run exports WINNOW_STRICT=1; CI runners set CI=true) a missing prerequisite is a failure: a suite
# that skips its OCR, report-rendering, Megatron or real-data checks must not pass there.
STRICT = os.environ.get("WINNOW_STRICT", "") not in ("", "0") or os.environ.get("CI", "").lower() in ("true", "1")


def require(condition: object, reason: str) -> None:
    """Skip the calling test when `condition` is false, with `reason`; under CI (WINNOW_STRICT, CI) fail it."""
    if condition:
        return
    if STRICT:
        pytest.fail(f"{reason}. This is required under CI (WINNOW_STRICT=1 or CI=true): CI does not skip it.",
                    pytrace=False)
    # Reported at the test that needed it, as pytest.skip() in its body would be, not at this helper.
    raise pytest.skip.Exception(reason, _use_item_location=True)


def require_module(name: str, reason: str) -> ModuleType:
    """`pytest.importorskip` that fails under CI: returns the imported module."""
    try:
        return importlib.import_module(name)
    except ImportError as exc:
        error = exc
    require(False, f"{reason} (import {name}: {error})")
    raise error  # not reached: require() skipped or failed


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "requires(condition, reason=...): skip unless condition holds; under CI, fail instead (require())")


def pytest_runtest_setup(item: pytest.Item) -> None:
    for mark in item.iter_markers(name="requires"):
        reason = mark.kwargs.get("reason") or (mark.args[1] if len(mark.args) > 1 else "prerequisite missing")
        require(mark.args[0], reason)


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """../shared/data; when it is absent, tests that need it skip with a clear reason, or fail under CI."""
    require(SHARED_DATA.is_dir(), f"real sample data not found at {SHARED_DATA} (set WINNOW_SHARED_DATA)")
    return SHARED_DATA


def start_ray():
    """Start the session's embedded Ray (also used to restart it after a drill that leaves workers dirty)."""
    import ray

    if not ray.is_initialized():
        ray.init(address="local", num_cpus=2, object_store_memory=256 * 1024 * 1024, include_dashboard=False,
                 log_to_driver=False)
    return ray


@pytest.fixture(scope="session")
def ray_session():
    """One embedded Ray for the session: starting Ray costs ~5 s and ~1.7 GiB, so tests share it."""
    ray = start_ray()
    yield ray
    ray.shutdown()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="session")
def s3_server():
    """moto in server mode on 127.0.0.1; yields the endpoint URL. Credentials are fake and local."""
    require_module("moto.server", "moto[server] not installed (pip install '.[dev]')")  # fails under CI
    port = _free_port()
    proc = subprocess.Popen([sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    deadline = time.time() + 30
    while time.time() < deadline:
        try:
            urllib.request.urlopen(url, timeout=1)
            break
        except Exception:
            time.sleep(0.2)
    else:
        proc.kill()
        pytest.fail("moto server did not start")
    old = {k: os.environ.get(k) for k in ("AWS_ENDPOINT_URL", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_REGION")}
    os.environ.update({"AWS_ENDPOINT_URL": url, "AWS_ACCESS_KEY_ID": "testing-key-id",
                       "AWS_SECRET_ACCESS_KEY": "SECRETsecret123", "AWS_REGION": "us-east-1"})
    yield url
    for k, v in old.items():
        if v is None:
            os.environ.pop(k, None)
        else:
            os.environ[k] = v
    proc.terminate()
    proc.wait(timeout=10)
