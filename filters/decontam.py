"""Stage `decontaminate`: finds benchmark text in documents by n-gram overlap, then drops, masks or tags them.

`build_index(paths_or_texts, n)` is the public entry point for other parts of Winnow (the mixing engineer's
evaluation texts join the set this way); the stage builds the same index once per worker in `setup()`.
"""

from __future__ import annotations

import csv
import fnmatch
import gzip
import io
import json
import logging
import os
import re
import unicodedata
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
import pyarrow as pa
import xxhash
from pydantic import Field

from winnow.pipeline import schema, storage
from winnow.pipeline.registry import register_stage
from winnow.pipeline.stage import Outcome, Stage, StageParams, set_column

log = logging.getLogger("winnow")

NAME = "decontaminate"
REASON_CONTAMINATED = "decontaminate_contaminated"
REASON_MASKED_EMPTY = "decontaminate_masked_too_short"
COL_MATCHES = "decontaminate_matches"  # n-grams of the document found in the benchmark set
COL_BENCHMARKS = "decontaminate_benchmarks"  # which benchmarks they came from, comma-separated

_TOKEN = re.compile(r"\w+")
_PRIME = np.uint64(0x100000001B3)  # FNV prime: mixes token hashes position-dependently with wrap-around
_GENERIC_STEMS = {"test", "train", "dev", "val", "valid", "validation", "eval", "data", "questions"}
BENCHMARK_SUFFIXES = (".jsonl", ".jsonl.gz", ".json", ".json.gz", ".csv", ".csv.gz", ".tsv", ".parquet", ".txt")


def normalise(text: str) -> str:
    """Case, width and accent variants compare equal (NFKC + casefold); punctuation and spacing never count."""
    return unicodedata.normalize("NFKC", text).casefold()


def tokens(text: str) -> list[str]:
    return _TOKEN.findall(normalise(text))


def _normalised_with_offsets(text: str) -> tuple[str, list[int], list[int]]:
    """normalise(text) built piece by piece (a character and the combining marks after it), with the span in `text`
    of the piece each output character came from, so that a token found in the result maps back to the original.
    Pieces keep what NFKC and casefold do across characters: "ß" → "ss", "ﬁ" → "fi", "e" + U+0301 → "é"."""
    norm: list[str] = []
    starts: list[int] = []
    ends: list[int] = []
    piece = 0
    for i in range(1, len(text) + 1):
        if i < len(text) and (unicodedata.combining(text[i]) or "\u1160" <= text[i] <= "\u11ff"):
            continue  # a combining mark, or a Hangul vowel/final jamo that composes with what precedes it
        out = normalise(text[piece:i])
        norm.append(out)
        starts += [piece] * len(out)
        ends += [i] * len(out)
        piece = i
    return "".join(norm), starts, ends


def ngram_hashes(toks: list[str], n: int) -> np.ndarray:
    """64-bit hashes of every n-gram of a token list (empty if the list is shorter than n)."""
    if len(toks) < n:
        return np.empty(0, np.uint64)
    th = np.fromiter((xxhash.xxh64_intdigest(t) for t in toks), np.uint64, len(toks))
    width = len(toks) - n + 1
    acc = np.zeros(width, np.uint64)
    for k in range(n):  # polynomial rolling combination, vectorised over all positions
        acc = acc * _PRIME + th[k : k + width]
    return acc


@dataclass
class BenchmarkStats:
    files: int = 0
    records: int = 0
    ngrams: int = 0
    short_records: int = 0  # fewer tokens than n: such a record cannot be detected
    missing_fields: int = 0  # a field named in `fields` was absent from a record
    bad_records: int = 0  # unparseable lines or non-object records
    unreadable_files: int = 0


@dataclass
class BenchmarkIndex:
    """Sorted n-gram hashes of all benchmarks and, beside each, which benchmark it came from."""

    n: int = 13
    names: list[str] = field(default_factory=list)
    stats: dict[str, BenchmarkStats] = field(default_factory=dict)
    hashes: np.ndarray = field(default_factory=lambda: np.empty(0, np.uint64))
    owners: np.ndarray = field(default_factory=lambda: np.empty(0, np.uint16))
    _pending: list[tuple[np.ndarray, int]] = field(default_factory=list)

    def _owner(self, name: str) -> int:
        if name not in self.names:
            self.names.append(name)
            self.stats[name] = BenchmarkStats()
        return self.names.index(name)

    def add_texts(self, texts: Iterable[str], name: str) -> BenchmarkIndex:
        """Add texts (each one record) under a benchmark name; call `freeze()` (or look up) afterwards."""
        owner = self._owner(name)
        st = self.stats[name]
        for text in texts:
            st.records += 1
            toks = tokens(text)
            h = ngram_hashes(toks, self.n)
            if len(h):
                # N-grams that are mostly numbers ("1 2 3 4 ...", test vectors, tables) occur everywhere:
                # only n-grams whose tokens are at least half words enter the index.
                wordy = np.cumsum([0] + [not t.isdigit() for t in toks])
                h = h[(wordy[self.n :] - wordy[: -self.n]) * 2 >= self.n]
            if not len(h):
                st.short_records += 1
                continue
            st.ngrams += len(h)
            self._pending.append((h, owner))
        return self

    def freeze(self) -> BenchmarkIndex:
        if self._pending:
            hs = np.concatenate([self.hashes] + [h for h, _ in self._pending])
            ow = np.concatenate([self.owners] + [np.full(len(h), o, np.uint16) for h, o in self._pending])
            self._pending = []
            # Stable sort keeps, for an n-gram shared by two benchmarks, the one added first.
            order = np.argsort(hs, kind="stable")
            hs, ow = hs[order], ow[order]
            first = np.ones(len(hs), bool)
            first[1:] = hs[1:] != hs[:-1]
            self.hashes, self.owners = hs[first], ow[first]
        return self

    def __len__(self) -> int:
        return len(self.freeze().hashes)

    def lookup(self, hashes: np.ndarray) -> np.ndarray:
        """Index into `owners` for each hash found, -1 where the hash is not a benchmark n-gram."""
        self.freeze()
        if not len(self.hashes) or not len(hashes):
            return np.full(len(hashes), -1, np.int64)
        pos = np.searchsorted(self.hashes, hashes)
        pos = np.minimum(pos, len(self.hashes) - 1)
        return np.where(self.hashes[pos] == hashes, pos, -1)


def _record_texts(record: Any, fields: list[str] | None, st: BenchmarkStats) -> str | None:
    """A record's benchmark text: the named fields, or every string field (and list of strings), in order."""
    if not isinstance(record, dict):
        st.bad_records += 1
        return None
    parts: list[str] = []
    keys = fields if fields else list(record)
    for key in keys:
        if key not in record or record[key] is None:
            if fields:
                st.missing_fields += 1
            continue
        value = record[key]
        if isinstance(value, str):
            parts.append(value)
        elif isinstance(value, list):
            parts.extend(v for v in value if isinstance(v, str))
        elif fields and value is not None:
            parts.append(str(value))
    return "\n".join(parts) if parts else None


def _records(path: str, st: BenchmarkStats) -> Iterator[Any]:
    """Records of a JSONL, JSON, CSV/TSV, Parquet or text file; bad lines are counted and skipped."""
    low = path.lower()
    if low.endswith(".parquet"):
        import pyarrow.parquet as pq

        with storage.open_input(path) as f:
            yield from pq.read_table(f).to_pylist()
        return
    with storage.open_input(path) as raw:
        data = raw.read()
    if low.endswith(".gz"):
        data = gzip.decompress(data)
        low = low[:-3]
    text = data.decode("utf-8", errors="replace")
    if low.endswith(".jsonl"):
        for line in text.splitlines():
            if line.strip():
                try:
                    yield json.loads(line)
                except ValueError:
                    st.bad_records += 1
    elif low.endswith(".json"):
        doc = json.loads(text)
        yield from (doc if isinstance(doc, list) else [doc])
    elif low.endswith((".csv", ".tsv")):
        yield from csv.DictReader(io.StringIO(text), delimiter="\t" if low.endswith(".tsv") else ",")
    else:  # .txt: one text per non-empty line
        yield from ({"text": line} for line in text.splitlines() if line.strip())


def benchmark_name(path: str, root: str | None) -> str:
    """A benchmark's name for counters: its folder under the benchmarks root, or the file's stem at the root."""
    rel = os.path.relpath(path, root) if root and not storage.is_remote(path) else os.path.basename(path)
    parts = rel.replace("\\", "/").split("/")
    stem = parts[0] if len(parts) > 1 else re.sub(r"(\.(jsonl|json|csv|tsv|parquet|txt|gz))+$", "", parts[0])
    if len(parts) == 1 and stem.lower() in _GENERIC_STEMS:  # gsm8k/test.jsonl is "gsm8k", not "test"
        stem = os.path.basename(os.path.dirname(path.rstrip("/"))) or stem
    return re.sub(r"[^a-z0-9]+", "_", stem.lower()).strip("_") or "benchmark"


def _fields_for(path: str, fields: dict[str, list[str]]) -> list[str] | None:
    for pattern, names in fields.items():
        if fnmatch.fnmatch(path, pattern) or fnmatch.fnmatch(os.path.basename(path), pattern):
            return names
    return None


def build_index(
    paths_or_texts: str | Iterable[str],
    n: int = 13,
    *,
    fields: dict[str, list[str]] | None = None,
    name: str = "texts",
    index: BenchmarkIndex | None = None,
) -> BenchmarkIndex:
    """Build (or extend) an n-gram index of benchmark text.

    `paths_or_texts`: a folder, glob or file path (a string), a list of them, or a list of plain texts (each
    one record, counted under `name`). Files are JSONL/JSON/CSV/TSV/Parquet/TXT; every string field of a record
    is benchmark text unless `fields` maps a file glob to the field names to use. Bad files and records are
    counted in `index.stats`, never raised; a path that matches nothing raises storage.InputError.
    """
    index = index or BenchmarkIndex(n=n)
    items = [paths_or_texts] if isinstance(paths_or_texts, str) else list(paths_or_texts)
    texts = [t for t in items if not _looks_like_path(t)]
    if texts:
        index.add_texts(texts, name)
    for spec in (t for t in items if _looks_like_path(t)):
        root = spec if os.path.isdir(spec) else None
        for path in storage.expand([spec]):
            if not path.lower().endswith(BENCHMARK_SUFFIXES):
                continue
            bench = benchmark_name(path, root)
            index._owner(bench)
            st = index.stats[bench]
            st.files += 1
            chosen = _fields_for(path, fields or {})
            try:
                recs = (_record_texts(r, chosen, st) for r in _records(path, st))
                index.add_texts((t for t in recs if t), bench)
            except Exception as exc:  # noqa: BLE001 - a broken benchmark file is counted and skipped, the others still load
                st.unreadable_files += 1
                log.warning("decontaminate: cannot read %s: %s", path, exc)
    return index.freeze()


def _looks_like_path(item: str) -> bool:
    return (
        "\n" not in item
        and len(item) < 4096
        and (os.path.exists(item) or any(c in item for c in "*?[") or "://" in item)
    )


class DecontaminateParams(StageParams):
    benchmarks: str | list[str]  # folder(s), glob(s) or files of benchmark records
    n: int = 13  # n-gram length in normalised word tokens
    fields: dict[str, list[str]] = Field(
        default_factory=dict
    )  # file glob → fields to use; default: every string field
    min_matches: int = 1  # benchmark n-grams a document must share to count as contaminated
    mode: Literal["drop", "mask", "tag"] = "drop"  # tag: only the decontaminate_* columns
    mask_with: str = ""  # what replaces a masked span
    min_tokens_after_mask: int = 20  # masked documents left shorter than this are dropped


@register_stage(NAME)
class DecontaminateStage(Stage):
    """Compares every document's n-grams with the benchmark index; counts hits per benchmark in the funnel."""

    Params = DecontaminateParams
    adds_columns = {COL_MATCHES: pa.int32(), COL_BENCHMARKS: pa.string()}
    reasons = (REASON_CONTAMINATED, REASON_MASKED_EMPTY)
    reads = (schema.TEXT,)

    def setup(self) -> None:
        specs = [self.params.benchmarks] if isinstance(self.params.benchmarks, str) else self.params.benchmarks
        # build_index takes a string that is no path for a benchmark text; here every entry is meant as a path, and
        # a mistyped one would otherwise leave that benchmark out without a word.
        missing = [s for s in specs if not _looks_like_path(s)]
        if missing:
            raise storage.InputError(f"decontaminate: benchmark path(s) not found: {', '.join(map(repr, missing))}")
        self.index = build_index(specs, self.params.n, fields=self.params.fields)
        for bench, st in self.index.stats.items():
            log.info("decontaminate: %s %s", bench, st)
        if not len(self.index):
            raise ValueError(f"decontaminate: no benchmark n-grams found in {specs} (n={self.params.n})")

    def match(self, text: str) -> tuple[np.ndarray, list[str]]:
        """Positions (token index) of benchmark n-grams in a text, and the benchmarks they belong to."""
        found = self.index.lookup(ngram_hashes(tokens(text), self.params.n))
        hit = np.nonzero(found >= 0)[0]
        owners = sorted({self.index.names[o] for o in self.index.owners[found[hit]]}) if len(hit) else []
        return hit, owners

    def mask(self, text: str) -> str | None:
        """Remove the character spans of matched n-grams from the original text; None where they cannot be located
        (the text's tokens, normalised piece by piece, differ from match()'s: the caller drops it instead)."""
        norm, starts, ends = _normalised_with_offsets(text)
        found = [(m.group(), (starts[m.start()], ends[m.end() - 1])) for m in _TOKEN.finditer(norm)]
        if [t for t, _ in found] != tokens(text):
            return None
        hits = self.index.lookup(ngram_hashes([t for t, _ in found], self.params.n))
        n = self.params.n
        covered: list[tuple[int, int]] = []
        for p in np.nonzero(hits >= 0)[0].tolist():
            start, end = found[p][1][0], found[p + n - 1][1][1]
            if covered and start <= covered[-1][1]:
                covered[-1] = (covered[-1][0], max(end, covered[-1][1]))
            else:
                covered.append((start, end))
        out, last = [], 0
        for start, end in covered:
            out.append(text[last:start])
            out.append(self.params.mask_with)
            last = end
        out.append(text[last:])
        return "".join(out)

    def process(self, batch: pa.Table) -> Outcome:
        texts = batch[schema.TEXT].to_pylist()
        reasons: list[str | None] = []
        matches: list[int] = []
        benches: list[str | None] = []
        new_texts: list[str | None] = []
        counters: dict[str, int] = {}
        for text in texts:
            positions, owners = self.match(text or "")
            matches.append(len(positions))
            benches.append(",".join(owners) or None)
            contaminated = len(positions) >= self.params.min_matches and len(positions) > 0
            reason = None
            if contaminated:
                for o in owners:
                    counters[f"{NAME}_{o}"] = counters.get(f"{NAME}_{o}", 0) + 1
                if self.params.mode == "drop":
                    reason = REASON_CONTAMINATED
                elif self.params.mode == "mask":
                    masked = self.mask(text)
                    if masked is None:
                        reason = REASON_CONTAMINATED
                    else:
                        text = masked
                        counters[f"{NAME}_masked"] = counters.get(f"{NAME}_masked", 0) + 1
                        if len(tokens(text)) < self.params.min_tokens_after_mask:
                            reason = REASON_MASKED_EMPTY
            reasons.append(reason)
            new_texts.append(text)
        out = batch
        if self.params.mode == "mask":
            out = set_column(out, schema.TEXT, pa.array(new_texts, pa.string()))
        out = set_column(out, COL_MATCHES, pa.array(matches, pa.int32()))
        out = set_column(out, COL_BENCHMARKS, pa.array(benches, pa.string()))
        outcome = Outcome.from_decisions(out, reasons)
        outcome.counters = counters or None
        return outcome
