"""`winnow plan`: what a run will cost, estimated from a real run on a sample of its inputs."""

from __future__ import annotations

import json
import logging
from typing import Any, Optional

import typer

from winnow.pipeline.cli.app import app
from winnow.pipeline.cli.common import PIPELINE_SET_HELP, config_path, console, fail, set_option


@app.command()
def plan(
    config: str = typer.Argument(..., help="Pipeline YAML or a bundled recipe's name."),
    input: list[str] = typer.Option([], "--input", "-i", help="Input path or glob; repeatable."),
    set_: list[str] = set_option(PIPELINE_SET_HELP),
    cores: int = typer.Option(2, "--cores", min=1, help="Cores the real run will have."),
    sample_mb: float = typer.Option(
        50.0, "--sample-mb", min=0.001, help="Input bytes to sample (smallest files first)."
    ),
    nodes: Optional[int] = typer.Option(
        None, "--snapshot-nodes", min=1, help="Also estimate a whole Common Crawl snapshot on N nodes."
    ),
    cores_per_node: int = typer.Option(64, "--cores-per-node", min=1),
    memory_gb: float = typer.Option(256.0, "--memory-gb-per-node", min=0.001),
    core_hour_usd: float = typer.Option(0.04, "--core-hour-usd", min=0, help="Price of a CPU core-hour."),
    gpu_hour_usd: float = typer.Option(2.5, "--gpu-hour-usd", min=0, help="Price of a GPU-hour."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON only."),
) -> None:
    """Estimate documents, bytes, time per stage, dedup memory and OCR cost before running."""
    from winnow.pipeline.config import ConfigError, load_config, parse_set
    from winnow.pipeline.plan import Prices, estimate, snapshot_estimate
    from winnow.pipeline.storage import InputError

    logging.basicConfig(level=logging.WARNING)
    config = config_path(config, "demo")
    try:
        cfg = load_config(config, inputs=input or None, output="/nonexistent-plan-output", overrides=parse_set(set_))
        prices = Prices(core_hour_usd, gpu_hour_usd)
        result = estimate(cfg, sample_bytes=int(sample_mb * 1e6), cores=cores, prices=prices)
        if nodes:
            result["snapshot"] = snapshot_estimate(result, nodes, cores_per_node, memory_gb, prices)
    except (ConfigError, InputError, ValueError) as exc:
        fail(str(exc))
    if as_json:
        print(json.dumps(result, indent=2))
        return
    _print_plan(result)


def _print_plan(result: dict[str, Any]) -> None:
    i, d, t = result["inputs"], result["documents"], result["time"]
    console.print(f"inputs: {i['files']} files, {i['bytes'] / 1e6:,.1f} MB "
                  f"(sampled {i['sampled_files']} files, {i['sampled_bytes'] / 1e6:,.1f} MB)")
    console.print(f"documents: ~{d['read']:,} read, ~{d['kept']:,} kept, ~{d['rejected']:,} rejected, ~{d['errors']:,} errors")
    _print_stages(result["stages"])
    console.print(f"time: ~{t['wall_seconds']:,.0f} s wall on {t['cores']} cores ({t['cpu_seconds']:,.0f} cpu-s, ~${t['cost_usd']})")
    if result["dedup_peak_memory_bytes"]:
        console.print(f"dedup index: ~{result['dedup_peak_memory_bytes'] / 1e6:,.1f} MB")
    if result["ocr"]["pages"]:
        o = result["ocr"]
        console.print(f"OCR: ~{o['pages']:,} pages; CPU ~{o['cpu_seconds']:,.0f} s (${o['cpu_cost_usd']}), "
                      f"GPU ~{o['gpu_seconds_assumed']:,.0f} s assumed (${o['gpu_cost_usd']})")
    if "snapshot" in result:
        console.print("whole snapshot:")
        _print_items(result["snapshot"])
    console.print("assumptions:")
    _print_items(result["assumptions"])
    _print_sample_note(i)


def _print_stages(stages: list[dict[str, Any]]) -> None:
    for s in stages:
        if s["documents_in"] is None:  # the engine's own row: writers, accounting
            console.print(f"  {s['name']:<48} {s['cpu_seconds']:>9.1f} cpu-s", highlight=False)
            continue
        console.print(f"  {s['name']:<22} in ~{s['documents_in']:>10,}  kept ~{s['kept']:>10,}  {s['cpu_seconds']:>9.1f} cpu-s")


def _print_items(items: dict[str, Any]) -> None:
    for key, value in items.items():
        console.print(f"  {key.replace('_', ' ')}: {value}", highlight=False)


def _print_sample_note(i: dict[str, Any]) -> None:
    share = i["sampled_bytes"] / i["bytes"] if i["bytes"] else 0.0
    if i["sampled_files"] < i["files"] and share < 0.9:
        console.print(
            f"[yellow]note:[/] the estimate scales a sample of {i['sampled_files']} of {i['files']} files "
            f"({share:.0%} of the bytes, smallest files first); larger or different files may behave otherwise. "
            "Raise --sample-mb for a closer estimate.", highlight=False,
        )
