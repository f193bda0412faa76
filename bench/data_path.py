"""Stage-level figures behind the dedup and end-to-end headlines: where a change on the data path saves CPU.

Not headlines (those are bench/dedup_scale.py and bench/e2e.py); these explain them, each on its own, CPU time of
this process, best of --repeats:

  jsonl     reading the dedup scale set (bench/dedup_scale.py's construction, --docs documents) with
            JsonlReader: Arrow's batch path against the line-by-line path it falls back to
  parquet   writing those documents as a user-facing part (zstd level 3) and as scratch (LZ4)
  gopher    gopher_repetition in steady state (second pass, word splitters loaded) on the pages a WARC yields
            after extract (isolate: false) and language, e.g. one file of bench/e2e.py's large job

    python bench/data_path.py [--docs 100000] [--warc PATH] [--repeats 3]
"""

from __future__ import annotations

import argparse
import io
import json
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))  # bench/dedup_scale.py: the scale set


def best(fn, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        t = time.process_time()
        fn()
        times.append(time.process_time() - t)
    return min(times)


def jsonl_and_parquet(n_docs: int, repeats: int) -> None:
    import dedup
    import dedup_scale
    import pyarrow as pa
    import pyarrow.parquet as pq

    from winnow.pipeline import parquet_io
    from winnow.pipeline.readers import jsonl

    with tempfile.TemporaryDirectory() as tmp:
        path = f"{tmp}/docs.jsonl"
        with open(path, "w") as f:
            f.writelines(json.dumps({"id": r["id"], "text": r["text"]}) + "\n"
                         for r in dedup_scale.scale_set(dedup.SHARED, n_docs))
        mb = Path(path).stat().st_size / 1e6

        def read() -> pa.Table:
            return pa.concat_tables(o.kept for o in jsonl.JsonlReader().read(path))

        table = read()
        batch = best(read, repeats)
        batch_path = jsonl.block_table
        jsonl.block_table = lambda *a: None  # every batch line by line
        try:
            lines = best(read, repeats)
        finally:
            jsonl.block_table = batch_path
        print(f"jsonl: {table.num_rows} documents, {mb:.0f} MB: batch path {batch:.2f} CPU-s, line by line {lines:.2f}")
        for name, options in (("zstd-3 (outputs)", parquet_io.WRITE_OPTIONS), ("lz4 (scratch)", parquet_io.SCRATCH_OPTIONS)):
            size = len(parquet_io.table_to_bytes(table, scratch=options is parquet_io.SCRATCH_OPTIONS))
            secs = best(lambda o=options: pq.write_table(table, io.BytesIO(), **o), repeats)
            print(f"parquet write {name}: {secs:.2f} CPU-s, {size / 1e6:.0f} MB")


def gopher(warc: str, repeats: int) -> None:
    import pyarrow as pa

    from winnow.filters.extract.stage import ExtractParams, ExtractStage
    from winnow.filters.heuristics.stages import GopherRepetitionStage
    from winnow.filters.language import LanguageStage
    from winnow.pipeline.readers.warc import WarcReader

    table = pa.concat_tables(o.kept for o in WarcReader().read(warc))
    extract = ExtractStage(ExtractParams(isolate=False))
    extract.setup()
    language = LanguageStage()
    language.setup()
    table = language.process(extract.process(table).kept.drop_columns(["raw", "http_headers"])).kept
    stage = GopherRepetitionStage()
    stage.setup()
    first = best(lambda: stage.process(table), 1)
    steady = best(lambda: stage.process(table), repeats)
    kept = stage.process(table).kept.num_rows
    print(f"gopher_repetition: {table.num_rows} pages, {kept} kept: first pass {first:.2f} CPU-s, steady {steady:.2f}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--docs", type=int, default=100_000)
    ap.add_argument("--warc", help="a WARC for the gopher_repetition figure (left out without it)")
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args()
    jsonl_and_parquet(args.docs, args.repeats)
    if args.warc:
        gopher(args.warc, args.repeats)


if __name__ == "__main__":
    main()
