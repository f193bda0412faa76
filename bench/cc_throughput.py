"""Common Crawl throughput and extraction quality: Winnow's recipe vs datatrove's, in one run, on the same WARC.

    python -P bench/cc_throughput.py [--warc ../shared/data/cc/web_pages.warc.gz] [--skip-direct] [--quality-only]

Prints, on one core each (single process, sequential):
  1. gzip decoders (zlib, zcat, isal igzip) vs Winnow's WARC reader: MB/s of the compressed file and the ratio;
  2. documents/s of Winnow's recipe (read → extract → language → url_filter → gopher_repetition → gopher_quality →
     c4_quality → fineweb_quality) and of datatrove's (WarcReader → Trafilatura → GopherRepetition → GopherQuality
     → C4Quality → FineWebQuality; its LanguageFilter downloads a model at run time, so it is left out, which only
     favours datatrove), counting every input record;
  3. extraction quality on ../shared/data/web/groundtruth.json: share of `with` snippets found and of `without`
     snippets absent, for each extractor and for trafilatura called directly.
(-P keeps bench/ off sys.path: bench/tokenize.py would shadow the standard library.)
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import re
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

DATA = Path(__file__).resolve().parents[2] / "shared" / "data"


def cpu() -> float:
    me, kids = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return me.ru_utime + me.ru_stime + kids.ru_utime + kids.ru_stime


def child_cpu(pid: int) -> float:
    """CPU seconds a live child has used so far (Linux /proc: utime + stime)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


class Timer:
    def __enter__(self):
        self.w, self.c = time.perf_counter(), cpu()
        return self

    def __exit__(self, *exc):
        self.wall, self.cpu = time.perf_counter() - self.w, cpu() - self.c


def gzip_decoders(path: Path) -> dict[str, float]:
    data = path.read_bytes()
    out = {}
    n = len(gzip.decompress(data))  # warm the page cache and allocator, as for every decoder below
    with Timer() as t:
        gzip.decompress(data)
    out["zlib (gzip module)"] = t.cpu
    if shutil.which("zcat"):
        with Timer() as t:
            subprocess.run(["zcat", str(path)], stdout=subprocess.DEVNULL, check=True)
        out["zcat"] = t.cpu
    try:
        from isal import igzip

        igzip.decompress(data)
        with Timer() as t:
            igzip.decompress(data)
        out["isal igzip"] = t.cpu
    except ImportError:
        pass
    print(f"  file: {len(data) / 1e6:.1f} MB compressed, {n / 1e6:.1f} MB inflated")
    return out


def winnow_read(path: Path) -> tuple[float, int]:
    from winnow.pipeline.readers.warc import WarcReader

    best, n = float("inf"), 0
    for _ in range(3):  # the first pass pays page faults and allocator growth; keep the best
        with Timer() as t:
            n = sum(o.kept.num_rows for o in WarcReader().read(str(path)))
        best = min(best, t.cpu)
    return best, n


def winnow_recipe(path: Path, warm: Path | None = None) -> tuple[Timer, dict[str, int]]:
    from winnow.pipeline.readers.warc import WarcReader
    from winnow.pipeline.registry import STAGES

    names = ["extract", "language", "url_filter", "gopher_repetition", "gopher_quality", "c4_quality", "fineweb_quality"]
    stages = [STAGES[n]() for n in names]
    counts = {"records": 0, "kept": 0, "dropped": 0, "failed": 0}
    per_stage: dict[str, float] = {}
    if warm is not None:  # steady state: models loaded and caches warm, as in a worker's second WARC file
        for s in stages:
            s.ensure_setup()
        for o in WarcReader().read(str(warm)):
            batch = o.kept
            for s in stages:
                batch = s(batch).kept
    # The extraction worker's CPU is charged to RUSAGE_CHILDREN only when it is reaped (inside the timer), so
    # whatever it spent on the warm-up records is measured here and taken off.
    iso = getattr(stages[0], "_isolated", None)
    warm_child_cpu = child_cpu(iso.proc.pid) if iso is not None and iso.proc is not None else 0.0
    with Timer() as t:
        for s in stages:
            s.ensure_setup()
        for o in WarcReader().read(str(path)):
            batch = o.kept
            counts["records"] += batch.num_rows + sum(x.num_rows for x in (o.dropped, o.failed) if x is not None)
            counts["records"] += sum((getattr(o, "skipped", None) or {}).values())  # non-documents are read too
            for s in stages:
                t0 = time.perf_counter()
                out = s(batch)
                per_stage[s.name] = per_stage.get(s.name, 0.0) + time.perf_counter() - t0
                counts["dropped"] += out.dropped.num_rows if out.dropped is not None else 0
                counts["failed"] += out.failed.num_rows if out.failed is not None else 0
                batch = out.kept
            counts["kept"] += batch.num_rows
        if iso is not None:
            iso.close()  # its CPU time is counted once the worker is reaped
    t.cpu -= warm_child_cpu
    print("  winnow seconds per stage: " + ", ".join(f"{k} {v:.2f}" for k, v in per_stage.items()))
    return t, counts


def datatrove_recipe(path: Path, warm: Path | None = None) -> tuple[Timer, dict[str, int]]:
    from datatrove.pipeline.extractors import Trafilatura
    from datatrove.pipeline.filters import (
        C4QualityFilter,
        FineWebQualityFilter,
        GopherQualityFilter,
        GopherRepetitionFilter,
    )
    from datatrove.pipeline.readers import WarcReader

    def make_steps(p: Path) -> list:
        return [
            WarcReader(str(p.parent), glob_pattern=p.name),
            Trafilatura(favour_precision=True, timeout=5.0),
            GopherRepetitionFilter(),
            GopherQualityFilter(),
            C4QualityFilter(filter_no_terminal_punct=True),
            FineWebQualityFilter(),
        ]

    if warm is not None:  # the same warm-up as Winnow's: imports, spaCy, trafilatura loaded
        warm_steps = make_steps(warm)
        data = warm_steps[0](None, rank=0, world_size=1)
        for step in warm_steps[1:]:
            data = step(data, rank=0, world_size=1)
        sum(1 for _ in data)
    steps = make_steps(path)
    read = [0]

    def counted(docs):
        for doc in docs:
            read[0] += 1
            yield doc

    with Timer() as t:
        data = counted(steps[0](None, rank=0, world_size=1))
        for step in steps[1:]:
            data = step(data, rank=0, world_size=1)
        kept = sum(1 for _ in data)
    return t, {"kept": kept, "reader_documents": read[0]}


def datatrove_in_child(path: Path, warm: Path | None = None) -> tuple[Timer, dict]:
    """datatrove's recipe in a fresh interpreter: sharing a process with Winnow's stages made its memory run away."""
    cmd = [sys.executable, "-P", __file__, "--datatrove-only", "--warc", str(path)]
    if warm is not None:
        cmd += ["--warm-file", str(warm)]
    res = subprocess.run(cmd, capture_output=True, text=True, check=True)
    d = json.loads(res.stdout.strip().splitlines()[-1])
    t = Timer()
    t.wall, t.cpu = d.pop("wall"), d.pop("cpu")
    return t, d


def _norm(s: str) -> str:
    return re.sub(r"\s+", " ", s).strip().lower()


def quality(path: Path, skip_direct: bool) -> dict[str, tuple[float, float, float]]:
    from winnow.filters.extract.extractors import decode_html, extract
    from winnow.pipeline.readers.warc import WarcReader

    truth = {v["url"]: v for v in json.loads((DATA / "web" / "groundtruth.json").read_text()).values()}
    pages = []
    for o in WarcReader().read(str(path)):
        for r in o.kept.select(["url", "raw", "metadata"]).to_pylist():
            pages.append((r["url"], decode_html(r["raw"], json.loads(r["metadata"]).get("http_charset"), True)[0]))
    methods = {
        "winnow auto": lambda h: extract("auto", h)[0],
        "winnow resiliparse": lambda h: extract("resiliparse", h)[0],
        "winnow trafilatura (datatrove's)": lambda h: extract("trafilatura", h)[0],
    }
    if not skip_direct:
        import trafilatura

        methods["trafilatura.extract direct"] = lambda h: trafilatura.extract(h) or ""
    out = {}
    for name, fn in methods.items():
        found = absent = nw = nwo = 0
        with Timer() as t:
            texts = [(u, fn(h)) for u, h in pages]
        for url, text in texts:
            g = truth.get(url)
            if g:
                n = _norm(text)
                found += sum(_norm(s) in n for s in g["with"])
                absent += sum(_norm(s) not in n for s in g["without"])
                nw, nwo = nw + len(g["with"]), nwo + len(g["without"])
        out[name] = (found / nw, absent / nwo, len(pages) / t.cpu)
        print(f"  {name:34s} with {found / nw:.3f}  without absent {absent / nwo:.3f}  {len(pages) / t.cpu:6.1f} pages/s/core")
    return out


def _first_records(path: Path, n: int) -> Path:
    """A copy of the first n gzip members (records) of a WARC, in a temporary folder."""
    from fastwarc.warc import ArchiveIterator, WarcRecordType

    with open(path, "rb") as f:
        offsets = [r.stream_pos for _, r in zip(range(n + 1), ArchiveIterator(f, record_types=WarcRecordType.any_type))]
    data = path.read_bytes()
    end = offsets[n] if len(offsets) > n else len(data)
    out = Path(os.environ["DATATROVE_CACHE"]) / f"first{n}.warc.gz"
    out.write_bytes(data[:end])
    return out


def _split_records(path: Path, n: int) -> tuple[Path, Path]:
    """The first n records and the rest of a WARC, as two files (gzip members are independent)."""
    from fastwarc.warc import ArchiveIterator, WarcRecordType

    with open(path, "rb") as f:
        offsets = [r.stream_pos for _, r in zip(range(n + 1), ArchiveIterator(f, record_types=WarcRecordType.any_type))]
    data = path.read_bytes()
    cut = offsets[n] if len(offsets) > n else len(data)
    head = Path(os.environ["DATATROVE_CACHE"]) / f"head{n}.warc.gz"
    tail = Path(os.environ["DATATROVE_CACHE"]) / f"tail{n}.warc.gz"
    head.write_bytes(data[:cut])
    tail.write_bytes(data[cut:])
    return head, tail


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--warc", type=Path, default=DATA / "cc" / "web_pages.warc.gz")
    ap.add_argument("--limit", type=int, default=0, help="use only the first N records (a loaded machine)")
    ap.add_argument("--skip-direct", action="store_true", help="skip trafilatura called directly (saves ~20 s)")
    ap.add_argument("--warm-warc", type=Path, default=DATA / "cc" / "resiliparse" / "warcfile.warc.gz",
                    help="a different, multilingual WARC both pipelines process untimed first (steady state: models,"
                         " imports and per-language word splitters loaded, as for a worker's second file)")
    ap.add_argument("--cold", action="store_true", help="no warm-up: setup and imports counted in the timing")
    ap.add_argument("--half-warm", action="store_true",
                    help="warm up on the first half of the file's records and time the second half (both pipelines):"
                         " a worker that has already seen some of the crawl's languages and words")
    ap.add_argument("--quality-only", action="store_true", help="only part 3, extraction quality")
    ap.add_argument("--datatrove-only", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--warm-file", type=Path, default=None, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.datatrove_only:
        t, d = datatrove_recipe(args.warc, args.warm_file)
        print(json.dumps({**d, "wall": t.wall, "cpu": t.cpu}, default=str))
        return
    if args.quality_only:
        quality(args.warc, args.skip_direct)
        return
    if args.limit:
        args.warc = _first_records(args.warc, args.limit)
    size = args.warc.stat().st_size

    print("1. decompression limit vs Winnow's WARC reader (compressed MB per CPU-second)")
    dec = gzip_decoders(args.warc)
    for name, s in dec.items():
        print(f"  {name:20s} {size / s / 1e6:7.1f} MB/s")
    wall, n = winnow_read(args.warc)
    fastest = min(dec, key=dec.get)
    print(f"  {'winnow WarcReader':20s} {size / wall / 1e6:7.1f} MB/s ({n} documents, payloads parsed) = "
          f"{dec[fastest] / wall:.2f} of {fastest}")

    timed = args.warc
    warm = None if args.cold else args.warm_warc
    if args.half_warm:
        with open(args.warc, "rb") as f:
            from fastwarc.warc import ArchiveIterator, WarcRecordType

            total = sum(1 for _ in ArchiveIterator(f, record_types=WarcRecordType.any_type))
        warm, timed = _split_records(args.warc, total // 2)
    state = f"after an untimed warm-up on {warm.name}" if warm else "cold start, setup included"
    print(f"2. recipe throughput, same records, one process each ({state})")
    tw, cw = winnow_recipe(timed, warm)
    td, cd = datatrove_in_child(timed, warm)
    rw, rd = cw["records"] / tw.wall, cw["records"] / td.wall
    print(f"  winnow    {cw}: {tw.wall:.1f} s wall, {tw.cpu:.1f} s CPU → {rw:.1f} records/s wall, "
          f"{cw['records'] / tw.cpu:.1f} records/s/CPU-s")
    print(f"  datatrove kept {cd['kept']} (reader emitted {cd['reader_documents']} documents of {cw['records']} records): "
          f"{td.wall:.1f} s wall, {td.cpu:.1f} s CPU → {rd:.1f} records/s wall, {cw['records'] / td.cpu:.1f} records/s/CPU-s")
    print(f"  ratio winnow/datatrove: {(cw['records'] / tw.cpu) / (cw['records'] / td.cpu):.2f}× per CPU-second "
          f"({rw / rd:.2f}× wall; wall is unreliable on a shared machine)")

    print("3. extraction quality on groundtruth.json")
    quality(args.warc, args.skip_direct)


if __name__ == "__main__":
    with tempfile.TemporaryDirectory() as tmp:
        os.environ.setdefault("DATATROVE_CACHE", tmp)
        main()
