"""Benchmark files for cloze scoring: multiple-choice (query/choices/gold, Winograd-style context_options, MMLU CSV)
or cloze-only (a context and its one answer). The format is read from the fields; anything else is refused.

An item is a list of (context, continuation) options and the index of the correct one. Scoring compares the
proxy's bits per byte of each continuation given its context: the correct answer's (lower is better) and the
margin to the most likely wrong one (higher is better). Likelihoods rank data better than accuracy at proxy
scale (DataDecide), so accuracy is reported but never decides.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass

from winnow.mixing.ablate.config import AblateInputError, BenchmarkConfig
from winnow.pipeline import storage
from winnow.pipeline.tokens.documents import JSONLineError, json_lines

# (context field, answer field) of the cloze-only formats, in the order they are tried.
CLOZE_FIELDS = (("context", "continuation"), ("question", "answer"), ("context", "answer"),
                ("prompt", "canonical_solution"))
FORMATS = ("multiple choice {query, choices, gold}", "Winograd {context_options, continuation, gold}",
           "MMLU CSV (question, choices..., answer)", "cloze " + ", ".join(f"{{{c}, {a}}}" for c, a in CLOZE_FIELDS))


@dataclass
class Item:
    options: list[tuple[str, str]]  # (context, continuation)
    gold: int


@dataclass
class Benchmark:
    name: str
    path: str
    format: str  # "mc", "winograd", "mmlu-csv" or "cloze"
    items: list[Item]

    @property
    def multiple_choice(self) -> bool:
        return self.format != "cloze"

    def texts(self) -> list[str]:
        """Each item's correct text: what no variant may train on."""
        return [c + x for c, x in (i.options[i.gold] for i in self.items)]


def _unknown(path: str, what: str) -> AblateInputError:
    return AblateInputError(f"benchmark {path}: unknown format ({what}); accepted formats: {'; '.join(FORMATS)}")


def _gold(value, n: int, where: str) -> int:
    if isinstance(value, str) and len(value.strip()) == 1 and value.strip().upper() in "ABCDEFGHIJ":
        value = "ABCDEFGHIJ".index(value.strip().upper())
    try:
        g = int(value)
    except (TypeError, ValueError):
        raise AblateInputError(f"{where}: gold/answer {value!r} is not an option index or letter") from None
    if not 0 <= g < n:
        raise AblateInputError(f"{where}: gold/answer {g} is out of range for {n} options")
    return g


def _json_item(rec: dict, shape: str, delim: str, where: str) -> Item:
    if shape == "mc":
        choices = rec["choices"]
        if not isinstance(choices, list) or len(choices) < 2:
            raise AblateInputError(f"{where}: choices must be a list of at least two answers")
        return Item([(str(rec["query"]), delim + str(c)) for c in choices], _gold(rec["gold"], len(choices), where))
    if shape == "winograd":
        ctxs = rec["context_options"]
        if not isinstance(ctxs, list) or len(ctxs) < 2:
            raise AblateInputError(f"{where}: context_options must be a list of at least two contexts")
        return Item([(str(c), delim + str(rec["continuation"])) for c in ctxs], _gold(rec["gold"], len(ctxs), where))
    ctx, ans = shape.split("|")
    return Item([(str(rec[ctx]), delim + str(rec[ans]))], 0)


def _shape(rec: dict, path: str) -> str:
    if not isinstance(rec, dict):
        raise _unknown(path, "a record is not a JSON object")
    if {"query", "choices", "gold"} <= set(rec):
        return "mc"
    if {"context_options", "continuation", "gold"} <= set(rec):
        return "winograd"
    for ctx, ans in CLOZE_FIELDS:
        if ctx in rec and ans in rec:
            return f"{ctx}|{ans}"
    return ""


def _read_jsonl(path: str, delim: str, limit: int) -> tuple[str, list[Item]]:
    items, shape = [], None
    try:
        for lineno, rec in json_lines(path):
            this = _shape(rec, path)
            if not this:
                raise _unknown(path, f"line {lineno} has fields {sorted(rec)}")
            if shape is None:
                shape = this
            elif this != shape:
                raise AblateInputError(f"{path}:{lineno}: fields {sorted(rec)} differ from the first record's format")
            if len(items) < limit:
                items.append(_json_item(rec, shape, delim, f"{path}:{lineno}"))
    except JSONLineError as exc:
        raise _unknown(path, f"line {exc.lineno} is not JSON") from None
    return ("cloze" if shape and "|" in shape else shape or ""), items


def _read_csv(path: str, delim: str, limit: int) -> list[Item]:
    with storage.open_text_lines(path) as f:
        rows = [r for r in csv.reader(io.TextIOWrapper(f, encoding="utf-8", newline="")) if r]
    if not rows:
        raise _unknown(path, "an empty CSV")
    header = [c.strip().lower() for c in rows[0]]
    if "question" in header and "answer" in header:
        q, a = header.index("question"), header.index("answer")
        opts = [i for i in range(len(header)) if i not in (q, a)]
        body = rows[1:]
    elif len(rows[0]) >= 4 and rows[0][-1].strip().upper() in ("A", "B", "C", "D", "E"):  # MMLU's own: no header
        q, a, opts, body = 0, len(rows[0]) - 1, list(range(1, len(rows[0]) - 1)), rows
    else:
        raise _unknown(path, f"CSV columns {rows[0][:6]}")
    items = []
    for n, r in enumerate(body[:limit], start=2 if body is not rows else 1):
        if len(r) != len(rows[0]):
            raise AblateInputError(f"{path}:{n}: {len(r)} columns, expected {len(rows[0])}")
        context = f"Question: {r[q].strip()}\nAnswer:"
        items.append(Item([(context, delim + r[i].strip()) for i in opts], _gold(r[a], len(opts), f"{path}:{n}")))
    return items


def load(b: BenchmarkConfig, limit: int) -> Benchmark:
    """Read up to `limit` items; an unknown format or a malformed item is refused with the file and line."""
    try:
        files = storage.expand([b.path])
    except storage.InputError as exc:
        raise AblateInputError(f"benchmark {b.label()!r}: {exc}") from None
    if len(files) != 1:
        raise AblateInputError(f"benchmark {b.label()!r}: {b.path!r} matches {len(files)} files; list each file")
    path = files[0]
    name = path.lower().removesuffix(".gz")
    if name.endswith(".csv"):
        fmt, items = "mmlu-csv", _read_csv(path, b.delimiter, limit)
    elif name.endswith((".jsonl", ".json", ".ndjson")):
        fmt, items = _read_jsonl(path, b.delimiter, limit)
    else:
        raise _unknown(path, "not .jsonl or .csv")
    if not items:
        raise AblateInputError(f"benchmark {path}: no items")
    return Benchmark(b.label(), path, fmt, items)
