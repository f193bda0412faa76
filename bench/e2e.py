"""End to end: `winnow run` on the Common Crawl recipe, as a user runs it, vs datatrove's LocalPipelineExecutor.

    .venv/bin/python -P bench/e2e.py [--rounds 3] [--sizes one small large] [--configs ...] [--json e2e.json]

Every run is a fresh command in its own process tree, started and measured from here:

* Winnow: `winnow run RECIPE --input 'JOB/*.warc.gz' --output OUT -q --set extractor=E`, on the default executor
  (`auto`: an embedded Ray cluster started by the command, 2 CPUs, unless running the units side by side would
  save less wall time than Ray costs to start, then in-process), with `--executor ray` (always Ray) and with
  `--executor local` (one process, units one after another), for E = `auto` (Winnow's extractor) and E =
  `trafilatura` (datatrove's extractor, called by Winnow). Config names say winnow-EXECUTOR-EXTRACTOR. RECIPE is the bundled `commoncrawl` recipe with its three dedup stages removed (url_dedup,
  exact_dedup, minhash_dedup: datatrove's pipeline below has none), written to the work folder; everything else
  (params, engine settings) is the recipe's own. `--full-recipe` adds the unmodified bundled recipe as one more
  configuration.
* datatrove: this script, in a fresh interpreter, running LocalPipelineExecutor(tasks = number of input files,
  workers = 2, forkserver) over WarcReader → Trafilatura → language id → URLFilter → GopherRepetitionFilter →
  GopherQualityFilter → C4QualityFilter → FineWebQualityFilter → ParquetWriter (zstd, as Winnow writes). Every
  threshold is taken from Winnow's loaded recipe (the same numbers, read from the stage objects, not retyped).
  Language id: datatrove's LanguageFilter downloads fastText's lid.176.bin at run time and fails offline, and
  bench/cc_throughput.py simply leaves the step out. Here it is a small datatrove filter calling py3langid
  (the model Winnow's `language` stage uses), one document at a time, on the first `max_chars` characters,
  keeping the recipe's languages at the recipe's min_score. `--dt-language none` leaves it out instead (as
  cc_throughput does; that favours datatrove). URLFilter: the recipe's url_filter has no block lists, so
  datatrove's runs without its integrated lists too, and with tldextract's bundled suffix list (its default
  fetches one from the network first).

CPU is counted for every process a run starts (Ray's GCS, raylet, dashboard, workers; datatrove's forkserver,
pool, manager and extractor sandboxes): see bench/_procs.py. `cpu_tree` (this process is a child subreaper
and reaps the whole tree; the CPU of processes whose parent ignores SIGCHLD, as Ray's raylet does, is added from
live samples) is the figure used for every ratio; `cpu_psutil` (live sampling, a lower bound) and
`cpu_machine` (/proc/stat busy time of all cores: only meaningful on an idle machine) are cross-checks. Wall
time is until the command returns.

Jobs (`--sizes`):
  one    a 1-record WARC: one response record of a real WARC and its request, copied byte for byte (their
         gzip members): the fixed cost of a run. By default the 2nd response of ../shared/data/cc/dolma/
         sample-0001.warc.gz (a 2024 wget crawl; https://creativecommons.org/mission/, English), which every
         configuration keeps, so that every stage and the writer are set up as in any real job. The first
         response of the Common Crawl excerpt cc/resiliparse/warcfile.warc.gz (`--one-warc
         ../shared/data/cc/resiliparse/warcfile.warc.gz --one-index 0`) is a Chinese page dropped at language
         id: the later stages would never load their word splitters; its 4th (http://037426.cn/) is kept by
         Winnow's auto extractor only;
  small  two real WARC files: cc/web_pages.warc.gz (453 pages) and cc/resiliparse/warcfile.warc.gz (16);
  large  at least --large-records distinct records (default 10,000) built from those same pages: the
         originals, then copies in which the contents of the page's <p> elements are shuffled among
         themselves and one real paragraph taken from another page is inserted after its longest paragraph;
         every copy gets a new WARC-Record-ID and URL (`?e2e_copy=N`). Written as --large-files files.
         The repetition (a page up to ~22 times) flatters caches: most of all Winnow's per-chunk word-splitter
         memo, also trafilatura's deduplicate LRU (both sides) and everything warmed by repeated templates.
  bigfile  the large job's first BIGFILE_PARTS files as one WARC: Winnow splits it into byte spans (units),
         datatrove reads a file in one task. `--configs winnow-default-auto-whole` runs Winnow with
         engine.split_files=false (one unit: `auto` then runs it in-process), to show what the spans give.

Rounds are interleaved: round r runs every configuration once per size, in an order rotated by r. A warm-up
(every configuration once on the one-record job, untimed) comes first unless --no-warmup.

Reports (Markdown on stdout, everything in --json): (a) fixed cost = the one-record run; (b) marginal
records per CPU-second between two sizes; (c) totals per job; and the gain split into the extractor's part
(winnow trafilatura CPU / winnow auto CPU) and everything else's (datatrove CPU / winnow trafilatura CPU).
(-P keeps bench/ off sys.path.)
"""

from __future__ import annotations

import argparse
import contextlib
import gzip
import hashlib
import html as html_lib
import importlib.util
import inspect
import json
import os
import platform
import random
import re
import shutil
import statistics
import sys
import time
import uuid
from pathlib import Path

try:  # the datatrove side's language filter must be importable in datatrove's forkserver children
    from datatrove.pipeline.filters.base_filter import BaseFilter
except ImportError:  # pragma: no cover - datatrove is a dependency of the project
    BaseFilter = object

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT.parent / "shared" / "data"
RECIPE = ROOT / "configs" / "commoncrawl.yaml"
# Winnow's stages that datatrove's pipeline mirrors, in the recipe's order; any other stage is removed.
MIRRORED = ["extract", "language", "url_filter", "gopher_repetition", "gopher_quality", "c4_quality", "fineweb_quality"]
SMALL_FILES = [DATA / "cc" / "web_pages.warc.gz", DATA / "cc" / "resiliparse" / "warcfile.warc.gz"]
ONE_SOURCE = DATA / "cc" / "dolma" / "sample-0001.warc.gz"
# winnow-EXECUTOR-EXTRACTOR: EXECUTOR `default` = no --executor flag (engine.executor: auto, what a user gets: Ray,
# or in-process where Ray would not pay, see planning.parallel_gain_seconds), `ray` / `local` = --executor ray/local
CONFIGS = ["winnow-default-auto", "winnow-ray-auto", "winnow-local-auto", "winnow-default-trafilatura",
           "datatrove-trafilatura"]
MORE_CONFIGS = ["winnow-ray-trafilatura", "winnow-local-trafilatura", "winnow-default-auto-full",
                "winnow-default-auto-whole", "winnow-ray-auto-whole"]
EXECUTORS = ("default", "ray", "local")
WORKERS = 2
BIGFILE_PARTS = 4  # the bigfile job: this many of the large job's files as one WARC (split into spans by Winnow)


def _procs():
    """bench/_procs.py, loaded by path (bench/ is kept off sys.path)."""
    mod = sys.modules.get("_e2e_procs")
    if mod is None:
        spec = importlib.util.spec_from_file_location("_e2e_procs", Path(__file__).with_name("_procs.py"))
        mod = importlib.util.module_from_spec(spec)
        sys.modules["_e2e_procs"] = mod
        spec.loader.exec_module(mod)
    return mod


# ------------------------------------------------------------------------------------------------ datatrove side


class Py3LangidFilter(BaseFilter):
    """Language id for datatrove with py3langid's bundled model (datatrove's own LanguageFilter needs a download).

    Same decision as Winnow's `language` stage: classify the first `max_chars` characters, keep a document when
    its top language is listed and its probability is at least `min_score`; empty text is dropped. Writes
    `language` and `language_score` into the metadata, as datatrove's LanguageFilter does.
    """

    name = "🌍 Language ID (py3langid)"
    _requires_dependencies = ("py3langid",)

    def __init__(self, languages: list[str] | None, min_score: float, max_chars: int):
        super().__init__()
        self.languages = set(languages) if languages is not None else None
        self.min_score = min_score
        self.max_chars = max_chars
        self._model = None

    def filter(self, doc) -> bool | tuple[bool, str]:
        if self._model is None:
            from py3langid.langid import MODEL_FILE, LanguageIdentifier

            self._model = LanguageIdentifier.from_model_file(MODEL_FILE, norm_probs=True)
        text = doc.text or ""
        if not text.strip():
            return False, "empty_text"
        if self.max_chars and len(text) > self.max_chars:
            text = text[: self.max_chars]
        lang, prob = self._model.classify(text)
        doc.metadata["language"], doc.metadata["language_score"] = lang, float(prob)
        if self.languages is not None and lang not in self.languages:
            return False, "not_allowed"
        if prob < self.min_score:
            return False, "low_score"
        return True


def _tuples(v):
    return tuple(_tuples(x) for x in v) if isinstance(v, list) else v


def datatrove_main(spec_path: str) -> None:
    """The datatrove run (a fresh interpreter; LocalPipelineExecutor's forkserver re-imports this file)."""
    from datatrove.executor import LocalPipelineExecutor
    from datatrove.pipeline.extractors import Trafilatura
    from datatrove.pipeline.filters import (
        C4QualityFilter,
        FineWebQualityFilter,
        GopherQualityFilter,
        GopherRepetitionFilter,
        URLFilter,
    )
    from datatrove.pipeline.readers import WarcReader
    from datatrove.pipeline.writers import JsonlWriter, ParquetWriter

    spec = json.loads(Path(spec_path).read_text())
    k = {name: {key: _tuples(v) for key, v in kw.items()} for name, kw in spec["filters"].items()}
    steps = [WarcReader(spec["input_dir"], glob_pattern=spec["glob"]), Trafilatura(**spec["trafilatura"])]
    if spec["language"] is not None:
        steps.append(Py3LangidFilter(**spec["language"]))
    url_filter = URLFilter(use_integrated_lists=False)
    from tldextract import TLDExtract

    url_filter.tldextractor = TLDExtract(suffix_list_urls=())  # the bundled suffix list; no network
    steps += [
        url_filter,
        GopherRepetitionFilter(**k["gopher_repetition"]),
        GopherQualityFilter(**k["gopher_quality"]),
        C4QualityFilter(**k["c4_quality"]),
        FineWebQualityFilter(**k["fineweb_quality"]),
    ]
    if spec["writer"] == "jsonl":
        steps.append(JsonlWriter(spec["output_dir"]))
    else:
        steps.append(ParquetWriter(spec["output_dir"], compression="zstd"))
    LocalPipelineExecutor(steps, tasks=spec["tasks"], workers=spec["workers"], logging_dir=spec["logging_dir"],
                          skip_completed=False).run()


def datatrove_spec(winnow_cfg: Path, language: str) -> tuple[dict, list[str]]:
    """datatrove's step arguments from Winnow's loaded recipe (same numbers); notes on what differs."""
    from datatrove.pipeline.filters import (
        C4QualityFilter,
        FineWebQualityFilter,
        GopherQualityFilter,
        GopherRepetitionFilter,
    )
    from winnow.pipeline.config import load_config

    cfg = load_config(str(winnow_cfg), inputs=[str(SMALL_FILES[0])], output="/nonexistent",
                      overrides={"extractor": "trafilatura"})
    stages = {s.name: s.build() for s in cfg.stages}
    notes = []
    classes = {"gopher_repetition": GopherRepetitionFilter, "gopher_quality": GopherQualityFilter,
               "c4_quality": C4QualityFilter, "fineweb_quality": FineWebQualityFilter}
    filters = {}
    for name, cls in classes.items():
        theirs = inspect.signature(cls.__init__).parameters
        kw = {}
        for key, value in stages[name].filter_kwargs().items():
            if key not in theirs:
                notes.append(f"{name}.{key}={value!r} has no datatrove equivalent")
            elif value is None and theirs[key].default is not None:
                continue  # null = "datatrove's default" in Winnow too (stop_chars)
            else:
                kw[key] = list(value) if isinstance(value, tuple) else value
        filters[name] = json.loads(json.dumps(kw))
    p_lang, p_url, p_ext = stages["language"].params, stages["url_filter"].params, stages["extract"].params
    lists = {k: v for k, v in p_url.model_dump().items() if isinstance(v, list) and v}
    if lists:
        notes.append(f"url_filter has lists {sorted(lists)} that the datatrove side does not get")
    lang = None
    if language == "py3langid":
        lang = {"languages": p_lang.languages, "min_score": p_lang.min_score, "max_chars": p_lang.max_chars}
    notes.append(
        "language step on the datatrove side: "
        + ("py3langid per document (a small custom datatrove filter; datatrove's LanguageFilter downloads a "
           f"fastText model and fails offline), languages {p_lang.languages}, min_score {p_lang.min_score}, "
           f"first {p_lang.max_chars} chars" if lang else
           "none (left out, as in bench/cc_throughput.py; favours datatrove)")
    )
    notes.append("datatrove's Gopher/C4/FineWeb filters tokenize every document as English (their default); "
                 "Winnow's use a word splitter for each document's language")
    spec = {
        "trafilatura": {"favour_precision": True, "deduplicate": True, "timeout": p_ext.timeout_s},
        "language": lang,
        "filters": filters,
    }
    return spec, notes


# ----------------------------------------------------------------------------------------------------- the jobs


def _records(path: Path):
    """(offset, end, headers dict, block bytes) of every record of a gzipped WARC, one gzip member per record."""
    from fastwarc.warc import ArchiveIterator, WarcRecordType

    out = []
    with open(path, "rb") as f:
        for r in ArchiveIterator(f, record_types=WarcRecordType.any_type, parse_http=False):
            out.append([r.stream_pos, None, dict(r.headers.items()), r.reader.read()])
    size = path.stat().st_size
    for i, rec in enumerate(out):
        rec[1] = out[i + 1][0] if i + 1 < len(out) else size
    return out


def build_one(dest: Path, index: int, source: Path = ONE_SOURCE) -> dict:
    """Response record number `index` of a real WARC and its request, copied byte for byte (their gzip members)."""
    recs = _records(source)
    data = source.read_bytes()
    resp = [r for r in recs if r[2].get("WARC-Type") == "response"][index]
    concurrent = resp[2].get("WARC-Concurrent-To")
    req = next((r for r in recs if r[2].get("WARC-Type") == "request"
                and (r[2].get("WARC-Record-ID") == concurrent
                     or (concurrent is None and r[2].get("WARC-Target-URI") == resp[2].get("WARC-Target-URI")))),
               None)
    parts = sorted([resp] + ([req] if req else []), key=lambda r: r[0])
    dest.mkdir(parents=True, exist_ok=True)
    (dest / "one.warc.gz").write_bytes(b"".join(data[a:b] for a, b, _h, _blk in parts))
    return {"records": 1, "files": 1, "url": resp[2].get("WARC-Target-URI"), "with_request": req is not None,
            "source": str(source), "response_index": index}


def build_small(dest: Path) -> dict:
    dest.mkdir(parents=True, exist_ok=True)
    n = 0
    for f in SMALL_FILES:
        link = dest / f.name
        if not link.exists():
            link.symlink_to(f)
        n += sum(1 for r in _records(f) if r[2].get("WARC-Type") == "response")
    return {"records": n, "files": len(SMALL_FILES), "sources": [str(f) for f in SMALL_FILES]}


P_RE = re.compile(rb"(<p(?:\s[^>]*)?>)(.*?)(</p\s*>)", re.DOTALL | re.IGNORECASE)
P_STR_RE = re.compile(r"<p(?:\s[^>]*)?>(.*?)</p\s*>", re.DOTALL | re.IGNORECASE)
TAG_RE = re.compile(r"<[^>]+>")
CHARSET_RE = re.compile(rb"charset=[\"']?([A-Za-z0-9_.:-]+)", re.IGNORECASE)
DROP_HEADERS = {"warc-record-id", "warc-target-uri", "content-length", "warc-block-digest", "warc-payload-digest",
                "warc-concurrent-to"}


def _warc_bytes(headers: dict, block: bytes) -> bytes:
    lines = ["WARC/1.0"] + [f"{k}: {v}" for k, v in headers.items()] + [f"Content-Length: {len(block)}"]
    return gzip.compress(("\r\n".join(lines) + "\r\n\r\n").encode() + block + b"\r\n\r\n", compresslevel=6)


def _paragraphs(head: bytes, body: bytes) -> list[str]:
    """Real paragraphs of a page, as plain text (donors for other pages' copies)."""
    m = CHARSET_RE.search(head) or CHARSET_RE.search(body[:4096])
    enc = m.group(1).decode("ascii", "replace") if m else "utf-8"
    try:
        text = body.decode(enc, errors="replace")
    except LookupError:
        text = body.decode("utf-8", errors="replace")
    out = []
    for inner in P_STR_RE.findall(text):
        t = " ".join(html_lib.unescape(TAG_RE.sub(" ", inner)).split())
        if 80 <= len(t) <= 1000 and "\ufffd" not in t:
            out.append(t)
    return out


def build_large(dest: Path, target: int, n_files: int, seed: int = 17) -> dict:
    """>= target distinct records from the small job's real pages (see the module docstring)."""
    pages = []  # (headers, http head, body)
    for f in SMALL_FILES:
        for _a, _b, h, block in _records(f):
            if h.get("WARC-Type") != "response":
                continue
            i = block.find(b"\r\n\r\n")
            head, body = (block[: i + 4], block[i + 4:]) if i >= 0 else (b"", block)
            pages.append((h, head, body))
    donors = [(j, t) for j, (_h, head, body) in enumerate(pages) for t in _paragraphs(head, body)]
    perturbable = [j for j, (_h, head, _b) in enumerate(pages)
                   if head and not re.search(rb"(?im)^(transfer-encoding:\s*chunked|content-encoding:\s*(?!identity))",
                                             head)]
    plan = [(j, 0) for j in range(len(pages))]
    r = 1
    while len(plan) < target:
        plan += [(j, r) for j in perturbable][: target - len(plan)]
        r += 1
    dest.mkdir(parents=True, exist_ok=True)
    rng_pages = random.Random(seed)
    donor_order = {}
    p_hashes = set()
    bytes_in = 0
    with contextlib.ExitStack() as stack:
        writers = [stack.enter_context(open(dest / f"part-{i:03d}.warc.gz", "wb")) for i in range(n_files)]
        for k, (j, copy) in enumerate(plan):
            h, head, body = pages[j]
            headers = {key: v for key, v in h.items() if key.lower() not in DROP_HEADERS}
            url = h.get("WARC-Target-URI", f"http://e2e.invalid/{j}")
            rec_id = h.get("WARC-Record-ID")
            if copy:
                rng = random.Random(f"{seed}-{j}-{copy}")
                matches = list(P_RE.finditer(body))
                inners = [m.group(2) for m in matches]
                order = list(range(len(inners)))
                rng.shuffle(order)
                pieces, pos = [], 0
                for m, src in zip(matches, order):
                    pieces += [body[pos: m.start(2)], inners[src]]
                    pos = m.end(2)
                pieces.append(body[pos:])
                body = b"".join(pieces)
                if j not in donor_order:
                    donor_order[j] = [d for d in range(len(donors)) if donors[d][0] != j]
                    rng_pages.shuffle(donor_order[j])
                if donor_order[j]:
                    text = donors[donor_order[j][(copy - 1) % len(donor_order[j])]][1]
                    para = b"\n<p>" + html_lib.escape(text).encode("ascii", "xmlcharrefreplace") + b"</p>\n"
                    matches = list(P_RE.finditer(body))
                    if matches:
                        at = max(matches, key=lambda m: len(m.group(2))).end()
                    else:
                        at = body.lower().rfind(b"</body")
                        at = len(body) if at < 0 else at
                    body = body[:at] + para + body[at:]
                head = re.sub(rb"(?im)^(content-length:\s*)\d+", rb"\g<1>" + str(len(body)).encode(), head)
                url = f"{url}{'&' if '?' in url else '?'}e2e_copy={copy}"
                rec_id = f"<urn:uuid:{uuid.UUID(int=rng.getrandbits(128), version=4)}>"
            p_hashes.add(hashlib.sha1(b"\0".join(m.group(2) for m in P_RE.finditer(body))).digest())
            out = {"WARC-Type": headers.pop("WARC-Type", "response"), "WARC-Record-ID": rec_id,
                   "WARC-Target-URI": url, **headers}
            block = head + body
            bytes_in += len(block)
            writers[k * n_files // len(plan)].write(_warc_bytes(out, block))
    return {
        "records": len(plan), "files": n_files, "source_pages": len(pages), "perturbable_pages": len(perturbable),
        "max_copy_index": max(c for _j, c in plan), "donor_paragraphs": len(donors),
        "distinct_paragraph_sequences": len(p_hashes), "inflated_mb": round(bytes_in / 1e6, 1),
        "how": "originals + copies with <p> contents shuffled and one real paragraph from another page inserted "
               "after the longest paragraph; new WARC-Record-ID and URL (?e2e_copy=N)",
    }


def prepare_jobs(work: Path, sizes: list[str], large_records: int, large_files: int, one_index: int,
                 one_warc: Path = ONE_SOURCE) -> dict[str, dict]:
    jobs = {}
    for size in sizes:
        d = work / "jobs" / {"one": f"one-{one_warc.name.split('.')[0]}-{one_index}", "small": "small",
                             "large": f"large-{large_records}-{large_files}",
                             "bigfile": f"bigfile-{large_records}-{BIGFILE_PARTS}"}[size]
        meta_path = d / "job.json"
        if meta_path.exists():
            meta = json.loads(meta_path.read_text())
        else:
            shutil.rmtree(d, ignore_errors=True)
            t0 = time.perf_counter()
            if size == "one":
                meta = build_one(d, one_index, one_warc)
            elif size == "small":
                meta = build_small(d)
            elif size == "bigfile":  # the large job's records in one file: what splitting a file is for
                large = prepare_jobs(work, ["large"], large_records, large_files, one_index, one_warc)["large"]
                d.mkdir(parents=True)
                with open(d / "all.warc.gz", "wb") as out:
                    for part in sorted(Path(large["dir"]).glob("*.warc.gz"))[:BIGFILE_PARTS]:  # members concatenate
                        out.write(part.read_bytes())
                records = large["records"] * BIGFILE_PARTS // large["files"]
                meta = {**{k: v for k, v in large.items() if k not in ("dir", "bytes")}, "files": 1, "records": records,
                        "how": f"the large job's first {BIGFILE_PARTS} files concatenated into one WARC"}
            else:
                meta = build_large(d, large_records, large_files)
            meta["build_seconds"] = round(time.perf_counter() - t0, 1)
            meta_path.write_text(json.dumps(meta, indent=1))
        meta["dir"] = str(d)
        meta["bytes"] = sum(p.stat().st_size for p in d.glob("*.warc.gz"))
        jobs[size] = meta
    return jobs


# ----------------------------------------------------------------------------------------------------- the runs


def winnow_recipe(work: Path) -> tuple[Path, list[str]]:
    """The bundled recipe with the stages datatrove's pipeline lacks removed; returns it and the removed names."""
    import yaml

    raw = yaml.safe_load(RECIPE.read_text())
    names = [s["name"] for s in raw["stages"]]
    kept = [n for n in names if n in MIRRORED]
    if kept != MIRRORED:
        raise SystemExit(f"{RECIPE}: expected the stages {MIRRORED} in this order, found {names}")
    raw["stages"] = [s for s in raw["stages"] if s["name"] in MIRRORED]
    path = work / "commoncrawl-e2e.yaml"
    path.write_text("# bench/e2e.py: configs/commoncrawl.yaml without the stages datatrove's pipeline lacks\n"
                    + yaml.safe_dump(raw, sort_keys=False))
    return path, [n for n in names if n not in MIRRORED]


def winnow_cli() -> str:
    cli = Path(sys.executable).parent / "winnow"
    return str(cli) if cli.exists() else (shutil.which("winnow") or "winnow")


def command(config: str, job: dict, out: Path, recipe: Path, dt_spec: dict) -> list[str]:
    glob = str(Path(job["dir"]) / "*.warc.gz")
    if config.startswith("winnow-"):
        _w, executor, extractor, *variant = config.split("-")
        full, whole = variant == ["full"], variant == ["whole"]  # the bundled recipe; one unit per file
        cmd = [winnow_cli(), "run", "commoncrawl" if full else str(recipe), "--input", glob, "--output", str(out),
               "-q", "--set", f"extractor={extractor}"] + (["--set", "engine.split_files=false"] if whole else [])
        return cmd + (["--executor", executor] if executor != "default" else [])
    spec = {**dt_spec, "input_dir": job["dir"], "glob": "*.warc.gz", "output_dir": str(out / "output"),
            "logging_dir": str(out / "logs"), "tasks": job["files"], "workers": WORKERS}
    out.mkdir(parents=True, exist_ok=True)
    (out / "spec.json").write_text(json.dumps(spec, indent=1))
    return [sys.executable, "-P", str(Path(__file__).resolve()), "--_datatrove", str(out / "spec.json")]


def outcome(config: str, out: Path) -> dict:
    """Documents kept, records read, and the dropped counts a run reports (for a sanity check of equivalence)."""
    import pyarrow.parquet as pq

    if config.startswith("winnow-"):
        p = out / "stats.json"
        if not p.exists():
            return {"kept": None}
        s = json.loads(p.read_text())
        return {"kept": s.get("documents"), "records_read": s.get("records_read"), "skipped": s.get("skipped"),
                "rejected": s.get("rejected"), "errors": s.get("errors"), "balanced": s.get("balanced"),
                # where the time went: each stage's seconds summed over units (in --json; outputs are deleted)
                "stage_seconds": {st["name"]: st.get("seconds") for st in s.get("stages", [])}}
    files = list((out / "output").rglob("*.parquet")) + list((out / "output").rglob("*.jsonl*"))
    kept = 0
    for f in files:
        if f.suffix == ".parquet":
            kept += pq.read_metadata(f).num_rows
        else:
            with gzip.open(f, "rt") if f.suffix == ".gz" else open(f) as fh:
                kept += sum(1 for _ in fh)
    res = {"kept": kept}
    p = out / "logs" / "stats.json"
    if p.exists():
        steps = json.loads(p.read_text())
        try:
            res["reader_documents"] = steps[0]["stats"]["documents"]["total"]
        except (KeyError, IndexError, TypeError):
            pass
    return res


def run_one(config: str, size: str, job: dict, work: Path, recipe: Path, dt_spec: dict, args, tag: str) -> dict:
    out = work / "runs" / f"{tag}-{size}-{config}"
    shutil.rmtree(out, ignore_errors=True)
    cmd = command(config, job, out, recipe, dt_spec)
    logs = work / "logs"
    logs.mkdir(exist_ok=True)
    m = _procs().run_measured(cmd, logs / f"{tag}-{size}-{config}", cwd=str(ROOT), timeout=args.run_timeout,
                              background_s=args.background_s)
    res = {"config": config, "size": size, "tag": tag, "records": job["records"], **m, **outcome(config, out),
           "command": " ".join(cmd)}
    if m["rc"] != 0:
        err = Path(f"{logs / f'{tag}-{size}-{config}'}.err").read_text(errors="replace")[-1500:]
        res["stderr_tail"] = err
        print(f"  !! {config} on {size} exited {m['rc']}; stderr tail:\n{err}", file=sys.stderr)
    if not args.keep_outputs:
        shutil.rmtree(out, ignore_errors=True)
    print(f"  {tag:8s} {size:5s} {config:26s} rc {m['rc']}  wall {m['wall']:6.1f}s  cpu tree {m['cpu_tree']:7.1f}s"
          f"  psutil {m['cpu_psutil']:7.1f}s  machine {m['cpu_machine']:7.1f}s  kept {res.get('kept')}",
          file=sys.stderr, flush=True)
    return res


# -------------------------------------------------------------------------------------------------- the report


def _docs_in(r: dict):
    """Documents that reached extraction: Winnow's records read less skipped non-documents; datatrove's reader output."""
    if r.get("records_read") is not None:
        return r["records_read"] - (r.get("skipped") or 0)
    return r.get("reader_documents")


def _med(xs):
    xs = [x for x in xs if x is not None]
    return statistics.median(xs) if xs else None


def summarize(runs: list[dict], jobs: dict, configs: list[str]) -> dict:
    cells = {}
    for size in jobs:
        for c in configs:
            rs = [r for r in runs if r["size"] == size and r["config"] == c and r["tag"] != "warmup" and r["rc"] == 0]
            if not rs:
                continue
            cpu = [r["cpu_tree"] for r in rs]
            cells[(size, c)] = {
                "size": size, "config": c, "n": len(rs), "records": jobs[size]["records"],
                "kept": sorted({r.get("kept") for r in rs}, key=str),
                "docs_in": sorted({_docs_in(r) for r in rs}, key=str),
                "wall": _med([r["wall"] for r in rs]), "cpu_tree": _med(cpu), "cpu_min": min(cpu), "cpu_max": max(cpu),
                "cpu_psutil": _med([r["cpu_psutil"] for r in rs]), "cpu_machine": _med([r["cpu_machine"] for r in rs]),
                "background_cores": _med([r["background_cores"] for r in rs]),
            }
            cells[(size, c)]["records_per_cpu_s"] = jobs[size]["records"] / cells[(size, c)]["cpu_tree"]
    dt = "datatrove-trafilatura"
    for (size, c), cell in cells.items():
        base = cells.get((size, dt))
        cell["cpu_ratio_vs_datatrove"] = base["cpu_tree"] / cell["cpu_tree"] if base else None
        cell["wall_ratio_vs_datatrove"] = base["wall"] / cell["wall"] if base else None
    # marginal: the two largest sizes measured
    order = [s for s in ("one", "small", "large", "bigfile") if s in jobs]
    marginal = {}
    if len(order) >= 2:
        lo, hi = order[-2], order[-1]
        for c in configs:
            a, b = cells.get((lo, c)), cells.get((hi, c))
            if a and b and b["cpu_tree"] > a["cpu_tree"]:
                marginal[c] = {"from": lo, "to": hi, "records": b["records"] - a["records"],
                               "cpu_s": b["cpu_tree"] - a["cpu_tree"],
                               "records_per_cpu_s": (b["records"] - a["records"]) / (b["cpu_tree"] - a["cpu_tree"])}
    gains = []
    for size in jobs:
        for ex in EXECUTORS:
            auto, traf, base = cells.get((size, f"winnow-{ex}-auto")), cells.get((size, f"winnow-{ex}-trafilatura")), \
                cells.get((size, dt))
            g = {"size": size, "executor": ex}
            if auto and traf:
                g["extractor"] = traf["cpu_tree"] / auto["cpu_tree"]
            if traf and base:
                g["everything_else"] = base["cpu_tree"] / traf["cpu_tree"]
            if auto and base:
                g["total"] = base["cpu_tree"] / auto["cpu_tree"]
            if len(g) > 2:
                gains.append(g)
    for ex in EXECUTORS:
        auto, traf, base = (marginal.get(f"winnow-{ex}-auto"), marginal.get(f"winnow-{ex}-trafilatura"),
                            marginal.get(dt))
        g = {"size": "marginal", "executor": ex}
        if auto and traf:
            g["extractor"] = auto["records_per_cpu_s"] / traf["records_per_cpu_s"]
        if traf and base:
            g["everything_else"] = traf["records_per_cpu_s"] / base["records_per_cpu_s"]
        if auto and base:
            g["total"] = auto["records_per_cpu_s"] / base["records_per_cpu_s"]
        if len(g) > 2:
            gains.append(g)
    warmup = [r for r in runs if r["tag"] == "warmup"]
    return {"cells": list(cells.values()), "marginal": marginal, "gains": gains, "warmup": warmup}


def _f(x, nd=1):
    return "–" if x is None else f"{x:.{nd}f}"


def markdown(summary: dict, jobs: dict, meta: dict) -> str:
    out = [f"## End to end: `winnow run` vs datatrove LocalPipelineExecutor ({meta['when']})", ""]
    out.append(f"Machine: {meta['machine']}; {WORKERS} workers on both sides; rounds: {meta['rounds']} "
               f"(interleaved, order rotated per round); warm-up: {meta['warmup']}. "
               f"Load average at start: {meta['loadavg_start']}, at end: {meta['loadavg_end']}.")
    out.append("")
    out.append("Jobs: " + "; ".join(f"**{s}** {j['records']} records in {j['files']} file(s), "
                                     f"{j['bytes'] / 1e6:.1f} MB" for s, j in jobs.items()))
    if "large" in jobs:
        j = jobs["large"]
        out.append(f"(large: {j['how']}; {j['distinct_paragraph_sequences']} distinct <p> sequences of "
                   f"{j['records']}, up to {j['max_copy_index']} copies of a page.)")
    out += ["", "Notes:"] + [f"- {n}" for n in meta["notes"]] + [""]
    out.append("CPU = every process of the run (subreaper rusage, plus the sampled CPU of processes whose parent "
               "ignores SIGCHLD: Ray's raylet); psutil = live-sampled lower bound; machine = /proc/stat busy time of "
               "all cores over the run (includes other users' work: bg cores = busy cores just before the run; only "
               "meaningful when that is near 0). Ratios use CPU. Medians over rounds; CPU range in brackets. "
               "docs read = records that reached extraction (datatrove's WarcReader skips some it cannot decode or "
               "type).")
    out += ["", "### Totals per job", "",
            ("| job | configuration | records | docs read | kept | wall s | CPU s [min–max] | psutil CPU s "
             "| machine CPU s | bg cores | records/CPU-s | datatrove CPU ÷ this |"),
            "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for c in summary["cells"]:
        kept = "/".join(str(k) for k in c["kept"])
        docs_in = "/".join(str(k) for k in c["docs_in"])
        out.append(f"| {c['size']} | {c['config']} | {c['records']} | {docs_in} | {kept} | {_f(c['wall'])} | "
                   f"{_f(c['cpu_tree'])} [{_f(c['cpu_min'])}–{_f(c['cpu_max'])}] | {_f(c['cpu_psutil'])} | "
                   f"{_f(c['cpu_machine'])} | {_f(c['background_cores'], 2)} | {_f(c['records_per_cpu_s'], 2)} | "
                   f"{_f(c['cpu_ratio_vs_datatrove'], 2)}× |")
    warm = summary.get("warmup") or []
    if warm:
        out += ["", "### Warm-up runs (one-record job, first run of each configuration; not in the figures)", "",
                "| configuration | CPU s | psutil CPU s | wall s | kept | top processes by sampled CPU s |",
                "|---|---:|---:|---:|---:|---|"]
        out += [f"| {r['config']} | {_f(r['cpu_tree'])} | {_f(r['cpu_psutil'])} | {_f(r['wall'])} | {r.get('kept')} | "
                + ", ".join(f"{k} {v:.1f}" for k, v in list(r["cpu_by_process"].items())[:6]) + " |" for r in warm]
    one = [c for c in summary["cells"] if c["size"] == "one"]
    if one:
        out += ["", "### (a) Fixed cost: a one-record run", "", "| configuration | CPU s | wall s |", "|---|---:|---:|"]
        out += [f"| {c['config']} | {_f(c['cpu_tree'])} | {_f(c['wall'])} |" for c in one]
    if summary["marginal"]:
        out += ["", "### (b) Marginal records per CPU-second", "",
                "| configuration | between | Δ records | Δ CPU s | records/CPU-s |", "|---|---|---:|---:|---:|"]
        out += [f"| {c} | {m['from']} → {m['to']} | {m['records']} | {_f(m['cpu_s'])} | "
                f"{_f(m['records_per_cpu_s'], 2)} |" for c, m in summary["marginal"].items()]
    if summary["gains"]:
        out += ["", "### Where the gain comes from (CPU, higher = Winnow cheaper)", "",
                ("| job | Winnow executor | extractor (traf ÷ auto) | everything else (datatrove ÷ winnow traf) | "
                 "total (datatrove ÷ winnow auto) |"), "|---|---|---:|---:|---:|"]
        out += [f"| {g['size']} | {g['executor']} | {_f(g.get('extractor'), 2)}× | {_f(g.get('everything_else'), 2)}× | "
                f"{_f(g.get('total'), 2)}× |" for g in summary["gains"]]
    return "\n".join(out) + "\n"


# ------------------------------------------------------------------------------------------------------- main


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--sizes", nargs="+", choices=["one", "small", "large", "bigfile"],
                    default=["one", "small", "large"])
    ap.add_argument("--quick", action="store_true", help="one round, small job only (a check that everything runs)")
    ap.add_argument("--configs", nargs="+", choices=CONFIGS + MORE_CONFIGS,
                    default=None,
                    help=f"default: {' '.join(CONFIGS)}")
    ap.add_argument("--full-recipe", action="store_true",
                    help="also run the unmodified bundled recipe (with its dedup stages) on Ray, auto extractor")
    ap.add_argument("--json", type=Path, default=None, help="write every run and the summary here")
    ap.add_argument("--work", type=Path, default=Path(os.environ.get("TMPDIR", "/tmp")) / "winnow-e2e",
                    help="jobs (cached), outputs and logs")
    ap.add_argument("--one-warc", type=Path, default=ONE_SOURCE, help="the real WARC the one-record job is cut from")
    ap.add_argument("--one-index", type=int, default=1,
                    help="which response record of --one-warc (0-based) makes the one-record job; the default, "
                         "https://creativecommons.org/mission/, is kept by every configuration, so every stage and "
                         "the writer are set up")
    ap.add_argument("--large-records", type=int, default=10_000)
    ap.add_argument("--large-files", type=int, default=10)
    ap.add_argument("--dt-language", choices=["py3langid", "none"], default="py3langid")
    ap.add_argument("--dt-writer", choices=["parquet", "jsonl"], default="parquet")
    ap.add_argument("--no-warmup", action="store_true")
    ap.add_argument("--keep-outputs", action="store_true")
    ap.add_argument("--run-timeout", type=float, default=3600.0)
    ap.add_argument("--background-s", type=float, default=1.0,
                    help="seconds of /proc/stat sampling before each run (how busy the machine was)")
    ap.add_argument("--_datatrove", default=None, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args._datatrove:
        datatrove_main(args._datatrove)
        return
    if args.quick:
        args.rounds, args.sizes = 1, ["small"]
    configs = args.configs or (CONFIGS + (["winnow-default-auto-full"] if args.full_recipe else []))
    args.work.mkdir(parents=True, exist_ok=True)
    recipe, removed = winnow_recipe(args.work)
    dt_spec, notes = datatrove_spec(recipe, args.dt_language)
    dt_spec["writer"] = args.dt_writer
    notes.insert(0, f"Winnow runs `{recipe.name}`: configs/commoncrawl.yaml without {', '.join(removed)} "
                    f"(datatrove's pipeline has no equivalent step); `-full` = the bundled recipe unchanged")
    notes.append("Winnow's local executor runs units one after another in one process (plus its extraction "
                 "worker); its Ray executor and datatrove use 2 workers")
    notes.append(f"datatrove writes {args.dt_writer} ({'zstd' if args.dt_writer == 'parquet' else 'gzip'}); "
                 "Winnow writes zstd Parquet plus rejected/ (no text), stats.json and report.html")
    sizes = list(dict.fromkeys(args.sizes))
    warm = not args.no_warmup
    job_sizes = sorted(set(sizes) | ({"one"} if warm else set()), key=["one", "small", "large", "bigfile"].index)
    print(f"preparing jobs {job_sizes} in {args.work} ...", file=sys.stderr, flush=True)
    jobs = prepare_jobs(args.work, job_sizes, args.large_records, args.large_files, args.one_index, args.one_warc)
    for s, j in jobs.items():
        print(f"  {s}: {j['records']} records, {j['files']} files, {j['bytes'] / 1e6:.1f} MB", file=sys.stderr)
    meta = {"when": time.strftime("%Y-%m-%d %H:%M"), "rounds": args.rounds, "warmup": warm, "notes": notes,
            "machine": f"{platform.node()}, {os.cpu_count()} CPUs, Python {platform.python_version()}",
            "loadavg_start": " ".join(f"{x:.1f}" for x in os.getloadavg()), "configs": configs,
            "datatrove_spec": dt_spec, "recipe": str(recipe)}
    runs = []
    if warm:
        print("warm-up (untimed): every configuration on the one-record job", file=sys.stderr, flush=True)
        for c in configs:
            runs.append(run_one(c, "one", jobs["one"], args.work, recipe, dt_spec, args, "warmup"))
    for r in range(args.rounds):
        for size in sizes:
            order = configs[r % len(configs):] + configs[: r % len(configs)]
            for c in order:
                runs.append(run_one(c, size, jobs[size], args.work, recipe, dt_spec, args, f"round{r + 1}"))
    meta["loadavg_end"] = " ".join(f"{x:.1f}" for x in os.getloadavg())
    measured_jobs = {s: jobs[s] for s in sizes}
    summary = summarize(runs, measured_jobs, configs)
    md = markdown(summary, measured_jobs, meta)
    print(md)
    if args.json:
        args.json.write_text(json.dumps({"meta": meta, "jobs": jobs, "summary": summary, "runs": runs}, indent=1,
                                        default=str))


if __name__ == "__main__":
    main()
