"""Reading documents to tokenize: a run's documents/ or Parquet/JSONL files, in batches of the few columns needed."""

from __future__ import annotations

import hashlib
import io
import json
import os
from collections.abc import Iterator, Sequence
from typing import Any, BinaryIO

from winnow.pipeline import schema, storage

PARQUET = (".parquet",)
JSONL = (".jsonl", ".jsonl.gz", ".jsonl.zst", ".jsonl.zstd", ".json.gz", ".ndjson")
COLUMNS = (schema.ID, schema.TEXT, schema.DOMAIN, schema.SOURCE, schema.LICENSE)
SCAN_IN_MEMORY = 1 << 30  # `HashedInputs` holds a file up to this size, to be read from the bytes it hashed
READ_CHUNK = 1 << 22


def document_files(items: list[str]) -> list[str]:
    """Expand a run's output directory (→ its documents/*.parquet), directories, globs and files into input files."""
    files: list[str] = []
    for item in items:
        docs_dir = storage.join(item, "documents")
        if not storage.is_remote(item) and os.path.isdir(docs_dir):
            found = storage.list_files(docs_dir, ".parquet")
            if not found:
                raise storage.InputError(f"{item!r} is a run output whose documents/ holds no Parquet files")
            files.extend(found)
            continue
        matched = [p for p in storage.expand([item]) if p.endswith(PARQUET + JSONL)]
        if not matched:
            raise storage.InputError(f"{item!r} holds no Parquet or JSONL documents")
        files.extend(matched)
    seen: set[str] = set()
    return [f for f in files if not (f in seen or seen.add(f))]


class HashedInputs:
    """The input files, each read once: iterating yields (path, its bytes open in memory) after hashing them as
    they stream, and `content_hash` is then `inputs_hash` of them. A file over SCAN_IN_MEMORY bytes (or every file
    with `hold=False`) is not held: it comes with None, and a caller that needs its contents reads it again."""

    def __init__(self, files: list[str], hold: bool = True):
        self.files, self.hold = files, hold
        self._hash = hashlib.sha256()
        self._done = False

    def __iter__(self) -> Iterator[tuple[str, BinaryIO | None]]:
        import pyarrow as pa

        for path in self.files:
            held: bytearray | None = bytearray() if self.hold else None
            with storage.open_input(path) as f:
                while chunk := f.read(READ_CHUNK):
                    self._hash.update(chunk)
                    if held is not None:
                        held += chunk
                        if len(held) > SCAN_IN_MEMORY:
                            held = None
            self._hash.update(b"\x00")
            if held is None:
                yield path, None
            else:  # Parquet is read in place; JSONL lines come from a copy
                yield path, pa.BufferReader(held) if path.endswith(PARQUET) else io.BytesIO(held)
        self._done = True

    @property
    def content_hash(self) -> str:
        if not self._done:
            raise RuntimeError("content_hash is known once every input has been read")
        return self._hash.hexdigest()[:24]


def inputs_hash(files: list[str]) -> str:
    """Content hash of the inputs (bytes, in order): the cache key that makes a pool reusable across runs."""
    inputs = HashedInputs(files, hold=False)
    for _ in inputs:
        pass
    return inputs.content_hash


def scan_inputs(files: list[str], default_domain: str) -> tuple[str, dict[str, dict[str, int]]]:
    """`inputs_hash`, and each domain's document count and text bytes, from one read of each file.

    The bytes are hashed as they stream and kept, then the domain and text columns are counted from memory.
    A file over SCAN_IN_MEMORY bytes is not held: it is hashed as it streams and read a second time to count it."""
    stats: dict[str, dict[str, int]] = {}
    inputs = HashedInputs(files)
    for path, raw in inputs:
        _count_domains(path, raw, default_domain, stats)
    return inputs.content_hash, stats


def document_batches(path: str, batch_size: int, default_domain: str, force_domain: str | None = None,
                     extra: Sequence[str] = (), names: set[str] | None = None,
                     source: BinaryIO | None = None) -> Iterator[dict[str, list]]:
    """Batches of {id, text, domain, source, license} lists; a missing column reads as nulls.

    `force_domain` puts every row of the file in that domain, whatever its own column says (files listed
    per domain, e.g. a mix config's `sources:`). `extra` columns come too, null where a file or record lacks
    them (the score columns an ablation decides on); `names`, when given, collects every column the file holds.
    `source`: the file's bytes already open (held by `HashedInputs`); otherwise the file is opened here."""
    columns = COLUMNS + tuple(c for c in dict.fromkeys(extra) if c not in COLUMNS)
    read = _parquet_batches if path.endswith(PARQUET) else _jsonl_batches
    for batch in read(path, batch_size, default_domain, columns, names, source):
        if force_domain is not None:
            batch[schema.DOMAIN] = [force_domain] * len(batch[schema.ID])
        yield batch


class JSONLineError(storage.InputError):
    """A JSONL line that is not JSON; `lineno` lets a caller word it its own way (a benchmark's unknown format)."""

    def __init__(self, path: str, lineno: int, exc: ValueError):
        super().__init__(f"{path}:{lineno}: not a JSON object: {exc}")
        self.lineno = lineno


def json_lines(path: str, source: BinaryIO | None = None) -> Iterator[tuple[int, Any]]:
    """(line number, value) of each non-blank line of a JSONL file; a line that is not JSON fails with its place.

    `source`: the file's bytes already open (e.g. in memory); `path` then names it and picks the decompression."""
    with storage.open_text_lines(path, source) as lines:
        for lineno, raw in enumerate(lines, start=1):
            if not raw.strip():
                continue
            try:
                value = json.loads(raw)
            except ValueError as exc:
                raise JSONLineError(path, lineno, exc) from None
            yield lineno, value


def _parquet_batches(path: str, batch_size: int, default_domain: str, columns: tuple[str, ...],
                     names: set[str] | None, source: BinaryIO | None = None) -> Iterator[dict[str, list]]:
    import pyarrow.parquet as pq

    with source if source is not None else storage.open_input(path) as f:
        pf = pq.ParquetFile(f)
        present = [c for c in columns if c in pf.schema_arrow.names]
        if schema.TEXT not in present:
            raise storage.InputError(f"{path}: no {schema.TEXT!r} column")
        if names is not None:
            names.update(pf.schema_arrow.names)
        row = 0
        for rb in pf.iter_batches(batch_size=batch_size, columns=present):
            cols = rb.to_pydict()
            n = rb.num_rows
            out = {c: cols.get(c, [None] * n) for c in columns}
            out[schema.ID] = [
                i if i is not None else schema.make_id(f"{path}#{row + k + 1}") for k, i in enumerate(out[schema.ID])
            ]
            out[schema.DOMAIN] = [d or default_domain for d in out[schema.DOMAIN]]
            row += n
            yield out


def _jsonl_batches(path: str, batch_size: int, default_domain: str, columns: tuple[str, ...] = COLUMNS,
                   names: set[str] | None = None, source: BinaryIO | None = None) -> Iterator[dict[str, list]]:
    rest = [c for c in columns if c not in (schema.ID, schema.TEXT, schema.DOMAIN)]  # copied as they are
    out: dict[str, list] = {c: [] for c in columns}
    for lineno, record in json_lines(path, source):
        text = record.get(schema.TEXT) if isinstance(record, dict) else None
        if not isinstance(text, str):
            raise storage.InputError(f"{path}:{lineno}: no string {schema.TEXT!r} field")
        if names is not None:
            names.update(record)
        doc_id = record.get(schema.ID)
        out[schema.ID].append(str(doc_id) if doc_id is not None else schema.make_id(f"{path}:{lineno}"))
        out[schema.TEXT].append(text)
        out[schema.DOMAIN].append(record.get(schema.DOMAIN) or default_domain)
        for c in rest:
            out[c].append(record.get(c))
        if len(out[schema.ID]) >= batch_size:
            yield out
            out = {c: [] for c in columns}
    if out[schema.ID]:
        yield out


def _count_domains(path: str, raw: BinaryIO | None, default_domain: str, stats: dict[str, dict[str, int]]) -> None:
    """Add one file's documents and text bytes per domain to `stats`, reading only those two columns.

    `raw`: the file's bytes already open (held by `HashedInputs`); otherwise the file is opened here."""
    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    if path.endswith(PARQUET):
        with raw if raw is not None else storage.open_input(path) as f:
            pf = pq.ParquetFile(f)
            if schema.TEXT not in pf.schema_arrow.names:  # found here, before any work, not when tokenizing
                raise storage.InputError(f"{path}: no {schema.TEXT!r} column")
            cols = [c for c in (schema.DOMAIN, schema.TEXT) if c in pf.schema_arrow.names]
            table = pf.read(columns=cols)
        n = table.num_rows
        doms = table[schema.DOMAIN].to_pylist() if schema.DOMAIN in cols else [None] * n
        sizes = pc.fill_null(pc.binary_length(table[schema.TEXT].cast("binary")), 0).to_pylist()
        pairs = zip(doms, sizes)
    else:
        pairs = (
            (d, _utf8_size(path, i, t))
            for b in _jsonl_batches(path, 4096, default_domain, source=raw)
            for d, i, t in zip(b[schema.DOMAIN], b[schema.ID], b[schema.TEXT])
        )
    for dom, size in pairs:
        s = stats.setdefault(dom or default_domain, {"documents": 0, "bytes": 0})
        s["documents"] += 1
        s["bytes"] += size


def _utf8_size(path: str, doc_id: str, text: str) -> int:
    """A JSONL text's UTF-8 bytes; JSON can spell a lone surrogate (\\ud800) that no encoder can take."""
    try:
        return len(text.encode("utf-8"))
    except UnicodeEncodeError as exc:
        raise storage.InputError(
            f"{path}: document {doc_id!r} has text that is not valid Unicode ({exc.reason}: {text[exc.start]!r} at "
            f"character {exc.start}); fix or drop it"
        ) from None


def read_texts(files: list[str]) -> Iterator[str]:
    for path in files:
        for batch in document_batches(path, 1024, "default"):
            yield from (t for t in batch[schema.TEXT] if t)
