"""`winnow plan`: estimate a run's documents, bytes, time, dedup memory and OCR cost from a sample, before running.

The sample is a real run: the pipeline runs in this process on the smallest input files (up to a byte
budget) into a temporary directory, and the per-byte rates it shows are scaled to the whole input.
"""

from __future__ import annotations

import dataclasses
import json
import tempfile
from dataclasses import dataclass
from typing import Any

from winnow.pipeline import storage
from winnow.pipeline.config import InputSpec, PipelineConfig
from winnow.pipeline.planning import RAY_START_SECONDS, plan_units
from winnow.pipeline.runner import run_pipeline

# What the estimate assumes beyond the sample; each is printed with it.
GPU_OCR_PAGES_PER_S = 10.0  # assumed VLM OCR throughput on one modern GPU (not measured here: no GPU)
EXACT_INDEX_BYTES = 64  # per document in an exact-dedup index (a 128-bit hash and its bookkeeping)


@dataclass
class Prices:
    core_hour: float = 0.04  # USD per CPU core-hour (assumption; pass your own)
    gpu_hour: float = 2.50  # USD per GPU-hour (assumption; pass your own)


def _index_bytes_per_document(config: PipelineConfig) -> int | None:
    """Bytes per document the largest in-memory index holds, as the stages declare it (dedup signatures)."""
    sizes = [b for spec in config.stages if (b := spec.build().index_bytes_per_document())]
    return max(sizes) if sizes else None


def estimate(config: PipelineConfig, sample_bytes: int = 50_000_000, cores: int = 2, prices: Prices | None = None) -> dict[str, Any]:
    """Run the pipeline on a sample of the inputs and scale its rates to the whole input."""
    prices = prices or Prices()
    units = plan_units(config)
    sizes = {p: storage.size(p) for u in units for p in u.paths}
    total_bytes = sum(sizes.values())
    warm_path, chosen, acc = _choose_sample(sizes, sample_bytes)
    stats, parquet_bytes = _run_sample(config, chosen, warm_path)
    scale = total_bytes / acc if acc else float(len(units)) / max(len(chosen), 1)
    stage_rows, cpu_seconds = _stage_rows(stats, scale)
    records = stats["stages"][0]["in"] * scale
    kept = stats["documents"] * scale
    sig = _index_bytes_per_document(config)
    workers = min(cores, len(units)) or 1
    wall = RAY_START_SECONDS + cpu_seconds / workers  # measured on 2 cores (planning.py)
    out = {
        "inputs": {"files": len(units), "bytes": total_bytes, "sampled_files": len(chosen), "sampled_bytes": acc,
                   "unknown_size_files": sum(1 for v in sizes.values() if v == 0)},
        "documents": {"read": round(records), "kept": round(kept), "rejected": round(stats["rejected"] * scale),
                      "errors": round(stats["errors"] * scale)},
        "stages": stage_rows,
        "time": {"cpu_seconds": round(cpu_seconds, 3), "cores": cores, "wall_seconds": round(wall, 1),
                 "cost_usd": round(cpu_seconds / 3600 * prices.core_hour, 4)},
        "dedup_peak_memory_bytes": round(kept * sig) if sig else None,
        "ocr": _ocr_estimate(stats, scale, prices),
        "output": {"documents_parquet_bytes": round(parquet_bytes * scale),
                   "parquet_bytes_per_kept_doc": round(parquet_bytes / stats["documents"], 1) if stats["documents"] else None},
        "ratios": {"records_per_document": round(stats["stages"][0]["in"] / max(stats["stages"][0]["kept"], 1), 3),
                   "kept_per_document": round(stats["documents"] / max(stats["stages"][0]["kept"], 1), 4)},
        "per_core": {"records_per_s": round(records / cpu_seconds, 2) if cpu_seconds else None,
                     "bytes_per_s": round(total_bytes / cpu_seconds, 1) if cpu_seconds else None},
        "assumptions": {"ray_startup_s": RAY_START_SECONDS, "gpu_ocr_pages_per_s": GPU_OCR_PAGES_PER_S,
                        "core_hour_usd": prices.core_hour, "gpu_hour_usd": prices.gpu_hour,
                        "signature_bytes_per_doc": sig},
    }
    return out


def _choose_sample(sizes: dict[str, int], sample_bytes: int) -> tuple[str, list[str], int]:
    """The warm-up file, then the smallest other files up to `sample_bytes` (at least one) and their bytes."""
    # The warm-up file (imports, models, per-language word caches) is never one of the timed files, so the
    # timed sample does not find its words already cached: the smallest file warms up when there are others.
    by_size = sorted(sizes, key=lambda p: (sizes[p], p))
    warm_path = by_size[0]
    rest = by_size[1:] or by_size
    chosen, acc = [], 0
    for path in rest:
        if chosen and acc + sizes[path] > sample_bytes:
            break
        chosen.append(path)
        acc += sizes[path]
    return warm_path, chosen, acc


def _run_sample(config: PipelineConfig, chosen: list[str], warm_path: str) -> tuple[dict[str, Any], int]:
    """Run the pipeline in this process on the chosen files, after a warm-up run; its stats and Parquet bytes."""
    with tempfile.TemporaryDirectory(prefix="winnow-plan-") as tmp:
        sample_cfg = dataclasses.replace(
            config,
            inputs=_inputs_for(config, chosen),
            output=storage.join(tmp, "out"),
            engine=config.engine.model_copy(update={"executor": "local"}),
        )
        # Warm-up: imports and model loading are a per-worker constant that a small sample would otherwise
        # scale up as if it were per-byte work.
        warm_inputs = _inputs_for(config, [warm_path])[:1]
        run_pipeline(dataclasses.replace(sample_cfg, inputs=warm_inputs, output=storage.join(tmp, "warmup")))
        stats = run_pipeline(sample_cfg).stats
        doc_files = storage.list_files(storage.join(sample_cfg.output, "documents"), ".parquet")
        return stats, sum(storage.size(f) for f in doc_files)


def _inputs_for(config: PipelineConfig, paths: list[str]) -> list[InputSpec]:
    """`paths`, each with the reader options of the input entry it came from."""
    return [dataclasses.replace(spec, path=p)
            for spec in config.inputs for p in storage.expand([spec.path]) if p in paths]


def _stage_rows(stats: dict[str, Any], scale: float) -> tuple[list[dict[str, Any]], float]:
    """Each stage's documents and CPU seconds scaled to the whole input, then the engine's row; and the CPU total."""
    rows = []
    stage_seconds = 0.0
    for s in stats["stages"]:
        secs = (s["seconds"] + s.get("fit_seconds", 0.0)) * scale
        stage_seconds += secs
        rows.append({"name": s["name"], "documents_in": round(s["in"] * scale), "kept": round(s["kept"] * scale),
                     "cpu_seconds": round(secs, 3)})
    # The sample ran in this one process, so its wall time is its CPU time: stages plus what no stage counts
    # (writing Parquet, accounting, unit markers, the report), shown as its own row.
    cpu_seconds = max(stats["wall_seconds"] * scale, stage_seconds)
    rows.append({"name": "(engine: writers, accounting)", "documents_in": None, "kept": None,
                 "cpu_seconds": round(cpu_seconds - stage_seconds, 3)})
    return rows, cpu_seconds


def _ocr_estimate(stats: dict[str, Any], scale: float, prices: Prices) -> dict[str, Any]:
    # Work a GPU could take (OCR'd pages): the counters and seconds of the stages that declare such counters.
    accel = [s for s in stats["stages"] if s.get("describes", {}).get("accelerator_counters")]
    ocr_pages = sum(s.get("counters", {}).get(k, 0) for s in accel for k in s["describes"]["accelerator_counters"]) * scale
    ocr_cpu_seconds = sum(s["seconds"] for s in accel) * scale
    return {"pages": round(ocr_pages), "cpu_seconds": round(ocr_cpu_seconds, 1),
            "gpu_seconds_assumed": round(ocr_pages / GPU_OCR_PAGES_PER_S, 1),
            "cpu_cost_usd": round(ocr_cpu_seconds / 3600 * prices.core_hour, 4),
            "gpu_cost_usd": round(ocr_pages / GPU_OCR_PAGES_PER_S / 3600 * prices.gpu_hour, 4)}


# Common Crawl main-crawl shape, from the crawls' published statistics (order of magnitude).
CC_SNAPSHOT = {"warc_files": 90_000, "bytes_per_warc": 1.1e9, "pages": 3.0e9}


def snapshot_estimate(plan: dict[str, Any], nodes: int, cores_per_node: int, memory_gb_per_node: float,
                      prices: Prices | None = None) -> dict[str, Any]:
    """Scale a sample plan's per-core rates to a whole Common Crawl snapshot on a cluster.

    Pages are the reader's documents (HTML responses); records include requests and metadata, which
    cost reading time too, so time scales with records = pages × the sample's records per document.
    """
    prices = prices or Prices()
    rate = plan["per_core"]["records_per_s"]
    if not rate:
        raise ValueError("the sample processed no records; cannot scale it")
    pages = CC_SNAPSHOT["pages"]
    records = pages * plan["ratios"]["records_per_document"]
    kept = pages * plan["ratios"]["kept_per_document"]
    core_seconds = records / rate
    cores = nodes * cores_per_node
    sig = plan["assumptions"]["signature_bytes_per_doc"] or EXACT_INDEX_BYTES
    dedup_bytes = kept * sig
    per_doc_out = plan["output"]["parquet_bytes_per_kept_doc"] or 0
    in_flight_bytes = 2 * cores_per_node * CC_SNAPSHOT["bytes_per_warc"]  # 2 units per core, one WARC each
    return {
        "snapshot": CC_SNAPSHOT,
        "cluster": {"nodes": nodes, "cores_per_node": cores_per_node, "memory_gb_per_node": memory_gb_per_node},
        "records": round(records),
        "kept_documents": round(kept),
        "core_hours": round(core_seconds / 3600),
        "wall_hours": round(core_seconds / cores / 3600, 2),
        "cost_usd": round(core_seconds / 3600 * prices.core_hour),
        "dedup_index_gb": round(dedup_bytes / 1e9, 1),
        "dedup_index_gb_per_node": round(dedup_bytes / 1e9 / nodes, 2),
        "dedup_fits_in_half_the_memory": dedup_bytes / nodes < 0.5 * memory_gb_per_node * 1e9,
        # Units stream their documents to disk; the object store only carries task arguments and
        # results, so its need is small. Scratch disk holds the WARCs in flight and the outputs.
        "scratch_disk_gb_per_node": round(in_flight_bytes / 1e9, 1),
        "output_tb": round(kept * per_doc_out / 1e12, 2),
    }


def format_plan(plan: dict[str, Any]) -> str:
    return json.dumps(plan, indent=2)
