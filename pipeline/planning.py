"""What a run will do, decided before anything runs: its units of input, its segments of stages, and what each
segment asks of a worker.

Plans depend on the config and the inputs alone, so a rerun plans the same units and resumes them by key.
"""

from __future__ import annotations

import os
from collections import Counter
from dataclasses import dataclass

from winnow.pipeline import storage
from winnow.pipeline.config import InputSpec, PipelineConfig
from winnow.pipeline.readers.base import detect_format, working_columns
from winnow.pipeline.registry import READERS, STAGES
from winnow.pipeline.stage import GlobalStage


@dataclass(frozen=True)
class Unit:
    index: int
    paths: tuple[str, ...]  # the input files this unit reads, in order (one, or a group of small files)
    format: str
    options: tuple  # reader options as sorted (key, value) pairs
    span: tuple[int, int] | None = None  # the byte range of its one file this unit reads; None: all of it
    size: int | None = None  # bytes of input it reads, where planning already knew them (None: not looked up)

    @property
    def key(self) -> str:
        return f"{self.index:05d}"


@dataclass(frozen=True)
class Segment:
    """Stages that run per unit in one pass. All but the first segment start with a global stage."""

    index: int
    stage_names: tuple[str, ...]
    global_stage: str | None  # the first stage, fitted on the whole corpus beforehand
    # The readers' working columns to drop before each stage, and (last entry) before the segment writes its rows,
    # as soon as no stage from there on reads them: one reaches _work/ only when a later segment reads it.
    drop_before: tuple[tuple[str, ...], ...] = ()


MIN_UNITS = 256  # small files are grouped only as far as this many units remain, to keep every core busy


def _group_size(most: int, files: int) -> int:
    """Files per unit for `files` small files: up to the reader's `most`, but never so many that fewer than
    MIN_UNITS units remain (ten PDFs are ten units; a million are groups of 64). Depends on the inputs alone,
    so a rerun plans the same units."""
    return max(1, min(most, -(-files // MIN_UNITS)))


# A split file's parts are at least this large: a span is then ~1,000 crawled pages, tens of CPU-seconds, so a second
# worker's start-up (imports, language resources: ~5 CPU-s) is small beside the work it takes over. At 2 MiB a
# 13 MB WARC made 7 spans on 2 cores and cost 20-45 % more CPU for no gain in wall time (BENCHMARKS.md).
SPAN_MIN_BYTES = 32 << 20


def _split(path: str, size: int, span_bytes: int) -> list[tuple[int, int]]:
    """Equal byte spans of a file whose reader is splittable, when it is gzip and large; [] to read it whole."""
    if not path.split("?", 1)[0].endswith(".gz") or size < 2 * span_bytes:
        return []
    n = -(-size // span_bytes)
    cuts = [size * i // n for i in range(n + 1)]
    return list(zip(cuts, cuts[1:]))


def _spans_by_path(todo: list[tuple[str, str]]) -> tuple[dict[str, list[tuple[int, int]]], dict[str, int]]:
    """A run of fewer files than MIN_UNITS splits its large gzip files (WARC, WET, WAT) into byte spans of
    total/MIN_UNITS bytes or SPAN_MIN_BYTES, whichever is larger: a single 1 GB crawl file keeps every core busy.
    Depends on the inputs alone (their sizes), so a rerun plans the same units. Returns the spans and the sizes
    it looked up."""
    if len(todo) >= MIN_UNITS or not any(READERS[fmt].splittable for _, fmt in todo):
        return {}, {}
    sizes = {p: storage.size(p) for p, fmt in todo if READERS[fmt].splittable}
    span_bytes = max(SPAN_MIN_BYTES, -(-sum(sizes.values()) // MIN_UNITS))
    return {p: spans for p, size in sizes.items() if (spans := _split(p, size, span_bytes))}, sizes


def _listed_paths(spec: InputSpec) -> list[str]:
    if not spec.crawl:
        return storage.expand([spec.path])
    from winnow.pipeline.commoncrawl import CrawlSource, list_files  # only crawl inputs need the listing client

    source = CrawlSource(**{**spec.crawl, "segments": tuple(spec.crawl.get("segments") or ())})
    try:
        return list_files(source)
    except (OSError, ValueError) as exc:
        raise storage.InputError(f"{source.listing_url}: {exc}") from None


def _own_outputs(output: str) -> tuple[str, ...]:
    """What a run writes (its parts, work files, stats and report), spelled as `_spelled` spells inputs."""
    out = _spelled(output).rstrip("/")
    folders = tuple(f"{out}/{name}/" for name in ("documents", "rejected", "errors", "_work", "report.d"))
    return folders + (f"{out}/stats.json", f"{out}/report.html")


def _spelled(path: str) -> str:
    """One spelling per local file (a.jsonl, ./a.jsonl and /abs/a.jsonl are one input); URLs as they are."""
    return path if storage.is_remote(path) else os.path.abspath(path)


def plan_units(config: PipelineConfig) -> list[Unit]:
    """Units of work in a stable order (config order, then sorted within each glob): one per file, groups of
    consecutive small files of one format (`engine.files_per_unit`, else the reader's `files_per_unit`), or byte
    spans of a large file when there are few (`_spans_by_path`)."""
    units: list[Unit] = []
    seen: set[str] = set()
    own = _own_outputs(config.output)  # when a folder input holds the output folder
    for spec in config.inputs:
        options = tuple(sorted(spec.options.items()))
        todo: list[tuple[str, str]] = []
        for path in _listed_paths(spec):
            same = _spelled(path)
            if same in seen or same.startswith(own):  # its own outputs are never a run's input
                continue
            seen.add(same)
            try:
                todo.append((path, spec.format if spec.format != "auto" else detect_format(path)))
            except ValueError as exc:
                raise storage.InputError(str(exc)) from None
        per_format = Counter(fmt for _, fmt in todo)
        spans, sizes = _spans_by_path(todo) if config.engine.split_files else ({}, {})

        def whole(paths: list[str]) -> Unit:
            size = sum(sizes[p] for p in paths) if all(p in sizes for p in paths) else None
            return Unit(len(units), tuple(paths), spec.format, options, size=size)

        group: list[str] = []
        group_fmt = ""
        for path, fmt in todo:
            if path in spans:
                if group:
                    units.append(whole(group))
                    group = []
                units += [Unit(len(units) + i, (path,), spec.format, options, span, span[1] - span[0])
                          for i, span in enumerate(spans[path])]
                continue
            limit = config.engine.files_per_unit or _group_size(READERS[fmt].files_per_unit, per_format[fmt])
            if group and (fmt != group_fmt or len(group) >= limit):
                units.append(whole(group))
                group = []
            group.append(path)
            group_fmt = fmt
        if group:
            units.append(whole(group))
    return units


# What an embedded Ray adds to a run's wall time: the cluster, and each worker importing the stages and loading their
# resources. 8.6 s on 2 cores, on pages outside the scored jobs (bench/executor_choice.py, BENCHMARKS.md).
RAY_START_SECONDS = 8.0
PARALLEL_PLAN_MAX_UNITS = 64  # more units than this: Ray without estimating (the inputs are not even stat'ed)


def parallel_gain_seconds(units: list[Unit], cpus: int) -> float | None:
    """Roughly how much wall time running these units on `cpus` cores at once saves over one after another:
    the serial estimate minus the longest of (the largest unit, an equal share), each unit priced by its reader's
    `seconds_per_mb`. A 13 MB WARC beside a 0.1 MB one gains almost nothing from a second core. None when there
    are too many units to estimate cheaply or a size is unknown (HTTP inputs). A missing file prices at nothing."""
    if len(units) > PARALLEL_PLAN_MAX_UNITS:
        return None
    work = []
    for u in units:
        if not all(map(storage.sized, u.paths)):
            return None  # an HTTP input: its size is unknown, so is the gain
        try:
            size = u.size if u.size is not None else sum(storage.size(p) for p in u.paths)
        except (OSError, ValueError):  # unreadable input: its unit reports it; here it only means "cannot price"
            return None
        fmt = u.format if u.format != "auto" else detect_format(u.paths[0])
        work.append(size / 1e6 * READERS[fmt].seconds_per_mb)
    total = sum(work)
    return total - max(max(work, default=0.0), total / max(1, cpus))


def working_column_drops(config: PipelineConfig) -> list[tuple[str, ...]]:
    """For each stage, the readers' working columns to drop before it: those the stages before it read but none
    from it on. A stage that does not declare what it reads keeps them all alive. Past the last stage: all of them,
    whatever is left (a _work/ part an older version wrote with its payloads), as no output holds them."""
    working = working_columns()
    unread: list[set[str]] = [set(working)]  # from the end: what no stage from here on reads
    needed: set[str] = set()
    for spec in reversed(config.stages):
        reads = spec.build().reads_columns()
        needed |= working if reads is None else reads & working
        unread.append(working - needed)
    unread.reverse()
    drops = [tuple(sorted(now - (unread[i - 1] if i else set()))) for i, now in enumerate(unread[:-1])]
    return [*drops, tuple(sorted(working))]


def plan_segments(config: PipelineConfig) -> list[Segment]:
    segments: list[list[str]] = [[]]
    for spec in config.stages:
        # A global stage always opens a new segment; before a leading one, segment 0 only reads the inputs.
        if issubclass(STAGES[spec.name], GlobalStage):
            segments.append([])
        segments[-1].append(spec.name)
    drops = working_column_drops(config)
    out, position = [], 0
    for i, names in enumerate(segments):
        first = names[0] if names else None
        is_global = first is not None and issubclass(STAGES[first], GlobalStage)
        before = tuple(drops[position : position + len(names) + 1])
        out.append(Segment(i, tuple(names), first if is_global else None, before))
        position += len(names)
    return out


def segment_resources(segment: Segment) -> dict[str, float]:
    """What one unit of the segment asks of a worker: the most any of its stages declares."""
    cpus = max([STAGES[n].resources.cpus for n in segment.stage_names] or [1.0])
    gpus = max([STAGES[n].resources.gpus for n in segment.stage_names] or [0.0])
    res = {"num_cpus": cpus}
    if gpus:
        res["num_gpus"] = gpus
    return res
