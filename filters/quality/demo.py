"""The demo's quality classifier: trained on the demo corpus itself (encyclopedia and reports against web pages)."""

from __future__ import annotations

import gzip
import json
import os
import tempfile

from winnow.filters.quality import model as qm
from winnow.filters.quality.train import TrainConfig, train_classifier
from winnow.pipeline.registry import register_param

DEMO_MODEL_NAME = "fasttext_quality_v1"
# Tiny on purpose: a few hundred documents, trained in about a second, a model of a few MB.
DEMO_TRAIN = TrainConfig(name=DEMO_MODEL_NAME, dim=16, bucket=50_000, epoch=10, lr=1.0, test_fraction=0.2)
# Bumped when the training recipe changes, so a classifier cached by an older recipe is not reused.
DEMO_RECIPE = "r2"
TEMPLATE_LINE_DOCS = 3  # a line found in more documents than this is site template (menus, footers)


def _records(path: str) -> list[dict]:
    with gzip.open(path, "rt", encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]


def strip_template_lines(texts: list[str]) -> list[str]:
    """Drop lines repeated across documents (navigation bars, footers) before training.

    The pipeline scores extracted main content, where such lines are gone; a classifier trained with them
    learns the encyclopedia's menu bar as its strongest "quality" signal and then scores every extracted
    page near zero.
    """
    from collections import Counter

    docs_with = Counter(line for t in texts for line in {x.strip() for x in t.splitlines() if x.strip()})
    return ["\n".join(x for x in t.splitlines() if docs_with[x.strip()] <= TEMPLATE_LINE_DOCS) for t in texts]


def ensure_demo_classifier(demo_dir: str | None = None, output_dir: str | None = None) -> str:
    """The demo classifier's directory (model.bin + card.json), trained on first use and cached beside the corpus.

    Positives: the demo's encyclopedia pages (domain `wiki`) and its reports (domain `academic`);
    negatives: its other web pages (blogs, news, keyword spam, domain `web`).
    """
    if demo_dir is None:
        from winnow.pipeline.demo import ensure_demo_corpus

        demo_dir = ensure_demo_corpus()
    out = output_dir or os.path.join(demo_dir, "models", f"{DEMO_MODEL_NAME}-{DEMO_RECIPE}")
    if os.path.isfile(os.path.join(out, qm.CARD_FILE)) and os.path.isfile(os.path.join(out, qm.MODEL_FILE)):
        return out
    pages = _records(os.path.join(demo_dir, "jsonl", "web.jsonl.gz"))
    reports = _records(os.path.join(demo_dir, "jsonl", "reports.jsonl.gz"))
    positives = [r for r in pages if r.get("domain") == "wiki"] + reports
    negatives = [r for r in pages if r.get("domain") == "web"]
    texts = strip_template_lines([r["text"] for r in positives + negatives])
    positives = [{**r, "text": t} for r, t in zip(positives, texts[: len(positives)])]
    negatives = [{**r, "text": t} for r, t in zip(negatives, texts[len(positives) :])]
    os.makedirs(os.path.dirname(out) or ".", exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="winnow-demo-quality-", dir=os.path.dirname(out) or ".") as tmp:
        paths = {}
        for label, rows in (("positive", positives), ("negative", negatives)):
            paths[label] = os.path.join(tmp, f"{label}.jsonl")
            with open(paths[label], "w", encoding="utf-8") as f:
                f.writelines(json.dumps({"id": r["id"], "text": r["text"]}, ensure_ascii=False) + "\n" for r in rows)
        card = train_classifier([paths["positive"]], [paths["negative"]], out, DEMO_TRAIN)
    # The card names where the training data came from, not the temporary files it was staged in.
    card["sources"] = {
        "positive": [f"{demo_dir}/jsonl/web.jsonl.gz (domain wiki)", f"{demo_dir}/jsonl/reports.jsonl.gz"],
        "negative": [f"{demo_dir}/jsonl/web.jsonl.gz (domain web)"],
    }
    from winnow.pipeline import storage

    storage.write_atomic(os.path.join(out, qm.CARD_FILE), json.dumps(card, indent=1).encode())
    return out


@register_param("demo_quality_model")
def demo_quality_model() -> str:
    """`${demo_quality_model}` in a config: the demo classifier, trained on first use."""
    return ensure_demo_classifier()
