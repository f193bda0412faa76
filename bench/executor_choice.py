"""The two figures behind `executor: auto` (pipeline/planning.py), measured on pages outside every scored job.

    .venv/bin/python -P bench/executor_choice.py [--rounds 3]

`auto` runs a job of a few units in-process unless running them side by side would save more wall time than an
embedded Ray costs to start. That needs what a MB of WARC costs (`WarcReader.seconds_per_mb`) and what Ray's start
costs (`RAY_START_SECONDS`). Both are measured here on ../shared/data/web/trafilatura_tests_cache.tar.gz (109 real
pages, none of them in cc/web_pages.warc.gz, the pages every end-to-end job of bench/e2e.py is built from), packed
as two WARC files A and B of about equal size, through the same recipe as bench/e2e.py (the `commoncrawl` recipe
without its dedup stages):

  local A      `winnow run --executor local` on A
  local A+B    the same on both files, one after the other
  ray A+B      `winnow run --executor ray` on both (an embedded cluster, 2 CPUs; one file per worker)

seconds per MB = (wall of local A+B - wall of local A) / MB of B; Ray's start = wall of ray A+B - wall of local A
(two equal units side by side take as long as one, plus what Ray adds). CPU of every process is counted as in
bench/e2e.py (bench/_procs.py). Rounds interleave the three runs; medians are printed. (-P keeps bench/ off sys.path.)
"""

from __future__ import annotations

import argparse
import importlib.util
import statistics
import sys
import tarfile
import tempfile
import uuid
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT.parent / "shared" / "data"
PAGES = DATA / "web" / "trafilatura_tests_cache.tar.gz"
RECIPE = ROOT / "configs" / "commoncrawl.yaml"
DEDUP = {"url_dedup", "exact_dedup", "minhash_dedup"}


def _bench_module(name: str):
    """A sibling script as a module (bench/ is kept off sys.path: run with -P)."""
    spec = importlib.util.spec_from_file_location(f"_bench_{name}", ROOT / "bench" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


E2E = _bench_module("e2e")  # its process measurement and its WARC record writer


def _record(url: str, html: bytes) -> bytes:
    """One gzip member: a WARC response record holding an HTTP 200 answer with the page."""
    http = b"HTTP/1.1 200 OK\r\nContent-Type: text/html; charset=utf-8\r\n\r\n" + html
    return E2E._warc_bytes({"WARC-Type": "response", "WARC-Record-ID": f"<urn:uuid:{uuid.uuid4()}>",
                            "WARC-Target-URI": url, "WARC-Date": "2024-01-01T00:00:00Z",
                            "Content-Type": "application/http; msgtype=response"}, http)


def build(work: Path) -> tuple[Path, Path]:
    """The cached pages as two WARC files, alternating pages so the halves are alike."""
    with tarfile.open(PAGES) as tar:
        pages = sorted((m.name, tar.extractfile(m).read()) for m in tar.getmembers() if m.name.endswith(".html"))
    files = (work / "a.warc.gz", work / "b.warc.gz")
    for k, path in enumerate(files):
        path.write_bytes(b"".join(_record(f"https://{name.split('/')[-1][:-5]}/", html)
                                  for name, html in pages[k::2]))
    return files


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--rounds", type=int, default=3)
    args = ap.parse_args()
    procs = E2E._procs()
    work = Path(tempfile.mkdtemp(prefix="winnow-executor-choice-"))
    a, b = build(work)
    raw = yaml.safe_load(RECIPE.read_text())
    raw["stages"] = [s for s in raw["stages"] if s["name"] not in DEDUP]
    recipe = work / "recipe.yaml"
    recipe.write_text(yaml.safe_dump(raw, sort_keys=False))
    winnow = str(Path(sys.executable).with_name("winnow"))
    runs = {"local A": ("local", [a]), "local A+B": ("local", [a, b]), "ray A+B": ("ray", [a, b])}
    got: dict[str, list[dict]] = {name: [] for name in runs}
    names = list(runs)
    for r in range(args.rounds):
        for name in names[r % 3:] + names[: r % 3]:
            executor, files = runs[name]
            cmd = [winnow, "run", str(recipe), "--output", str(work / "out"), "--overwrite", "-q",
                   "--executor", executor, "--set", "engine.num_cpus=2"]
            for f in files:
                cmd += ["--input", str(f)]
            m = procs.run_measured(cmd, work / f"log-{r}-{name.replace(' ', '_').replace('+', '')}")
            if m["rc"] != 0:
                raise SystemExit(f"{name} failed: see {work}/log-{r}-*.err")
            got[name].append(m)
            print(f"round {r + 1} {name:10s} wall {m['wall']:6.2f} s  CPU {m['cpu_tree']:6.2f} s", flush=True)
    wall = {k: statistics.median(m["wall"] for m in v) for k, v in got.items()}
    cpu = {k: statistics.median(m["cpu_tree"] for m in v) for k, v in got.items()}
    mb_b = b.stat().st_size / 1e6
    print(f"\nA {a.stat().st_size / 1e6:.2f} MB, B {mb_b:.2f} MB (gzip WARC)")
    for k in runs:
        print(f"{k:10s} median wall {wall[k]:6.2f} s  CPU {cpu[k]:6.2f} s")
    print(f"seconds per MB of WARC (wall, one core): {(wall['local A+B'] - wall['local A']) / mb_b:.2f}")
    print(f"CPU-seconds per MB of WARC: {(cpu['local A+B'] - cpu['local A']) / mb_b:.2f}")
    print(f"Ray's start, wall: {wall['ray A+B'] - wall['local A']:.2f} s; CPU it adds: "
          f"{cpu['ray A+B'] - cpu['local A+B']:.2f} s")


if __name__ == "__main__":
    main()
