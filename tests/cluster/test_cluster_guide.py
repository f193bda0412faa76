"""The README's cluster guide, word for word: `ray start --head`, then `winnow run … --address HEAD:PORT`.

The pinned Ray turns token authentication on at `ray start`; the driver must find the head's token by
itself. The head is started without the tests' plugin settings, so a stage from WINNOW_PLUGINS only works
if the driver hands its plugin environment to the cluster's workers.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow
BIN = Path(sys.executable).parent


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def head(tmp_path_factory):
    port = _free_port()
    env = {k: v for k, v in os.environ.items() if k not in ("WINNOW_PLUGINS", "PYTHONPATH", "RAY_AUTH_MODE")}
    log = open(tmp_path_factory.mktemp("head") / "head.log", "w")
    proc = subprocess.Popen(
        [str(BIN / "ray"), "start", "--head", "--port", str(port), "--num-cpus", "2", "--include-dashboard=false",
         "--object-store-memory", str(200 * 1024 * 1024), "--disable-usage-stats", "--block"],
        stdout=log, stderr=subprocess.STDOUT, env=env, start_new_session=True,
    )
    deadline = time.time() + 120
    while time.time() < deadline:  # ready once the GCS port answers
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            break
        except OSError:
            time.sleep(1)
    time.sleep(3)
    yield f"127.0.0.1:{port}"
    os.killpg(proc.pid, signal.SIGTERM)  # --block stops the head's processes with it
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
    log.close()


def test_run_joins_a_head_by_address(head, tmp_path, shared_data):
    config = tmp_path / "c.yaml"
    config.write_text("inputs: [x]\noutput: o\nstages:\n  - name: extract\n  - {name: test_min_chars, min_chars: 200}\n")
    env = {k: v for k, v in os.environ.items() if k != "RAY_AUTH_MODE"}
    r = subprocess.run(
        [str(BIN / "winnow"), "run", str(config), "--input", str(shared_data / "cc" / "web_pages.warc.gz"),
         "--output", str(tmp_path / "out"), "--address", head, "-q"],
        capture_output=True, text=True, timeout=600, env=env,
    )
    assert r.returncode == 0, r.stderr[-3000:]
    assert "InvalidAuthToken" not in r.stderr
    stats = json.loads((tmp_path / "out" / "stats.json").read_text())
    assert stats["balanced"] and stats["documents"] > 0
    assert next(s for s in stats["stages"] if s["name"] == "test_min_chars")["in"] > 0
