"""Node-loss drill, run as its own process: a Ray cluster of a head and two worker nodes on loopback, one killed mid-run.

Own process because the test session may already hold an embedded Ray (one per process). Prints one JSON line.
Usage: python _fuzz_cluster.py SHARED_DATA WORKDIR
"""

from __future__ import annotations

import gzip
import json
import sys
import threading
import time
from pathlib import Path

UNITS = 8
SLEEP_S = 1.5  # per unit, so the kill lands while units are running
CONFIG = """\
inputs: ['{inputs}/*.jsonl.gz']
output: {output}
engine: {{executor: {executor}, max_in_flight: 4}}
stages:
  - {{name: test_min_chars, min_chars: 300, sleep_s: {sleep}}}
"""


def make_inputs(shared: Path, out: Path) -> None:
    """Eight JSONL units cut from the real domain samples (40 documents each)."""
    out.mkdir(parents=True, exist_ok=True)
    lines = []
    for name in ("web", "forum_qa", "wiki", "docs"):
        with gzip.open(shared / "domains" / f"{name}.jsonl.gz", "rb") as f:
            for _, line in zip(range(80), f):
                lines.append(line)
    for u in range(UNITS):
        (out / f"unit{u}.jsonl.gz").write_bytes(gzip.compress(b"".join(lines[u * 40 : (u + 1) * 40]), mtime=0))


def documents(output: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted((output / "documents").glob("*.parquet"))}


def main(shared: Path, work: Path) -> dict:
    from winnow.pipeline.config import load_config
    from winnow.pipeline.runner import run_pipeline

    inputs = work / "in"
    make_inputs(shared, inputs)
    t0 = time.monotonic()
    local = run_pipeline(load_config(text=CONFIG.format(inputs=inputs, output=work / "local", executor="local", sleep=0)))
    local_s = time.monotonic() - t0

    import ray
    from ray.cluster_utils import Cluster

    from winnow.pipeline.executors import RayExecutor

    t0 = time.monotonic()
    small = {"object_store_memory": 80 * 1024 * 1024, "include_dashboard": False}
    cluster = Cluster(initialize_head=True, head_node_args={"num_cpus": 0, **small})  # the head runs no units
    workers = [cluster.add_node(num_cpus=1, **small) for _ in range(2)]
    cluster.wait_for_nodes()
    ray.init(address=cluster.address, logging_level="ERROR", log_to_driver=False)
    start_s = time.monotonic() - t0

    cfg = load_config(text=CONFIG.format(inputs=inputs, output=work / "ray", executor="ray", sleep=SLEEP_S))
    markers = work / "ray" / "_work" / "seg0"
    box: dict = {}

    def run() -> None:
        try:
            box["result"] = run_pipeline(cfg, executor=RayExecutor(address=cluster.address))
        except BaseException as exc:  # noqa: BLE001 - reported, not raised in the thread
            box["error"] = repr(exc)

    t0 = time.monotonic()
    thread = threading.Thread(target=run)
    thread.start()
    killed_after = None
    while thread.is_alive() and killed_after is None:
        done = len(list(markers.glob("*.done.json"))) if markers.exists() else 0
        if done >= 2:  # some units finished; the next two start now, one on each node
            # Half a unit later both nodes are inside a unit: killing one then loses a running task, which only a
            # retry recovers (killed at once, the node was often between tasks and nothing needed retrying).
            time.sleep(SLEEP_S / 2)
            cluster.remove_node(workers[0], allow_graceful=False)
            killed_after = len(list(markers.glob("*.done.json")))
        time.sleep(0.05)
    thread.join(timeout=240)
    run_s = time.monotonic() - t0
    alive_nodes = sum(1 for n in ray.nodes() if n["Alive"])  # informative: the GCS may not have noticed the loss yet
    ray.shutdown()
    cluster.shutdown()
    result = box.get("result")
    return {
        "error": box.get("error"),
        "hung": thread.is_alive(),
        "killed_after_units": killed_after,
        "units": UNITS,
        "alive_nodes_after": alive_nodes,
        "balanced": bool(result and result.balanced),
        "problems": result.problems if result else None,
        "documents": result.stats["documents"] if result else None,
        "identical": documents(work / "local") == documents(work / "ray") and bool(documents(work / "local")),
        "local_documents": local.stats["documents"],
        "local_s": round(local_s, 1),
        "cluster_start_s": round(start_s, 1),
        "ray_run_s": round(run_s, 1),
    }


if __name__ == "__main__":
    print(json.dumps(main(Path(sys.argv[1]), Path(sys.argv[2]))))
