"""The pdf_extract stage: PDF bytes in, one document per PDF out, every page routed to its text layer or OCR."""

from __future__ import annotations

import json
from collections import Counter
from typing import Any, Literal

import pyarrow as pa
from pydantic import Field, model_validator

from winnow.ocr import codes
from winnow.ocr.containment import ChildFailed, PdfWorker
from winnow.ocr.document import ExtractOptions
from winnow.pipeline import schema
from winnow.pipeline.registry import register_stage
from winnow.pipeline.stage import Outcome, Resources, Stage, StageParams, set_column, update_metadata

TRUNCATION_TAIL = 8192  # %%EOF must appear this close to the end of a complete PDF


class PdfExtractParams(StageParams):
    # auto: rapidocr, which the wheel brings, so a config reads the same text on every machine; tesseract and the
    # VLM only when named.
    engine: Literal["auto", "rapidocr", "tesseract", "vlm", "none"] = "auto"
    ocr_dpi: int | None = Field(None, ge=36, le=600)  # None: the engine's own (tesseract 300, rapidocr 100, vlm 150)
    ocr_language: str = "eng"  # tesseract language(s), e.g. "eng+fra"
    detect_rotation: bool = True  # find each OCR page's turn (0/90/180/270) and read it upright
    remove_headers: bool = True  # drop running headers, footers and page numbers
    max_pages: int = Field(2000, ge=1)
    timeout_s: float = Field(600.0, gt=0)  # hard limit for one PDF
    page_timeout_s: float = Field(120.0, gt=0)  # hard limit between two pages
    memory_limit_mb: int = Field(2048, ge=0)  # address space one PDF may add to the child; 0: no limit
    drop_truncated: bool = True
    min_chars_per_page: int = Field(20, ge=0)  # below this a page has no usable text layer
    max_bad_char_ratio: float = Field(0.05, ge=0, le=1)  # unmapped/replacement characters: a garbage layer
    vlm_model_dir: str | None = None  # local olmOCR-style model directory; used only where a GPU is present
    vlm_backend: Literal["transformers", "vllm"] = "transformers"
    vlm_max_new_tokens: int = 3000

    @model_validator(mode="after")
    def _vlm_needs_naming(self) -> PdfExtractParams:
        # With auto a model directory would be ignored without a word: refuse it and name the fix.
        if self.vlm_model_dir and self.engine == "auto":
            raise ValueError(
                "vlm_model_dir is set but engine is 'auto', which always reads with rapidocr so that documents "
                "do not depend on the machine; set engine: vlm to read with the model"
            )
        return self


def truncation(raw: bytes, meta: dict[str, Any]) -> str | None:
    """Why a PDF looks cut short (Common Crawl stores only its first MiB), or None."""
    if meta.get(codes.META_TRUNCATED):
        return f"WARC-Truncated: {meta[codes.META_TRUNCATED]}"
    if b"%%EOF" not in raw[-TRUNCATION_TAIL:]:
        return "no %%EOF marker at the end of the file"
    return None


@register_stage(codes.STAGE)
class PdfExtractStage(Stage):
    """Rows with content_type application/pdf get their text; other rows pass through untouched."""

    Params = PdfExtractParams
    resources = Resources(cpus=1.0)
    reasons = codes.REASONS
    errors = codes.ERRORS
    counters_title = "PDF pages by route"
    reads = (schema.RAW, schema.CONTENT_TYPE, codes.LOCATOR_COLUMN, schema.TEXT, schema.METADATA, schema.ID)
    accelerator_counters = tuple(codes.route_counter(r) for r in codes.ROUTES if r.startswith("ocr"))

    def setup(self) -> None:
        p = self.params
        init = {
            "engine": {
                "name": p.engine,
                "language": p.ocr_language,
                "threads": 1,
                "vlm_model_dir": p.vlm_model_dir,
                "vlm_backend": p.vlm_backend,
                "vlm_max_new_tokens": p.vlm_max_new_tokens,
            },
            "options": ExtractOptions(
                dpi=p.ocr_dpi,
                detect_rotation=p.detect_rotation,
                remove_headers=p.remove_headers,
                max_pages=p.max_pages,
                router={"min_chars": p.min_chars_per_page, "max_bad_ratio": p.max_bad_char_ratio},
            ).to_dict(),
            "memory_limit_mb": p.memory_limit_mb,  # the child lifts it if a GPU engine really loads (ocr/child.py)
        }
        self.worker = PdfWorker(init, doc_timeout_s=p.timeout_s, page_timeout_s=p.page_timeout_s)

    def process(self, batch: pa.Table) -> Outcome:
        if schema.CONTENT_TYPE not in batch.column_names or batch.num_rows == 0:
            return Outcome.keep_all(batch)
        n = batch.num_rows
        ctypes = batch[schema.CONTENT_TYPE].to_pylist()
        if codes.PDF_CONTENT_TYPE not in ctypes:
            return Outcome.keep_all(batch)
        raws = batch[schema.RAW].to_pylist() if schema.RAW in batch.column_names else [None] * n
        metas = batch[schema.METADATA].to_pylist()
        has_locators = codes.LOCATOR_COLUMN in batch.column_names
        locators = batch[codes.LOCATOR_COLUMN].to_pylist() if has_locators else [None] * n
        texts = batch[schema.TEXT].to_pylist()
        reasons: list[str | None] = [None] * n
        errors: list[str | None] = [None] * n
        details: list[str | None] = [None] * n
        updates: list[dict[str, Any] | None] = [None] * n
        counters: Counter = Counter()
        for i in range(n):
            if ctypes[i] != codes.PDF_CONTENT_TYPE:
                continue
            if locators[i] is not None:  # the PDF reader's typed fields: nothing else to read from its metadata
                where, meta = locators[i], {}
            else:  # rows from elsewhere (a WARC's PDFs, JSONL/Parquet input): their metadata says
                meta = json.loads(metas[i]) if metas[i] else {}
                where = meta.get("locator") or batch[schema.ID][i].as_py()
            raw = raws[i] or b""
            if raw.find(b"%PDF-", 0, 1024) == -1:
                errors[i], details[i] = codes.CORRUPT, f"{where}: no %PDF- header in the first KiB"
                continue
            cut = truncation(raw, meta)
            if cut and self.params.drop_truncated:
                reasons[i], updates[i] = codes.TRUNCATED, {"pdf_truncated": cut}
                continue
            try:
                result = self.worker.extract(raw)
            except ChildFailed as exc:
                errors[i], details[i] = exc.code, f"{where}: {exc}"[:2000]
                continue
            texts[i] = str(result["text"])
            updates[i] = _metadata(result, cut)
            counters.update({str(k): int(v) for k, v in result.get("counters", {}).items()})
            if not texts[i].strip():
                reasons[i] = codes.EMPTY
        out = set_column(batch, schema.TEXT, pa.array(texts, pa.string()))
        out = update_metadata(out, updates)
        outcome = Outcome.from_decisions(out, reasons, errors, details)
        outcome.counters = dict(counters)
        return outcome


def _metadata(result: dict[str, Any], truncated: str | None) -> dict[str, Any]:
    meta = {
        codes.META_PAGE_COUNT: result["page_count"],
        codes.META_PAGE_OFFSETS: result["offsets"],
        codes.META_PAGE_ROUTES: result["routes"],
        codes.META_PAGE_REASONS: result["reasons"],
        codes.META_OCR_ENGINE: result.get("engine"),
        codes.META_OCR_ENGINE_VERSION: result.get("engine_version"),
        codes.META_RIGHTS: result.get("rights") or {},
    }
    if result.get("rotations"):
        meta[codes.META_PAGE_ROTATIONS] = result["rotations"]
    if truncated:  # kept only when drop_truncated is off: the text is what the first bytes held
        meta["pdf_truncated"] = truncated
    return meta


class PdfExtractGpuParams(PdfExtractParams):
    engine: Literal["auto", "rapidocr", "tesseract", "vlm", "none"] = "vlm"


@register_stage("pdf_extract_gpu")
class PdfExtractGpuStage(PdfExtractStage):
    """pdf_extract that asks Ray for a GPU, for the VLM engine; where none is visible it falls back to CPU OCR."""

    Params = PdfExtractGpuParams
    resources = Resources(cpus=1.0, gpus=1.0)
