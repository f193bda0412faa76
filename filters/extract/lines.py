"""The boilerplate-line model behind `extractor: auto`: cheap features of each extracted line, a logistic regression.

Weights live in `line_model.json`, learned by `bench/train_line_model.py` from trafilatura's output on pages
that are not the evaluation pages (trafilatura's test cache): the model imitates trafilatura's line choices at
resiliparse's speed.
"""

from __future__ import annotations

import json
import math
import operator
import re
from dataclasses import dataclass
from pathlib import Path

MODEL_PATH = Path(__file__).with_name("line_model.json")
_LINK = re.compile(r"<a\b[^>]*>(.*?)</a>", re.DOTALL)
_TAG = re.compile(r"<[^>]*>")
_END_CHARS = frozenset(".!?。！？:;\"'»”)")
_DIGIT = re.compile(r"\d")
_UPPER = re.compile(r"[A-ZÀ-ÖØ-Þ]")
# Words that mark navigation, sharing, consent and legal lines in the languages common in Common Crawl.
# Matched against the lowercased line: re.IGNORECASE over this many alternatives is several times slower; same answers
# (bar exotic case pairs such as the long s).
_BOILER = re.compile(
    r"cookie|copyright|©|newsletter|subscri|abonn|log ?in|anmeld|regist|share|teilen|compart|partag|follow|folg"
    r"|privacy|datenschutz|impressum|rights reserved|tags?\b|related|mehr zum|lesen sie|read more|weiterlesen"
    r"|advert|werbung|anzeige|comment|kommentar|foto:|photo:|source:|quelle:|menu|men[üu]\b|contact|kontakt",
)
FEATURES = (
    "bias", "log_chars", "log_words", "link_ratio", "heading", "paragraph", "list_item", "ends_sentence",
    "digit_ratio", "upper_ratio", "position", "position_sq", "prev_log_chars", "next_log_chars",
    "prev_link_ratio", "next_link_ratio", "boiler_word", "separators", "short_run", "long_doc_share",
    "seen_before", "edge", "colon_head", "link_run",
)


def _line_stats(line: str) -> tuple[str, float, bool, bool]:
    text = _TAG.sub("", line).strip()
    link_chars = sum(len(_TAG.sub("", m)) for m in _LINK.findall(line))
    ratio = min(1.0, link_chars / max(1, len(text)))
    return text, ratio, line.lstrip().startswith(("<h1", "<h2", "<h3", "<h4", "<h5", "<h6")), line.lstrip().startswith("<p")


def features(lines: list[str]) -> list[list[float]]:
    """One feature vector per non-empty line of resiliparse's minimal-HTML output."""
    stats = [_line_stats(line) for line in lines]
    n = len(stats)
    lengths = [math.log1p(len(t)) for t, _, _, _ in stats]
    total = sum(len(t) for t, _, _, _ in stats) or 1
    # per line, for the 5-line windows below: summed over list slices (C speed, same order, same floats)
    short = [len(t) < 40 for t, _, _, _ in stats]
    ratios = [r for _, r, _, _ in stats]
    in_list, out, seen = False, [], set()
    for i, (line, (text, ratio, heading, para)) in enumerate(zip(lines, stats)):
        stripped = line.strip()
        if stripped.startswith(("<ul", "<ol")):
            in_list = True
        elif stripped.startswith(("</ul", "</ol")):
            in_list = False
        chars = max(1, len(text))
        pos = i / max(1, n - 1)
        lo, hi = max(0, i - 2), min(n, i + 3)
        out.append([
            1.0,
            lengths[i],
            math.log1p(len(text.split())),
            ratio,
            float(heading),
            float(para),
            float(in_list or stripped.startswith("<li")),
            float(text[-1:] in _END_CHARS),
            len(_DIGIT.findall(text, 0, 400)) / min(chars, 400),
            len(_UPPER.findall(text, 0, 400)) / min(chars, 400),
            pos,
            pos * pos,
            lengths[i - 1] if i else 0.0,
            lengths[i + 1] if i + 1 < n else 0.0,
            stats[i - 1][1] if i else 0.0,
            stats[i + 1][1] if i + 1 < n else 0.0,
            float(bool(_BOILER.search(text.lower()))) if len(text) < 200 else 0.0,
            float(text.count("|") + text.count("·") + text.count("•") + text.count("»")),
            sum(short[lo:hi]) / 5,
            len(text) / total,
            float(text in seen),
            float(i < 2 or i >= n - 2),
            float(":" in text[:25]),
            sum(ratios[lo:hi]) / 5,
        ])
        seen.add(text)
    return out


@dataclass
class LineModel:
    weights: list[float]
    threshold: float

    @classmethod
    def load(cls, path: Path = MODEL_PATH) -> LineModel:
        d = json.loads(path.read_text())
        if tuple(d["features"]) != FEATURES:
            raise ValueError(f"{path}: trained on other features; retrain with bench/train_line_model.py")
        return cls(d["weights"], d["threshold"])

    def scores(self, lines: list[str]) -> list[float]:
        out = []
        for x in features(lines):
            z = sum(map(operator.mul, self.weights, x))  # the products summed left to right, as a loop would
            out.append(1.0 / (1.0 + math.exp(-max(-30.0, min(30.0, z)))))
        return out

    def keep(self, lines: list[str]) -> list[bool]:
        return [s >= self.threshold for s in self.scores(lines)]
