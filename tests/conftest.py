"""Shared fixtures: the real sample data beside the project, and one small Ray for the whole session."""

from __future__ import annotations

import os
import sys
from pathlib import Path

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

SHARED_DATA = Path(os.environ.get("WINNOW_SHARED_DATA", Path(__file__).resolve().parents[2] / "shared" / "data"))


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """../shared/data; tests that need it skip with a clear reason when it is absent."""
    if not SHARED_DATA.is_dir():
        pytest.skip(f"real sample data not found at {SHARED_DATA} (set WINNOW_SHARED_DATA)")
    return SHARED_DATA


@pytest.fixture(scope="session")
def ray_session():
    """One embedded Ray for the session: starting Ray costs ~5 s and ~1.7 GiB, so tests share it."""
    import ray

    if not ray.is_initialized():
        ray.init(address="local", num_cpus=2, object_store_memory=256 * 1024 * 1024, include_dashboard=False,
                 log_to_driver=False)
    yield ray
    ray.shutdown()
