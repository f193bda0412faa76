"""Evaluation slices as fixed token windows: every proxy scores exactly the same windows, so scores pair up.

A slice is a list of items; an item has one or more spans (a held-out document; or one answer option given
its question); a span is the target text after a context, cut into windows of seq_len + 1 tokens whose mask
marks the target positions. Bits per byte divide by the target text's UTF-8 bytes, so slices tokenized into
different lengths still compare, and held-out documents are scored from their start (after an EOS).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

import numpy as np
from winnow.mixing.ablate.benchmarks import Benchmark
from winnow.mixing.ablate.pools import encode
from winnow.pipeline.tokens.tokenizer import Tokenizer

CHARS_PER_WINDOW = 16  # a held-out document is cut to seq_len * 16 characters (~5 windows): many short items
# score with less variance than a few long ones


@dataclass
class Slice:
    name: str  # "heldout/wiki", "ref/NAME", "bench/NAME"
    kind: str  # "bpb" (documents), "mc" (multiple choice) or "cloze" (one answer per question)
    label: str  # what the number means, e.g. "fit to held-out wiki of curated"
    source: str
    windows: np.ndarray  # (W, T + 1) token ids
    mask: np.ndarray  # (W, T) bool: which predicted positions are scored
    span: np.ndarray  # (W,) the span each window belongs to
    span_item: np.ndarray  # (S,) the item of each span
    span_choice: np.ndarray  # (S,) the option of each span (0 for documents and cloze)
    span_bytes: np.ndarray  # (S,) UTF-8 bytes of each span's target text
    gold: np.ndarray  # (I,) the correct option per item
    fingerprint: str = ""

    @property
    def n_items(self) -> int:
        return len(self.gold)

    def summary(self) -> dict:
        return {"name": self.name, "kind": self.kind, "label": self.label, "source": self.source,
                "items": self.n_items, "windows": len(self.windows), "scored_tokens": int(self.mask.sum()),
                "bytes": int(self.span_bytes.sum()), "fingerprint": self.fingerprint}


def span_windows(seq: list[int], start: int, T: int) -> list[tuple[list[int], list[bool]]]:
    """Windows of T + 1 tokens whose masks cover seq[start:] exactly once, each with as much context as fits."""
    end = len(seq)
    if end - start <= T:  # one window, ending at the span's end so the context before it is as long as possible
        firsts = [max(0, end - T - 1)]
    else:
        firsts = list(range(start - 1, end - 1, T))
    out = []
    for f in firsts:
        w = seq[f : f + T + 1]
        mask = [start <= f + 1 + j < end for j in range(T)]
        out.append((w + [0] * (T + 1 - len(w)), mask))
    return out


def _build(name: str, kind: str, label: str, source: str, spans: list[tuple[int, int, list[int], int, int]],
           gold: list[int], T: int, tok: Tokenizer) -> Slice:
    """spans: (item, option, token sequence with a leading EOS, first target position, target bytes)."""
    windows, masks, owner = [], [], []
    for s, (_, _, seq, start, _) in enumerate(spans):
        for w, m in span_windows(seq, start, T):
            windows.append(w)
            masks.append(m)
            owner.append(s)
    win = np.asarray(windows, dtype=np.int64).reshape(-1, T + 1)
    mask = np.asarray(masks, dtype=bool).reshape(-1, T)
    h = hashlib.sha256(f"{tok.fingerprint}|{kind}".encode())
    h.update(win.tobytes())
    h.update(mask.tobytes())
    return Slice(name, kind, label, source, win, mask, np.asarray(owner, dtype=np.int64),
                 np.asarray([s[0] for s in spans], dtype=np.int64), np.asarray([s[1] for s in spans], dtype=np.int64),
                 np.asarray([s[4] for s in spans], dtype=np.float64), np.asarray(gold, dtype=np.int64),
                 h.hexdigest()[:16])


def document_slice(name: str, label: str, source: str, texts: list[str], tok: Tokenizer, T: int,
                   max_items: int, max_tokens: int) -> Slice | None:
    """Documents as items, each cut to T * CHARS_PER_WINDOW characters; None when they hold no scorable token."""
    texts = [t[: T * CHARS_PER_WINDOW] for t in texts if t.strip()][:max_items]
    spans, used = [], 0
    for text, ids in zip(texts, encode(tok, texts)):
        if not ids or used >= max_tokens:
            continue
        spans.append((len(spans), 0, [tok.eos_id, *ids], 1, len(text.encode("utf-8"))))
        used += len(ids)
    if not spans:
        return None
    return _build(name, "bpb", label, source, spans, [0] * len(spans), T, tok)


def benchmark_slice(b: Benchmark, tok: Tokenizer, T: int) -> Slice:
    contexts = [c for item in b.items for c, _ in item.options]
    conts = [x for item in b.items for _, x in item.options]
    ctx_ids, cont_ids = encode(tok, contexts), encode(tok, conts)
    spans, k = [], 0
    for i, item in enumerate(b.items):
        for j in range(len(item.options)):
            # Context and answer are encoded apart, so every option's tokens start at the same place.
            seq = [tok.eos_id, *ctx_ids[k], *cont_ids[k]]
            spans.append((i, j, seq, 1 + len(ctx_ids[k]), max(1, len(conts[k].encode("utf-8")))))
            k += 1
    kind = "mc" if b.multiple_choice else "cloze"
    what = f"multiple choice, {b.format} format" if kind == "mc" else "cloze bits per byte of its one answer"
    return _build(f"bench/{b.name}", kind, f"benchmark {b.name} ({what})", b.path, spans,
                  [item.gold for item in b.items], T, tok)
