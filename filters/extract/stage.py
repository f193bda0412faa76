"""The `extract` stage: HTML payloads (`raw`) become `text`; other rows (PDF, plain text, JSON) pass through untouched."""

from __future__ import annotations

import json
from typing import Literal

import pyarrow as pa

from winnow.filters.extract.extractors import decode_html, extract
from winnow.filters.extract.isolation import ExtractCrash, ExtractTimeout, IsolatedExtractor
from winnow.pipeline import schema
from winnow.pipeline.registry import register_stage
from winnow.pipeline.stage import Outcome, Stage, StageParams, set_column, update_metadata

HTML_TYPES = frozenset({"text/html", "application/xhtml+xml"})


class ExtractParams(StageParams):
    extractor: Literal["auto", "resiliparse", "trafilatura"] = "auto"
    timeout_s: float = 5.0  # per page; an overrun kills the worker and fails the page (extract_timeout)
    max_bytes: int = 5_000_000  # larger HTML payloads are dropped unparsed (extract_too_large)
    detect_charset: bool = True  # detect the encoding when HTTP declares none or a wrong one; else UTF-8
    isolate: bool = True  # extract in a worker process, so the time cap holds even inside C code
    min_chars: int = 1  # shorter extracted text is dropped as extract_empty


@register_stage("extract")
class ExtractStage(Stage):
    Params = ExtractParams
    reasons = ("extract_empty", "extract_too_large")
    errors = ("extract_timeout", "extract_crash", "extract_error")
    reads = (schema.RAW, schema.CONTENT_TYPE, schema.HTTP_CHARSET, schema.TEXT, schema.METADATA)
    # Adds no columns: fills `text`; metadata gains extractor, charset.

    def setup(self) -> None:
        self._isolated = IsolatedExtractor(self.params.timeout_s) if self.params.isolate else None

    def _run(self, html: str) -> tuple[str, str, int]:
        if self._isolated is not None:
            return self._isolated.extract(self.params.extractor, html)
        return extract(self.params.extractor, html)

    def process(self, batch: pa.Table) -> Outcome:
        n = batch.num_rows
        cols = batch.column_names
        if schema.RAW not in cols or schema.CONTENT_TYPE not in cols:
            return Outcome.keep_all(batch)  # already text (WET, JSONL, Parquet): nothing to extract
        raws = batch[schema.RAW].to_pylist()
        types = batch[schema.CONTENT_TYPE].to_pylist()
        texts = batch[schema.TEXT].to_pylist() if schema.TEXT in cols else [None] * n
        # The WARC reader's typed column; rows from elsewhere (rows an older version wrote) carry it in metadata.
        charsets = batch[schema.HTTP_CHARSET].to_pylist() if schema.HTTP_CHARSET in cols else None
        metas = batch[schema.METADATA].to_pylist() if charsets is None else None
        reasons: list[str | None] = [None] * n
        errors: list[str | None] = [None] * n
        details: list[str | None] = [None] * n
        updates: list[dict | None] = [None] * n
        counters: dict[str, int] = {}
        for i in range(n):
            raw, ctype = raws[i], (types[i] or "").lower()
            if raw is None or ctype not in HTML_TYPES:
                continue  # PDFs go on to the PDF stages; rows with text keep it
            if len(raw) > self.params.max_bytes:
                reasons[i] = "extract_too_large"
                continue
            if charsets is not None:
                declared = charsets[i]
            else:
                declared = json.loads(metas[i]).get(schema.HTTP_CHARSET) if metas[i] else None
            html, charset = decode_html(raw, declared, self.params.detect_charset)
            try:
                text, used, removed = self._run(html)
            except ExtractTimeout as exc:
                errors[i], details[i] = "extract_timeout", f"{exc} ({len(raw)} bytes)"
                continue
            except ExtractCrash as exc:
                errors[i], details[i] = "extract_crash", str(exc)
                continue
            except Exception as exc:  # noqa: BLE001 - the extractor refused this page; the batch goes on
                errors[i], details[i] = "extract_error", f"{type(exc).__name__}: {exc}"[:2000]
                continue
            counters[f"extract_used_{used}"] = counters.get(f"extract_used_{used}", 0) + 1
            if removed:
                counters["extract_lines_removed"] = counters.get("extract_lines_removed", 0) + removed
            if len(text) < self.params.min_chars:
                reasons[i] = "extract_empty"
            texts[i] = text
            updates[i] = {"extractor": used, "charset": charset}
        out = set_column(batch, schema.TEXT, pa.array(texts, pa.string()))
        out = update_metadata(out, updates)
        outcome = Outcome.from_decisions(out, reasons, errors, details)
        outcome.counters = counters or None
        return outcome
