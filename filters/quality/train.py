"""Train a fastText quality classifier from positive and negative documents, evaluate it, write model and card.

Reading goes through Winnow's own readers, so anything `winnow run` reads (JSONL, Parquet, a run's
`documents/`) can serve as reference text. Sampling and the held-out split are functions of
`(seed, document id)`, so the same inputs always give the same model, however the files are ordered.
"""

from __future__ import annotations

import dataclasses
import hashlib
import heapq
import json
import logging
import os
import re
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, NamedTuple

from winnow.filters.quality import model as qm
from winnow.pipeline import schema, storage

log = logging.getLogger("winnow.quality")
NAME_RE = re.compile(r"^[a-z][a-z0-9_]*_v[0-9]+$")


@dataclass
class TrainConfig:
    """Options of `winnow train-classifier`; a YAML file given with --config may set any of them."""

    name: str = "fasttext_quality_v1"  # scorer name, carries a version: the column becomes score_<name>
    max_docs_per_class: int = 20_000  # balanced: each class gets min(#pos, #neg, this) documents
    test_fraction: float = 0.2  # held out from training, for the printed metrics
    seed: int = 0
    max_chars: int = qm.DEFAULT_MAX_CHARS  # documents are truncated like this at scoring time too
    min_chars: int = 1  # shorter (normalised, stripped) texts are skipped, they carry no evidence
    # fastText's parameters. Small and fast by default: a quality signal, not a language model.
    dim: int = 32
    epoch: int = 10
    lr: float = 1.0
    word_ngrams: int = 2  # bigrams, as DCLM's classifier
    min_count: int = 1
    bucket: int = 200_000  # hash buckets for n-grams; the model's size is about (vocab + bucket) × dim × 4 bytes
    threads: int = 1  # one thread keeps training bit-for-bit reproducible

    def __post_init__(self) -> None:
        if not NAME_RE.match(self.name):
            raise ValueError(f"name {self.name!r}: use snake_case ending in a version, e.g. fasttext_quality_v1")
        if not 0.0 < self.test_fraction < 1.0:
            raise ValueError(f"test_fraction {self.test_fraction}: must be between 0 and 1")
        for key in ("max_docs_per_class", "max_chars", "dim", "epoch", "bucket", "threads", "word_ngrams"):
            if getattr(self, key) < 1:
                raise ValueError(f"{key} must be at least 1 (got {getattr(self, key)})")

    @classmethod
    def from_dict(cls, options: dict[str, Any]) -> TrainConfig:
        """Options from a YAML mapping; an unknown key is refused with the allowed ones."""
        allowed = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(options) - allowed)
        if unknown:
            raise ValueError(f"unknown training option {unknown[0]!r}; allowed: {', '.join(sorted(allowed))}")
        return cls(**options)


@dataclass
class ClassSample:
    """Documents of one class as read: the kept sample (bounded) and what was seen on the way."""

    sources: list[str]
    files: list[str] = field(default_factory=list)
    read: int = 0
    skipped_short: int = 0
    failed: int = 0
    sample: list[tuple[str, str]] = field(default_factory=list)  # (sort key, normalised text)


def _key(seed: int, salt: str, doc_id: str) -> str:
    return hashlib.blake2b(f"{seed}:{salt}:{doc_id}".encode(), digest_size=8).hexdigest()


def input_files(paths: list[str]) -> list[str]:
    """Files behind the given paths. A run's output folder means its documents/; inside folders, files of no
    readable format (stats.json, markers) are skipped, while a named file of no readable format is an error."""
    from winnow.pipeline.readers import detect_format

    files: list[str] = []
    for path in paths:
        if not storage.is_remote(path) and os.path.isdir(os.path.join(path, "documents")):
            path = os.path.join(path, "documents")
        is_folder = not storage.is_remote(path) and os.path.isdir(path)
        for f in storage.expand([path]):
            try:
                detect_format(f)
            except ValueError as exc:
                if is_folder or any(ch in path for ch in "*?["):
                    continue
                raise storage.InputError(str(exc)) from None
            files.append(f)
        if not files:
            raise storage.InputError(f"{path}: no readable documents (JSONL, Parquet, ...) found")
    return files


def read_class(paths: list[str], config: TrainConfig, salt: str) -> ClassSample:
    """Stream every document of one class, keeping the `max_docs_per_class` with the smallest hash keys."""
    from winnow.pipeline.readers import detect_format
    from winnow.pipeline.registry import READERS

    out = ClassSample(sources=list(paths), files=input_files(paths))
    heap: list[tuple[str, str]] = []  # (inverted key, text): the root is the largest key kept
    for path in out.files:
        reader_cls = READERS[detect_format(path)]
        reader = reader_cls(reader_cls.Params(batch_size=1000))
        for outcome in reader.read(path):
            if outcome.failed is not None:
                out.failed += outcome.failed.num_rows
            kept = outcome.kept
            for doc_id, text in zip(kept[schema.ID].to_pylist(), kept[schema.TEXT].to_pylist()):
                out.read += 1
                norm = qm.normalise(text or "", config.max_chars).strip()
                if len(norm) < config.min_chars:
                    out.skipped_short += 1
                    continue
                inv = _invert(_key(config.seed, salt, doc_id or str(out.read)))
                if len(heap) < config.max_docs_per_class:
                    heapq.heappush(heap, (inv, norm))
                elif inv > heap[0][0]:
                    heapq.heapreplace(heap, (inv, norm))
    out.sample = sorted((_invert(inv), text) for inv, text in heap)
    return out


def _invert(hex_key: str) -> str:
    # heapq is a min-heap; inverting hex digits turns "keep the smallest keys" into "pop the largest".
    return hex_key.translate(str.maketrans("0123456789abcdef", "fedcba9876543210"))


def _split(sample: list[tuple[str, str]], n: int, test_fraction: float, seed: int) -> tuple[list[str], list[str]]:
    chosen = sample[:n]  # already sorted by key: a deterministic, order-independent subsample
    by_split_key = sorted(chosen, key=lambda kt: _key(seed, "split", kt[0]))
    n_test = max(1, round(n * test_fraction)) if n > 1 else 0
    return [t for _, t in by_split_key[n_test:]], [t for _, t in by_split_key[:n_test]]


_TRAIN_SCRIPT = """
import json, sys
import fasttext
args = json.loads(sys.argv[1])
output = args.pop("output")
fasttext.train_supervised(input=args.pop("input"), **args).save_model(output)
"""


def _train_fasttext(train_file: str, model_path: str, ft_args: dict[str, Any]) -> None:
    """fastText's trainer, in a fresh interpreter.

    Training a second model in one process sometimes fails with "Encountered NaN" (state left behind by
    the first, in the fasttext-numpy2 build); a fresh process trains bit-for-bit reproducibly.
    """
    import subprocess
    import sys

    payload = json.dumps({"input": train_file, "output": model_path, **ft_args})
    cmd = [sys.executable, "-c", _TRAIN_SCRIPT, payload]
    proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if proc.returncode != 0 or not os.path.isfile(model_path):
        tail = (proc.stderr or proc.stdout or "").strip().splitlines()[-3:]
        raise RuntimeError(f"fastText training on {train_file} failed (exit {proc.returncode}): {' | '.join(tail)}")


def evaluate(
    model: Any, positives: list[str], negatives: list[str], max_chars: int, threshold: float = 0.5
) -> dict[str, Any]:
    """Precision, recall, F1, accuracy at `threshold` and ROC-AUC on held-out normalised texts."""
    from sklearn.metrics import accuracy_score, precision_recall_fscore_support, roc_auc_score

    label = qm.LABEL_PREFIX + qm.POSITIVE
    texts = positives + negatives
    y_true = [1] * len(positives) + [0] * len(negatives)
    scores = [qm.positive_probability(model, t, label, max_chars) or 0.0 for t in texts]
    y_pred = [int(s >= threshold) for s in scores]
    precision, recall, f1, _ = precision_recall_fscore_support(
        y_true, y_pred, average="binary", zero_division=0
    )
    auc = roc_auc_score(y_true, scores) if positives and negatives else None
    return {
        "threshold": threshold,
        "precision": round(float(precision), 4),
        "recall": round(float(recall), 4),
        "f1": round(float(f1), 4),
        "accuracy": round(float(accuracy_score(y_true, y_pred)), 4) if texts else None,
        "roc_auc": round(float(auc), 4) if auc is not None else None,
        "test_documents": len(texts),
    }


class _ClassSplit(NamedTuple):
    """One class as used: what was read, the texts trained on and the texts held out."""

    name: str
    read: ClassSample
    train: list[str]
    test: list[str]


def train_classifier(
    positive_paths: list[str],
    negative_paths: list[str],
    output_dir: str,
    config: TrainConfig | None = None,
    log_fn: Callable[[str], None] | None = None,
    **options: Any,
) -> dict[str, Any]:
    """Train, evaluate and save a classifier; returns the card also written to `output_dir/card.json`.

    `options` override single fields of `config` (e.g. `epoch=3`). Raises InputError for unreadable
    inputs and ValueError when a class has no usable documents.
    """
    config = dataclasses.replace(config or TrainConfig(), **options) if options else (config or TrainConfig())
    say = log_fn or log.info
    started = time.time()
    if not positive_paths or not negative_paths:
        raise ValueError("training needs at least one positive and one negative input")
    pos = read_class(positive_paths, config, qm.POSITIVE)
    neg = read_class(negative_paths, config, qm.NEGATIVE)
    for cls_name, cls in ((qm.POSITIVE, pos), (qm.NEGATIVE, neg)):
        _check_class(cls_name, cls, say)
    n = min(len(pos.sample), len(neg.sample))  # balanced: the larger class is subsampled
    pos_used, neg_used = (_ClassSplit(name, cls, *_split(cls.sample, n, config.test_fraction, config.seed))
                          for name, cls in ((qm.POSITIVE, pos), (qm.NEGATIVE, neg)))
    say(f"balanced: {n} documents per class; train {len(pos_used.train)}+{len(neg_used.train)}, "
        f"held out {len(pos_used.test)}+{len(neg_used.test)}")

    labelled = _labelled(pos_used.train, neg_used.train, config.seed)
    model_path, train_seconds = _train_into(output_dir, labelled, config)
    metrics = evaluate(qm.load_fasttext(model_path), pos_used.test, neg_used.test, config.max_chars)
    say(f"held-out: precision {metrics['precision']:.3f}  recall {metrics['recall']:.3f}  "
        f"f1 {metrics['f1']:.3f}  ROC-AUC {metrics['roc_auc']}  ({metrics['test_documents']} documents)")
    card = _card(config, model_path, n, (pos_used, neg_used), metrics)
    card["train_seconds"] = round(train_seconds, 3)
    card["total_seconds"] = round(time.time() - started, 3)
    storage.write_atomic(os.path.join(output_dir, qm.CARD_FILE), json.dumps(card, indent=1).encode())
    return card


def _check_class(cls_name: str, cls: ClassSample, say: Callable[[str], None]) -> None:
    say(f"{cls_name}: {cls.read} documents read from {len(cls.files)} files "
        f"({cls.skipped_short} empty or short, {cls.failed} unreadable)")
    if len(cls.sample) < 2:
        raise ValueError(f"{cls_name} inputs {cls.sources} hold {len(cls.sample)} usable documents; need at least 2")


def _labelled(pos_train: list[str], neg_train: list[str], seed: int) -> list[tuple[str, str]]:
    labelled = [(qm.POSITIVE, t) for t in pos_train] + [(qm.NEGATIVE, t) for t in neg_train]
    # Interleave the classes in a seeded order: fastText's learning rate decays along the file.
    labelled.sort(key=lambda lt: _key(seed, "order", lt[0] + lt[1][:200]))
    return labelled


def _train_into(output_dir: str, labelled: list[tuple[str, str]], config: TrainConfig) -> tuple[str, float]:
    """Train in a scratch folder inside `output_dir`, then move the model in; its path and the training seconds."""
    os.makedirs(output_dir, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="winnow-ft-", dir=output_dir) as tmp:
        train_file = os.path.join(tmp, "train.txt")
        with open(train_file, "w", encoding="utf-8") as f:
            f.writelines(f"{qm.LABEL_PREFIX}{lab} {text}\n" for lab, text in labelled)
        t0 = time.time()
        tmp_model = os.path.join(tmp, qm.MODEL_FILE)
        _train_fasttext(train_file, tmp_model, {
            "dim": config.dim, "epoch": config.epoch, "lr": config.lr, "wordNgrams": config.word_ngrams,
            "minCount": config.min_count, "bucket": config.bucket, "thread": config.threads, "seed": config.seed,
            "loss": "softmax", "verbose": 0,
        })
        train_seconds = time.time() - t0
        model_path = os.path.join(output_dir, qm.MODEL_FILE)
        card_path = os.path.join(output_dir, qm.CARD_FILE)
        if os.path.exists(card_path):  # an old card must never describe the new model
            os.remove(card_path)
        os.replace(tmp_model, model_path)
    return model_path, train_seconds


def _card(
    config: TrainConfig, model_path: str, n: int, classes: tuple[_ClassSplit, ...], metrics: dict[str, Any]
) -> dict[str, Any]:
    """The model card without its timings, which the caller adds last."""
    return {
        "card_version": qm.CARD_VERSION,
        "name": config.name,
        "version": config.name.rsplit("_", 1)[1],
        "column": f"score_{config.name}",
        "model_file": qm.MODEL_FILE,
        "model_sha256": qm.file_sha256(model_path),
        "positive_label": qm.LABEL_PREFIX + qm.POSITIVE,
        "normalisation": {"max_chars": config.max_chars, "lowercase": True, "newlines": "space"},
        "sources": {c.name: c.read.sources for c in classes},
        "counts": {
            c.name: {"files": len(c.read.files), "read": c.read.read, "skipped_short": c.read.skipped_short,
                     "unreadable": c.read.failed, "used": n, "train": len(c.train), "test": len(c.test)}
            for c in classes
        },
        "metrics": metrics,
        "parameters": dataclasses.asdict(config),
    }
