"""PDF reader: one row per PDF file (local, s3://, https://) carrying the raw bytes for the pdf_extract stage."""

from __future__ import annotations

from collections.abc import Iterator

from winnow.ocr.codes import LOCATOR_COLUMN, PDF_CONTENT_TYPE
from winnow.pipeline import schema, storage
from winnow.pipeline.readers.base import BatchBuilder, Reader, ReaderParams
from winnow.pipeline.registry import register_reader
from winnow.pipeline.stage import Outcome

TOO_LARGE = "read_pdf_too_large"


class PdfReaderParams(ReaderParams):
    max_bytes: int = 256 * 1024 * 1024  # a larger file is recorded as an error, not loaded into memory


@register_reader("pdf")
class PdfReader(Reader):
    extensions = (".pdf",)
    Params = PdfReaderParams
    files_per_unit = 64
    # a scanned page (~0.1-0.5 MB) costs seconds of OCR: priced high on purpose, so a few PDFs still get every core
    seconds_per_mb = 10.0
    working_columns = (schema.RAW, schema.CONTENT_TYPE, LOCATOR_COLUMN)

    def read(self, path: str) -> Iterator[Outcome]:
        out = BatchBuilder(self.params.batch_size)
        source = self.params.source or "pdf"
        # One row per file: the page range is the whole document, so the path alone locates it.
        doc_id, meta = schema.identity(path, pdf_path=path)
        row = {schema.ID: doc_id, schema.SOURCE: source, schema.DOMAIN: self.params.domain}
        with storage.open_input(path) as f:
            data = f.read(self.params.max_bytes + 1)
        if len(data) > self.params.max_bytes:
            row[schema.METADATA] = schema.metadata_json(meta)
            out.failed.append((row, TOO_LARGE, f"{path}: larger than max_bytes={self.params.max_bytes}"))
        else:
            meta["pdf_bytes"] = len(data)
            row.update(
                {
                    schema.TEXT: None,
                    schema.METADATA: schema.metadata_json(meta),
                    schema.RAW: data,
                    schema.CONTENT_TYPE: PDF_CONTENT_TYPE,
                    LOCATOR_COLUMN: meta[schema.LOCATOR],  # typed for pdf_extract, which need not parse metadata
                }
            )
            out.docs.append(row)
        yield out.flush()
