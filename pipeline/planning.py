"""What a run will do, decided before anything runs: its units of input, its segments of stages, and what each
segment asks of a worker.

Plans depend on the config and the inputs alone, so a rerun plans the same units and resumes them by key.
"""

from __future__ import annotations

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


def _listed_paths(spec: InputSpec) -> list[str]:
    if not spec.crawl:
        return storage.expand([spec.path])
    from winnow.pipeline.commoncrawl import CrawlSource, list_files  # only crawl inputs need the listing client

    source = CrawlSource(**{**spec.crawl, "segments": tuple(spec.crawl.get("segments") or ())})
    try:
        return list_files(source)
    except (OSError, ValueError) as exc:
        raise storage.InputError(f"{source.listing_url}: {exc}") from None


def plan_units(config: PipelineConfig) -> list[Unit]:
    """Units of work in a stable order (config order, then sorted within each glob): one per file, or groups of
    consecutive small files of one format (`engine.files_per_unit`, else the reader's `files_per_unit`)."""
    units: list[Unit] = []
    seen: set[str] = set()
    for spec in config.inputs:
        options = tuple(sorted(spec.options.items()))
        todo: list[tuple[str, str]] = []
        for path in _listed_paths(spec):
            if path in seen:
                continue
            seen.add(path)
            try:
                todo.append((path, spec.format if spec.format != "auto" else detect_format(path)))
            except ValueError as exc:
                raise storage.InputError(str(exc)) from None
        per_format = Counter(fmt for _, fmt in todo)
        group: list[str] = []
        group_fmt = ""
        for path, fmt in todo:
            limit = config.engine.files_per_unit or _group_size(READERS[fmt].files_per_unit, per_format[fmt])
            if group and (fmt != group_fmt or len(group) >= limit):
                units.append(Unit(len(units), tuple(group), spec.format, options))
                group = []
            group.append(path)
            group_fmt = fmt
        if group:
            units.append(Unit(len(units), tuple(group), spec.format, options))
    return units


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
