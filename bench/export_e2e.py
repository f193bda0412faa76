"""`winnow export` end to end against datatrove's tokenization pipeline: same documents, tokenizer and cores.

What a user runs on each side, as a command, with the CPU of every process it starts counted (bench/_procs.py):

* Winnow: `winnow export configs/export.yaml` over a run's documents/ (4 Parquet parts of real text from
  ../shared/data/domains), weights proportional to each domain's bytes, `total_tokens: null` (every domain used
  once, none repeated), Megatron output only, a fresh token cache each run (so it tokenizes every time).
* datatrove: LocalPipelineExecutor(ParquetReader → DocumentTokenizer, one task per part, 2 workers), then
  DocumentTokenizerMerger into one file: its recipe for tokenized training data. Both sides shuffle.

Both use the same tokenizer.json (a byte-level BPE trained once on 8 MB of the same text, cached) and write an EOS
after every document. Ids are compared document by document: the multiset of token sequences Winnow wrote must be
contained in datatrove's (Winnow's budget may leave out the tail of a domain).

    python -P bench/export_e2e.py [--mb 40] [--rounds 2] [--vocab 32000]
"""

from __future__ import annotations

import argparse
import hashlib
import importlib.util
import json
import shutil
import sys
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PARTS = 4
WORKERS = 2


def _bench_module(name: str):
    spec = importlib.util.spec_from_file_location(f"_export_{name}", ROOT / "bench" / f"{name}.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def build(work: Path, mb: float, vocab: int) -> tuple[Path, Path, Path]:
    """A run-like documents/ folder, a weights file and a tokenizer.json."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    from winnow.pipeline.tokens.tokenizer import train_tokenizer

    docs = _bench_module("tokenizer_speed").load_texts(mb)
    run = work / "run"
    (run / "documents").mkdir(parents=True, exist_ok=True)
    for i in range(PARTS):
        part = docs[i::PARTS]
        table = pa.table({k: [d[k] for d in part] for k in ("id", "text", "domain")})
        pq.write_table(table, run / "documents" / f"part-{i:05d}.parquet")
    size = Counter()
    for d in docs:
        size[d["domain"]] += len(d["text"].encode("utf-8"))
    weights = work / "weights.json"
    weights.write_text(json.dumps({k: v / sum(size.values()) for k, v in size.items()}))
    tok = Path(f"/tmp/winnow-bench-bpe-{vocab}/tokenizer.json")
    if not tok.is_file():
        sample, n = [], 0
        for d in docs:
            sample.append(d["text"])
            n += len(d["text"])
            if n > 8e6:
                break
        train_tokenizer(sample, vocab, str(tok.parent))
    print(f"{len(docs):,} documents, {sum(size.values()) / 1e6:.1f} MB in {PARTS} parts; tokenizer {tok}", flush=True)
    return run, weights, tok


def winnow_command(run: Path, weights: Path, tok: Path, out: Path) -> list[str]:
    cli = Path(sys.executable).parent / "winnow"
    # the bundled recipe, Megatron only (datatrove writes one format); everything else by its params
    recipe = (ROOT / "configs" / "export.yaml").read_text().replace("formats: [megatron, numpy]", "formats: [megatron]")
    config = out.parent / "export-megatron.yaml"
    config.write_text(recipe)
    return [str(cli), "export", str(config), "-q", "--overwrite",
            "--set", f"documents={run}", "--set", f"weights={weights}", "--set", f"tokenizer={tok}",
            "--set", f"export_dir={out / 'export'}", "--set", f"token_cache={out / 'cache'}"]


def datatrove_side(spec: dict) -> None:
    """Runs in its own interpreter: datatrove's tokenization recipe."""
    from datatrove.executor import LocalPipelineExecutor
    from datatrove.pipeline.readers import ParquetReader
    from datatrove.pipeline.tokens.merger import DocumentTokenizerMerger
    from datatrove.pipeline.tokens.tokenizer import DocumentTokenizer

    out = Path(spec["out"])
    LocalPipelineExecutor(
        pipeline=[ParquetReader(spec["documents"], glob_pattern="*.parquet"),
                  DocumentTokenizer(str(out / "tok"), tokenizer_name_or_path=spec["tokenizer"],
                                    eos_token=spec["eos"], batch_size=512, seed=1234)],
        tasks=PARTS, workers=WORKERS, logging_dir=str(out / "logs0"),
    ).run()
    LocalPipelineExecutor(
        pipeline=[DocumentTokenizerMerger(str(out / "tok"), str(out / "merged"), save_filename="data", seed=1234,
                                          progress=False)],
        tasks=1, workers=1, logging_dir=str(out / "logs1"),
    ).run()


def datatrove_command(run: Path, tok: Path, out: Path) -> list[str]:
    from winnow.pipeline.tokens.tokenizer import Tokenizer

    out.mkdir(parents=True, exist_ok=True)
    spec = {"documents": str(run / "documents"), "tokenizer": str(tok), "out": str(out),
            "eos": Tokenizer.load(str(tok)).eos_token}
    (out / "spec.json").write_text(json.dumps(spec))
    return [sys.executable, "-P", str(Path(__file__).resolve()), "--_datatrove", str(out / "spec.json")]


def _digests(sequences) -> Counter:
    return Counter(hashlib.blake2b(s.tobytes(), digest_size=12).digest() for s in sequences)


def winnow_sequences(out: Path) -> Counter:
    import numpy as np

    from winnow.pipeline.export.formats import read_megatron

    seqs = []
    for idx in sorted((out / "export").rglob("*.idx")):
        ds = read_megatron(str(idx)[: -len(".idx")])
        seqs += [np.asarray(ds[i], dtype=np.int64) for i in range(len(ds))]
    return _digests(seqs)


def datatrove_sequences(out: Path) -> Counter:
    import numpy as np

    seqs = []
    for data in sorted((out / "merged").glob("*.ds")):
        tokens = np.fromfile(data, dtype=np.uint16)  # DocumentTokenizer's default token_size: 2 bytes
        ends = np.fromfile(str(data) + ".index", dtype=np.uint64).astype(np.int64)
        starts = np.concatenate([[0], ends[:-1]])
        seqs += [tokens[a:b].astype(np.int64) for a, b in zip(starts, ends)]
    return _digests(seqs)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--mb", type=float, default=40.0)
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--vocab", type=int, default=32000)
    ap.add_argument("--work", type=Path, default=Path("/tmp/winnow-export-e2e"))
    ap.add_argument("--_datatrove", default=None, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args._datatrove:
        return datatrove_side(json.loads(Path(args._datatrove).read_text()))
    procs = _bench_module("_procs")
    shutil.rmtree(args.work, ignore_errors=True)
    run, weights, tok = build(args.work, args.mb, args.vocab)
    rows = []
    for r in range(args.rounds):
        for side in ("winnow", "datatrove") if r % 2 == 0 else ("datatrove", "winnow"):
            out = args.work / f"{side}-{r}"
            shutil.rmtree(out, ignore_errors=True)
            cmd = winnow_command(run, weights, tok, out) if side == "winnow" else datatrove_command(run, tok, out)
            out.mkdir(parents=True, exist_ok=True)
            m = procs.run_measured(cmd, out / "log")
            if m["rc"]:
                raise SystemExit(f"{side} failed: see {out}/log.err")
            seqs = winnow_sequences(out) if side == "winnow" else datatrove_sequences(out)
            rows.append({"side": side, "round": r, "wall": m["wall"], "cpu": m["cpu_tree"],
                         "documents": sum(seqs.values()), "tokens_seqs": seqs})
            print(f"  round {r} {side:9s} wall {m['wall']:6.1f} s  CPU {m['cpu_tree']:6.1f} s  "
                  f"documents {sum(seqs.values()):,}", flush=True)
    w = [x for x in rows if x["side"] == "winnow"]
    d = [x for x in rows if x["side"] == "datatrove"]
    same = all(not (x["tokens_seqs"] - d[0]["tokens_seqs"]) for x in w)
    best = {s: min(x["cpu"] for x in rows if x["side"] == s) for s in ("winnow", "datatrove")}
    wall = {s: min(x["wall"] for x in rows if x["side"] == s) for s in ("winnow", "datatrove")}
    print(f"\nbest of {args.rounds}: winnow {best['winnow']:.1f} CPU-s / {wall['winnow']:.1f} s wall; datatrove "
          f"{best['datatrove']:.1f} CPU-s / {wall['datatrove']:.1f} s wall -> CPU x{best['datatrove'] / best['winnow']:.2f}, "
          f"wall x{wall['datatrove'] / wall['winnow']:.2f}")
    print(f"every document Winnow wrote ({w[0]['documents']:,}) has identical ids in datatrove's output "
          f"({d[0]['documents']:,} documents): {same}")


if __name__ == "__main__":
    main()
