"""Learn the boilerplate-line model of `extractor: auto` by imitating trafilatura on pages outside the evaluation set.

Labels: a line of resiliparse's main-content output is content when trafilatura (through datatrove) keeps it.
Pages: trafilatura's test cache (../shared/data/web/trafilatura_tests_cache.tar.gz), the licence sample pages and
the HTML responses of the small WARC samples; never web_pages.warc.gz, which the benchmark scores against its ground truth.

The threshold is chosen on the same training pages, never on the benchmark's: each page's lines are scored by a
model fitted without that page's fold (5 folds by page), and the threshold that best balances content kept and
boilerplate dropped (the mean of the two recalls, the two figures the benchmark reports) wins.

    python bench/train_line_model.py  # writes filters/extract/line_model.json
"""

from __future__ import annotations

import json
import re
import sys
import tarfile
from pathlib import Path

import numpy as np
from resiliparse.extract.html2text import extract_plain_text
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import GroupKFold

from winnow.filters.extract.extractors import decode_html, trafilatura_text
from winnow.filters.extract.lines import FEATURES, MODEL_PATH, features

DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
_WS = re.compile(r"\s+")
_TAG = re.compile(r"<[^>]*>")


def norm(s: str) -> str:
    return _WS.sub(" ", s).strip().lower()


def pages() -> list[str]:
    out = []
    with tarfile.open(DATA / "web" / "trafilatura_tests_cache.tar.gz") as tar:
        for m in tar.getmembers():
            if m.isfile() and m.name.endswith(".html"):
                raw = tar.extractfile(m).read()
                out.append(decode_html(raw, None, True)[0])
    for page in sorted((DATA / "license" / "pages").rglob("*.htm*")):
        out.append(decode_html(page.read_bytes(), None, True)[0])
    from winnow.pipeline.readers.warc import WarcReader

    for name in ("resiliparse/warcfile.warc.gz", "dolma/sample-0001.warc.gz", "whirlwind/whirlwind.warc.gz"):
        for o in WarcReader().read(str(DATA / "cc" / name)):
            for raw in o.kept["raw"].to_pylist():
                out.append(decode_html(raw, None, True)[0])
    return out


def _fit(X: np.ndarray, y: np.ndarray) -> LogisticRegression:
    return LogisticRegression(C=1.0, max_iter=2000, fit_intercept=False, class_weight="balanced").fit(X, y)


def choose_threshold(X: np.ndarray, y: np.ndarray, page: np.ndarray) -> tuple[float, dict[float, tuple]]:
    """The threshold with the best mean of content recall and boilerplate recall on out-of-fold scores."""
    scores = np.empty(len(y))
    for train, held in GroupKFold(n_splits=5).split(X, y, page):
        scores[held] = _fit(X[train], y[train]).predict_proba(X[held])[:, 1]
    table = {}
    for t in np.round(np.arange(0.30, 0.71, 0.05), 2):
        keep = scores >= t
        table[float(t)] = (keep[y == 1].mean(), (~keep)[y == 0].mean())
    best = max(table, key=lambda t: sum(table[t]))
    return best, table


def main() -> None:
    X, y, page = [], [], []
    for i, html in enumerate(pages()):
        marked = extract_plain_text(html, main_content=True, comments=False, preserve_formatting="minimal_html", links=True)
        lines = [ln for ln in marked.split("\n") if _TAG.sub("", ln).strip()]
        if not lines:
            continue
        gold = trafilatura_text(html)
        gold_lines = {norm(g) for g in gold.split("\n")}
        gold_all = norm(gold)
        for line, x in zip(lines, features(lines)):
            t = norm(_TAG.sub("", line))
            X.append(x)
            y.append(int(t in gold_lines or (len(t) >= 40 and t in gold_all)))
            page.append(i)
    X, y, page = np.array(X), np.array(y), np.array(page)
    clf = _fit(X, y)
    acc = (clf.predict(X) == y).mean()
    if len(sys.argv) > 1:
        threshold = float(sys.argv[1])
    else:
        threshold, table = choose_threshold(X, y, page)
        for t, (kept, dropped) in table.items():
            print(f"  threshold {t:.2f}: content kept {kept:.3f}, boilerplate dropped {dropped:.3f}")
        print(f"chosen on the training pages (5 folds by page): {threshold:.2f}")
    MODEL_PATH.write_text(json.dumps(
        {"features": FEATURES, "weights": [round(float(w), 5) for w in clf.coef_[0]], "threshold": threshold,
         "trained_on": f"{len(set(map(tuple, X)))} lines, trafilatura labels; train accuracy {acc:.3f}",
         "threshold_chosen_on": "the training pages, out of fold (5 folds by page), best mean of both recalls"}, indent=1))
    print(f"{len(y)} lines, {y.mean():.2f} content; train accuracy {acc:.3f}; wrote {MODEL_PATH}")


if __name__ == "__main__":
    main()
