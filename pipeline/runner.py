"""Drives a run: plans units and segments, skips finished work, fits global stages, hands units to the executor,
writes stats and report."""

from __future__ import annotations

import json
import logging
import os
import time
from dataclasses import dataclass
from typing import Any, Callable

from winnow.pipeline import parquet_io, storage
from winnow.pipeline.accounting import check_funnel, merge_counts
from winnow.pipeline.config import PipelineConfig
from winnow.pipeline.corpus import Corpus, scoped_units
from winnow.pipeline.executors import ClusterError, make_executor
from winnow.pipeline.layout import Layout
from winnow.pipeline.planning import (
    RAY_START_SECONDS, Segment, Unit, parallel_gain_seconds, plan_segments, plan_units, segment_resources,
)
from winnow.pipeline.readers.base import READ_STAGE
from winnow.pipeline.registry import STAGES
from winnow.pipeline.stage import GlobalStage, error_detail
from winnow.pipeline.worker import run_unit

log = logging.getLogger("winnow")


class RunError(RuntimeError):
    """The run cannot start or cannot finish correctly (for example, its books do not balance)."""


@dataclass
class RunResult:
    stats: dict[str, Any]
    output: str
    problems: list[str]

    @property
    def balanced(self) -> bool:
        return not self.problems


def _check_output(config: PipelineConfig, layout: Layout, overwrite: bool) -> None:
    """A rerun resumes only the same run; another config's output is refused unless overwriting."""
    fingerprint = config.fingerprint()
    if overwrite:
        from winnow.pipeline.report import ADDED_SECTIONS  # imported here: report.py is loaded at the end of a run

        # report.d/ holds sections other commands added to the old run's report (winnow ablate's verdicts)
        added = storage.join(config.output, ADDED_SECTIONS)
        for d in (layout.documents, layout.rejected, layout.errors, layout.work, added):
            storage.delete_dir(d)
    elif storage.exists(layout.manifest):
        previous = json.loads(storage.read_bytes(layout.manifest))
        if previous.get("fingerprint") != fingerprint:
            raise RunError(
                f"{config.output} holds a run of a different config (fingerprint {previous.get('fingerprint')}, "
                f"this one {fingerprint}); pass --overwrite or choose another --output"
            )
    elif storage.list_files(layout.documents):
        raise RunError(f"{config.output} already holds documents/ from another tool or run; pass --overwrite")
    storage.write_atomic(layout.manifest, json.dumps({"fingerprint": fingerprint, "config": config.public_dict()}, indent=1, default=str).encode())


def run_pipeline(
    config: PipelineConfig,
    *,
    overwrite: bool = False,
    progress: Callable[[str, int, int, dict | None], None] | None = None,
    executor=None,
) -> RunResult:
    """Run the whole pipeline and return its stats. Raises RunError if the books do not balance."""
    started = time.time()
    units = plan_units(config)
    layout = Layout(config.output)
    _check_output(config, layout, overwrite)
    for folder in (layout.documents, layout.rejected, layout.errors):  # what a killed run was writing: redone below
        storage.delete_temporaries(folder)
    segments = plan_segments(config)
    own_executor = executor is None
    executor = executor or _LazyExecutor(_resolve_executor(config.engine, units))
    per_segment_results: dict[int, dict[str, dict]] = {}
    resumed = 0
    try:
        for segment in segments:
            last = segment.index == len(segments) - 1
            if segment.global_stage:
                try:
                    _fit_global(config, segment, units, layout, executor, progress)
                except ClusterError as exc:
                    raise RunError(str(exc)) from None
                except Exception as exc:  # as for a unit's stage: one message, and a rerun resumes after the fix
                    raise RunError(f"stage {segment.global_stage!r} could not fit: {error_detail(exc)}") from exc
            results, todo = _finished_units(layout, segment, units)
            resumed += len(results)
            label = f"segment {segment.index}" if len(segments) > 1 else "units"
            done = len(results)
            if progress:
                progress(label, done, len(units), None)
            items = ((config, segment, unit, last) for unit in todo)
            try:
                for result in executor.imap_unordered(run_unit, items, segment_resources(segment)):
                    results[result["unit"]] = result
                    done += 1
                    if progress:
                        progress(label, done, len(units), result)
            except ClusterError as exc:
                raise RunError(str(exc)) from None
            except Exception as exc:
                # Stages handle bad records themselves; what reaches here is a stage that cannot start
                # or a defect. Finished units stay finished: a rerun resumes after the fix.
                raise RunError(_unit_failure_message(exc)) from exc
            per_segment_results[segment.index] = results
    finally:
        if own_executor:
            executor.shutdown()

    stats = _finish(config, layout, segments, units, per_segment_results, time.time() - started, resumed)
    problems = stats["problems"]
    return RunResult(stats=stats, output=config.output, problems=problems)


def _finished_units(layout: Layout, segment: Segment, units: list[Unit]) -> tuple[dict[str, dict], list[Unit]]:
    """The results a previous run left in its markers, by unit key, and the units that still have to run."""
    results: dict[str, dict] = {}
    todo = []
    for unit in units:
        marker = layout.marker(segment.index, unit.key)
        if storage.exists(marker):
            result = results[unit.key] = json.loads(storage.read_bytes(marker))
            if (result["paths"], result.get("span")) != (list(unit.paths), list(unit.span) if unit.span else None):
                raise RunError(f"{layout.output}: unit {unit.key} was planned differently by the run that "
                               f"wrote it (another version); pass --overwrite")
        else:
            todo.append(unit)
    return results, todo


def _unit_failure_message(exc: Exception) -> str:
    text = str(exc).strip()
    cause = getattr(exc, "cause", None)  # Ray wraps the worker's exception
    if cause is not None:
        text = str(cause).strip()
    last = text.splitlines()[-1] if text else type(exc).__name__
    return f"a unit failed: {last}"


def _resolve_executor(engine, units: list[Unit]):
    """`executor: auto` → ray, except in-process on no cluster when running the units side by side would save less
    wall time than an embedded Ray costs to start (one unit; a large file beside a small one)."""
    if engine.executor != "auto":
        return engine
    if engine.address or os.environ.get("RAY_ADDRESS"):
        return engine.model_copy(update={"executor": "ray"})
    gain = parallel_gain_seconds(units, engine.num_cpus or os.cpu_count() or 1) if len(units) > 1 else 0.0
    local = gain is not None and gain < RAY_START_SECONDS
    return engine.model_copy(update={"executor": "local" if local else "ray"})


class _LazyExecutor:
    """Starts Ray only when there is work left, so a rerun of a finished run returns at once."""

    def __init__(self, engine):
        self._engine = engine
        self._executor = None

    def __getattr__(self, name):
        if self._executor is None:
            self._executor = make_executor(self._engine)
        return getattr(self._executor, name)

    def imap_unordered(self, fn, items, resources=None):
        items = list(items)
        if not items:
            return iter(())
        return self.__getattr__("imap_unordered")(fn, items, resources)

    def shutdown(self) -> None:
        if self._executor is not None:
            self._executor.shutdown()


def _fit_global(config, segment: Segment, units: list[Unit], layout: Layout, executor, progress) -> None:
    state_dir = layout.fit_dir(segment.index)
    done_marker = layout.fit_marker(segment.index)
    if storage.exists(done_marker):
        return
    stage = STAGES[segment.global_stage](next(s.params for s in config.stages if s.name == segment.global_stage))
    assert isinstance(stage, GlobalStage)
    stage.state_dir = state_dir
    storage.makedirs(state_dir)
    so_far = {u.key: p for u in units if storage.exists(p := layout.kept_path(segment.index - 1, u.key, last=False))}
    corpus = Corpus(
        units=scoped_units(so_far, stage.params, state_dir, executor),
        state_dir=state_dir,
        executor=executor,
        memory_budget_mb=config.engine.memory_budget_mb,
        num_cpus=getattr(executor, "num_cpus", 1),
    )
    if progress:
        progress(f"fit {segment.global_stage}", 0, 1, None)
    t0 = time.time()
    stage.ensure_setup()
    stage.fit(corpus)
    storage.write_atomic(done_marker, json.dumps({"seconds": time.time() - t0}).encode())
    if progress:
        progress(f"fit {segment.global_stage}", 1, 1, None)


def _stage_entries(config, layout: Layout, segments, funnel) -> list[dict[str, Any]]:
    """The funnel as stats.json lists it, each stage with what it says of itself and its fit time."""
    fit_seconds = {}
    for seg in segments:
        if seg.global_stage:
            marker = layout.fit_marker(seg.index)
            if storage.exists(marker):
                fit_seconds[seg.global_stage] = json.loads(storage.read_bytes(marker)).get("seconds", 0.0)
    described = {spec.name: spec.build().describe() for spec in config.stages}
    stage_dicts = []
    for s in funnel:
        d = s.to_dict()
        if described.get(s.name):
            d["describes"] = described[s.name]
        if s.name in fit_seconds:
            d["fit_seconds"] = round(fit_seconds[s.name], 4)
        stage_dicts.append(d)
    stage_dicts[0].setdefault("skipped", {})  # the reader's entry always has it, even when nothing was skipped
    return stage_dicts


def _finish(config, layout: Layout, segments, units, per_segment_results, wall: float, resumed: int) -> dict[str, Any]:
    order = [READ_STAGE] + [s.name for s in config.stages]
    per_unit = [r["stages"] for results in per_segment_results.values() for r in results.values()]
    funnel = merge_counts(per_unit, order)
    docs_files = storage.list_files(layout.documents, ".parquet")
    rej_files = storage.list_files(layout.rejected, ".parquet")
    err_files = storage.list_files(layout.errors, ".parquet")
    n_docs, n_rej, n_err = parquet_io.count_rows(docs_files), parquet_io.count_rows(rej_files), parquet_io.count_rows(err_files)
    problems = check_funnel(funnel, n_docs, n_rej, n_err)
    stage_dicts = _stage_entries(config, layout, segments, funnel)
    read = funnel[0]
    stats = {
        "stages": stage_dicts,
        "documents": n_docs,
        "rejected": n_rej,
        "errors": n_err,
        # Records read that are not documents (WARC requests, ...): counted apart, never rows of rejected/.
        "skipped": sum(read.skipped.values()),
        "skipped_by_type": dict(sorted(read.skipped.items())),
        "records_read": read.docs_in,
        "balanced": not problems,
        "problems": problems,
        "units": len(units),
        "files": len({p for u in units for p in u.paths}),
        "units_resumed": resumed,
        "wall_seconds": round(wall, 3),
        "throughput": {
            "records_per_s": round(read.docs_in / wall, 2) if wall else None,
            "bytes_per_s": round(read.bytes_in / wall, 1) if wall else None,
        },
        "fingerprint": config.fingerprint(),
        "config": config.public_dict(),
    }
    storage.write_atomic(layout.stats, json.dumps(stats, indent=1, default=str).encode())
    try:
        from winnow.pipeline.report import write_report

        write_report(config.output, stats)
    except Exception as exc:  # the report is a view of the stats; never fail a finished run over it
        log.warning("report.html not written: %s", exc)
    return stats
