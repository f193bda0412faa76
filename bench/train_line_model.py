"""Learn the boilerplate-line model of `extractor: auto` by imitating trafilatura on pages outside the evaluation set.

Labels: a line of resiliparse's main-content output is content when trafilatura (through datatrove) keeps it.
Pages: trafilatura's test cache (../shared/data/web/trafilatura_tests_cache.tar.gz), the licence sample pages and
the HTML responses of the small WARC samples; never web_pages.warc.gz, which the benchmark scores against its ground truth.

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


def main() -> None:
    X, y = [], []
    for html in pages():
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
    X, y = np.array(X), np.array(y)
    clf = LogisticRegression(C=1.0, max_iter=2000, fit_intercept=False, class_weight="balanced").fit(X, y)
    acc = (clf.predict(X) == y).mean()
    threshold = float(sys.argv[1]) if len(sys.argv) > 1 else 0.5
    MODEL_PATH.write_text(json.dumps(
        {"features": FEATURES, "weights": [round(float(w), 5) for w in clf.coef_[0]], "threshold": threshold,
         "trained_on": f"{len(set(map(tuple, X)))} lines, trafilatura labels; train accuracy {acc:.3f}"}, indent=1))
    print(f"{len(y)} lines, {y.mean():.2f} content; train accuracy {acc:.3f}; wrote {MODEL_PATH}")


if __name__ == "__main__":
    main()
