"""What an embedded Ray costs before any Winnow stage runs: the floor under a one-record `winnow run --executor ray`.

    .venv/bin/python -P bench/ray_floor.py [--rounds 3]

Three commands, each a fresh process tree measured as bench/e2e.py measures `winnow run` (bench/_procs.py: the
CPU of every process it starts, Ray's daemons included), rounds interleaved:

  import ray   `python -c "import ray"`: what the driver pays to load Ray at all
  ray no-op    start Ray exactly as `winnow run --executor ray` does (pipeline/executors.RayExecutor: embedded,
               2 CPUs, no dashboard), run one task that does nothing, shut down
  local no-op  the same through LocalExecutor (the in-process path `executor: auto` takes for a one-unit job)
  joined no-op (--joined) the same driver joining a Ray that `ray start --head` left running (`--address`): what
               a run pays when Ray's daemons are already up (their start is outside the measured window). Its
               worker is the running raylet's child, not the command's: only the machine-wide busy time (all
               cores, /proc/stat; meaningful on an idle machine) counts it, so read that column for this row

The gap between `ray no-op` and `local no-op` is what Ray alone adds to a job, whatever the job is: no stage is
imported, no record read. Per-process medians show where it goes (Ray's GCS, raylet, dashboard head and agent,
runtime-env agent, autoscaler monitor, log monitor, the worker). (-P keeps bench/ off sys.path.)
"""

from __future__ import annotations

import argparse
import contextlib
import importlib.util
import json
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

NOOP = """
import os, sys
from winnow.pipeline.executors import LocalExecutor, RayExecutor
def noop(x):
    return x
if sys.argv[1] == "ray":
    ex = RayExecutor(num_cpus=2)
elif sys.argv[1] == "joined":
    ex = RayExecutor(address=sys.argv[2])
else:
    ex = LocalExecutor()
assert ex.map(noop, [(1,)]) == [1]
ex.shutdown()
"""



def commands(folder: str, cluster: str | None) -> dict[str, list[str]]:
    driver = Path(folder) / "noop_driver.py"  # a file, so the per-process table names the driver by it
    driver.write_text(NOOP)
    cmds = {
        "import ray": [sys.executable, "-c", "import ray"],
        "ray no-op": [sys.executable, str(driver), "ray"],
        "local no-op": [sys.executable, str(driver), "local"],
    }
    if cluster:
        cmds["joined no-op"] = [sys.executable, str(driver), "joined", cluster]
    return cmds


@contextlib.contextmanager
def running_cluster(port: int):
    """`ray start --head` on this machine, outside every measured window (its daemons' CPU is not counted)."""
    ray = str(Path(sys.executable).with_name("ray"))
    subprocess.run([ray, "start", "--head", f"--port={port}", "--num-cpus=2", "--include-dashboard=false"],
                   check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        yield f"127.0.0.1:{port}"
    finally:
        subprocess.run([ray, "stop", "--force"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def _procs():
    """bench/_procs.py, loaded by path (bench/ is kept off sys.path)."""
    spec = importlib.util.spec_from_file_location("_floor_procs", Path(__file__).with_name("_procs.py"))
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--json", help="write every run here")
    ap.add_argument("--joined", action="store_true",
                    help="also measure a driver joining a Ray started beforehand (`ray start --head`, not counted)")
    ap.add_argument("--port", type=int, default=6399, help="GCS port of that cluster")
    args = ap.parse_args()
    procs = _procs()
    with tempfile.TemporaryDirectory() as logs, contextlib.ExitStack() as stack:
        cluster = stack.enter_context(running_cluster(args.port)) if args.joined else None
        cmds = commands(logs, cluster)
        runs: dict[str, list[dict]] = {name: [] for name in cmds}
        for r in range(args.rounds):
            names = list(cmds)
            for name in names[r % len(names):] + names[: r % len(names)]:  # rotate the order each round
                m = procs.run_measured(cmds[name], f"{logs}/{r}-{name.replace(' ', '_')}", cwd=str(ROOT))
                if m["rc"] != 0:
                    sys.exit(f"{name} exited {m['rc']}:\n" + Path(f"{logs}/{r}-{name.replace(' ', '_')}.err").read_text())
                runs[name].append(m)
                print(f"  round {r} {name:12s} cpu {m['cpu_tree']:5.2f}s wall {m['wall']:5.2f}s", file=sys.stderr)
    print("| command | CPU s, process tree (median) | range | machine busy s (median) | wall s (median) |\n"
          "|---|---:|---:|---:|---:|")
    for name, ms in runs.items():
        cpu = [m["cpu_tree"] for m in ms]
        print(f"| {name} | {statistics.median(cpu):.2f} | {min(cpu):.2f}–{max(cpu):.2f} "
              f"| {statistics.median(m['cpu_machine'] for m in ms):.2f} | {statistics.median(m['wall'] for m in ms):.2f} |")
    print("\nWhere `ray no-op` goes (median CPU s per process, live samples, a lower bound):\n")
    by_name: dict[str, list[float]] = {}
    for m in runs["ray no-op"]:
        for proc, cpu in m["cpu_by_process"].items():
            by_name.setdefault(proc, []).append(cpu)
    for proc, cpus in sorted(by_name.items(), key=lambda kv: -statistics.median(kv[1])):
        print(f"- {proc}: {statistics.median(cpus):.2f}")
    if args.json:
        Path(args.json).write_text(json.dumps(runs, indent=1))


if __name__ == "__main__":
    main()
