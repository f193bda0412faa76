"""Tokenization throughput per core: Winnow's pools vs raw `tokenizers` (encode_batch_fast, its fastest path, the
baseline; encode_batch shown beside it) vs datatrove's DocumentTokenizer.

Usage: python bench/tokenizer_speed.py [--mb 20] [--vocab 32000] [--tokenizer PATH]
Everything runs on one thread (RAYON_NUM_THREADS=1, one tiktoken thread), timed in process CPU seconds, on the same
texts from ../shared/data/domains; Winnow's ids are checked id-for-id against `tokenizers`.
"""

from __future__ import annotations

import os

os.environ["RAYON_NUM_THREADS"] = "1"  # before tokenizers is imported: its thread pool is sized once
os.environ["TOKENIZERS_PARALLELISM"] = "false"

import argparse  # noqa: E402
import gzip  # noqa: E402
import json  # noqa: E402
import shutil  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data" / "domains"
BATCH = 512


def load_texts(megabytes: float) -> list[dict]:
    """Round-robin over the domain files, so every domain is represented, until `megabytes` of UTF-8 text."""
    files = [gzip.open(p, "rt", encoding="utf-8") for p in sorted(SHARED.glob("*.jsonl.gz"))]
    docs, size, limit = [], 0, megabytes * 1e6
    while files and size < limit:
        for f in list(files):
            line = f.readline()
            if not line:
                files.remove(f)
                continue
            r = json.loads(line)
            docs.append({"id": r["id"], "domain": r["domain"], "text": r["text"]})
            size += len(r["text"].encode("utf-8"))
    return docs


def best_of(fn, repeats: int = 2) -> float:
    """Least CPU seconds of the process (all threads) over `repeats` runs: per-core cost, robust to a busy machine."""
    times = []
    for _ in range(repeats):
        t = time.process_time()
        fn()
        times.append(time.process_time() - t)
    return min(times)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--mb", type=float, default=20.0)
    ap.add_argument("--vocab", type=int, default=32000)
    ap.add_argument("--tokenizer", help="a tokenizer.json to use instead of training one")
    args = ap.parse_args()

    from tokenizers import Tokenizer as HFTokenizer

    from winnow.pipeline.tokens.tokenizer import Tokenizer, train_tokenizer
    from winnow.pipeline.tokens.pools import build_pools

    docs = load_texts(args.mb)
    texts = [d["text"] for d in docs]
    mb = sum(len(t.encode("utf-8")) for t in texts) / 1e6
    work = Path(tempfile.mkdtemp(prefix="winnow-bench-tok-"))
    tok_path = args.tokenizer
    if not tok_path:
        tok_path = f"/tmp/winnow-bench-bpe-{args.vocab}/tokenizer.json"
        if not os.path.isfile(tok_path):
            print(f"training a {args.vocab}-token byte-level BPE on 8 MB (cached in {os.path.dirname(tok_path)}) ...")
            sample, n = [], 0
            for t in texts:
                sample.append(t)
                n += len(t)
                if n > 8e6:
                    break
            train_tokenizer(sample, args.vocab, os.path.dirname(tok_path))
    jsonl = work / "docs.jsonl"
    with open(jsonl, "w", encoding="utf-8") as f:
        f.writelines(json.dumps(d) + "\n" for d in docs)
    print(f"{len(texts):,} documents, {mb:.1f} MB of text, tokenizer {tok_path}")

    # 1. The limit: raw tokenizers over the same texts, by its fastest path (encode_batch_fast skips the
    # offsets Winnow never uses); encode_batch, which computes them, is shown beside it.
    hf = HFTokenizer.from_file(tok_path)
    ref: list[list[int]] = []

    def raw(method: str = "encode_batch_fast"):
        ref.clear()
        encode = getattr(hf, method)
        for i in range(0, len(texts), BATCH):
            ref.extend(e.ids for e in encode(texts[i : i + BATCH], add_special_tokens=False))

    t_raw_slow = best_of(lambda: raw("encode_batch"))
    t_raw = best_of(raw)
    n_tokens = sum(len(r) for r in ref) + len(ref)  # + one EOS per document, as every tokenizer here writes

    # 2. Winnow: build_pools end to end (read JSONL, tokenize, write memmapped pools), fresh cache each time.
    tok = Tokenizer.load(tok_path)
    tok.num_threads = 1
    pools = {}

    def winnow():
        cache = work / "cache"
        shutil.rmtree(cache, ignore_errors=True)
        pools.clear()
        pools.update(build_pools(str(jsonl), tok, str(cache)))

    t_winnow = best_of(winnow)
    encoder = tok.encoder
    # id-for-id: every pool document equals tokenizers' ids plus EOS.
    by_domain: dict[str, list[list[int]]] = {}
    for d, ids in zip(docs, ref):
        by_domain.setdefault(d["domain"], []).append(ids)
    identical = all(
        np.array_equal(pools[dom].tokens, np.concatenate([np.array(ids + [tok.eos_id]) for ids in lists]))
        for dom, lists in by_domain.items()
    )
    t_encode = best_of(lambda: [tok.encode_batch(texts[i : i + BATCH]) for i in range(0, len(texts), BATCH)])

    # 3. datatrove's DocumentTokenizer on the same documents (local tokenizer file, no shuffle, no hub).
    from datatrove.data import Document
    from datatrove.pipeline.tokens.tokenizer import DocumentTokenizer

    def datatrove_run():
        out = work / "datatrove"
        shutil.rmtree(out, ignore_errors=True)
        step = DocumentTokenizer(
            output_folder=str(out),
            tokenizer_name_or_path=tok_path,
            eos_token=tok.eos_token,
            shuffle_documents=False,
            batch_size=BATCH,
            save_final_metadata=False,
        )
        step.run((Document(text=d["text"], id=d["id"]) for d in docs), rank=0, world_size=1)

    import logging

    logging.getLogger("datatrove").setLevel(logging.WARNING)
    try:
        from loguru import logger

        logger.remove()
    except ImportError:
        pass
    t_dt = best_of(datatrove_run)

    rate = {
        name: n_tokens / t
        for name, t in (
            ("tokenizers encode_batch_fast", t_raw),
            ("tokenizers encode_batch", t_raw_slow),
            ("winnow build_pools", t_winnow),
            ("winnow encode only", t_encode),
            ("datatrove DocumentTokenizer", t_dt),
        )
    }
    print(f"{n_tokens:,} tokens (EOS included); tokens per CPU-second (one core), best of 2")
    for name, r in rate.items():
        print(f"  {name:<28} {r / 1e3:8.0f}k tokens/s")
    print(f"winnow encoder: {encoder}; ids identical to tokenizers on all {len(texts):,} documents: {identical}")
    print(
        "ratio winnow build_pools / tokenizers encode_batch_fast: "
        f"{rate['winnow build_pools'] / rate['tokenizers encode_batch_fast']:.2f}×"
    )
    print(
        "ratio winnow build_pools / datatrove DocumentTokenizer: "
        f"{rate['winnow build_pools'] / rate['datatrove DocumentTokenizer']:.2f}×"
    )
    shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
