"""The pdf_extract stage on batches: truncation, pass-through, metadata, rights fields, funnel counters."""

from __future__ import annotations

import json

import pdf_hostile as hostile  # tests/ocr is on sys.path (pytest rootdir-relative imports)
import pyarrow as pa
import pymupdf

from winnow.ocr import codes
from winnow.ocr.reader import PdfReader
from winnow.pipeline import schema
from winnow.pipeline.stage import ERROR_COLUMN, REASON_COLUMN


def _rows(*items: tuple[bytes | None, str, dict]) -> pa.Table:
    records = []
    for i, (raw, ctype, meta) in enumerate(items):
        records.append(
            {
                schema.ID: f"doc{i}",
                schema.TEXT: None if ctype == codes.PDF_CONTENT_TYPE else "already text",
                schema.SOURCE: "test",
                schema.METADATA: {"locator": f"mem://{i}", **meta},
                schema.RAW: raw,
                schema.CONTENT_TYPE: ctype,
            }
        )
    return schema.documents_from_records(records)


def _licensed_pdf() -> bytes:
    doc = pymupdf.open()
    for i in range(2):
        doc.new_page().insert_textbox(
            pymupdf.Rect(72, 72, 540, 700), f"Chapter {i}: rivers carry silt downstream.", fontsize=12
        )
    doc.set_metadata({"title": "Rivers", "author": "A. Hydrologist", "subject": "sediment"})
    doc.set_xml_metadata(
        '<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">'
        '<rdf:Description xmlns:xmpRights="http://ns.adobe.com/xap/1.0/rights/" '
        'xmlns:cc="http://creativecommons.org/ns#" xmlns:dc="http://purl.org/dc/elements/1.1/" xmpRights:Marked="True">'
        "<xmpRights:WebStatement>https://creativecommons.org/licenses/by/4.0/</xmpRights:WebStatement>"
        '<cc:license rdf:resource="https://creativecommons.org/licenses/by/4.0/"/>'
        '<dc:rights><rdf:Alt><rdf:li xml:lang="x-default">CC BY 4.0, some rights reserved</rdf:li></rdf:Alt></dc:rights>'
        "</rdf:Description></rdf:RDF></x:xmpmeta>"
    )
    return doc.tobytes()


def test_text_metadata_rights_and_counters(text_stage):
    out = text_stage(_rows((_licensed_pdf(), codes.PDF_CONTENT_TYPE, {})))
    assert out.failed is None and out.dropped is None
    row = out.kept.to_pylist()[0]
    meta = json.loads(row[schema.METADATA])
    assert meta[codes.META_PAGE_COUNT] == 2
    assert meta[codes.META_PAGE_ROUTES] == ["text_layer", "text_layer"]
    assert meta[codes.META_OCR_ENGINE] is None
    for i, (start, end) in enumerate(meta[codes.META_PAGE_OFFSETS]):
        assert row[schema.TEXT][start:end].startswith(f"Chapter {i}:")
    rights = meta[codes.META_RIGHTS]
    assert rights["author"] == "A. Hydrologist" and rights["title"] == "Rivers"
    assert rights["xmp_rights_web_statement"] == "https://creativecommons.org/licenses/by/4.0/"
    assert rights["cc_license"] == "https://creativecommons.org/licenses/by/4.0/"
    assert rights["dc_rights"] == "CC BY 4.0, some rights reserved"
    assert rights["xmp_rights_marked"] == "True"
    assert row[schema.RAW]  # kept for later rights stages; the runner drops it at the end
    assert out.counters == {"pdf_pages_text_layer": 2}


def test_broken_utf16_in_the_info_fields_does_not_cost_the_document(text_stage):
    """Half an emoji in /Title (a lone surrogate once decoded) is replaced; the text and the document stay."""
    doc = pymupdf.open(stream=_licensed_pdf())
    info = int(doc.xref_get_key(-1, "Info")[1].split()[0])
    doc.xref_set_key(info, "Title", "<FEFFD800>")
    doc.xref_set_key(info, "Copyright", "<FEFF0041DC00>")  # a custom rights key, read through the Info dict
    out = text_stage(_rows((doc.tobytes(), codes.PDF_CONTENT_TYPE, {})))
    assert out.failed is None and out.dropped is None
    rights = json.loads(out.kept.to_pylist()[0][schema.METADATA])[codes.META_RIGHTS]
    assert set(rights["title"]) == {"?"} and rights["author"] == "A. Hydrologist"


def test_truncated_pdfs_are_dropped_with_their_reason(text_stage, shared_data):
    whole = (shared_data / "pdf/born_digital/papers/olmOCR-2-Unit-Test-Rewards-for-Document-OCR.pdf").read_bytes()
    assert len(whole) > 1 << 20
    cut = whole[: 1 << 20]  # what Common Crawl stores of a larger PDF
    out = text_stage(
        _rows((cut, codes.PDF_CONTENT_TYPE, {}), (whole, codes.PDF_CONTENT_TYPE, {"warc_truncated": "length"}))
    )
    assert out.dropped[REASON_COLUMN].to_pylist() == [codes.TRUNCATED, codes.TRUNCATED]
    assert out.kept.num_rows == 0


def test_non_pdf_rows_pass_through_and_bad_rows_fail_alone(text_stage):
    table = _rows(
        (None, "text/html", {}),
        (b"<html>not a pdf</html>", codes.PDF_CONTENT_TYPE, {}),
        (hostile.encrypted_pdf(), codes.PDF_CONTENT_TYPE, {}),
        (hostile.text_pdf(["Plain words on a page for the reader."]), codes.PDF_CONTENT_TYPE, {}),
        (hostile.text_pdf([""]), codes.PDF_CONTENT_TYPE, {}),
    )
    out = text_stage(table)
    assert out.kept[schema.ID].to_pylist() == ["doc0", "doc3"]
    assert out.kept[schema.TEXT].to_pylist()[0] == "already text"
    assert out.kept[schema.METADATA].to_pylist()[0] == table[schema.METADATA].to_pylist()[0]  # untouched
    assert out.failed[ERROR_COLUMN].to_pylist() == [codes.CORRUPT, codes.ENCRYPTED]
    assert out.dropped[REASON_COLUMN].to_pylist() == [codes.EMPTY]
    assert out.counters["pdf_pages_blank"] == 1


def test_reader_emits_one_row_per_pdf(shared_data):
    path = str(shared_data / "pdf/born_digital/docling/multi_page.pdf")
    (outcome,) = list(PdfReader().read(path))
    row = outcome.kept.to_pylist()[0]
    assert row[schema.CONTENT_TYPE] == "application/pdf" and row[schema.SOURCE] == "pdf" and row[schema.TEXT] is None
    assert row[schema.RAW][:5] == b"%PDF-"
    meta = json.loads(row[schema.METADATA])
    assert meta["locator"] == path and meta["pdf_path"] == path
    assert row[schema.ID] == schema.make_id(path)
    (too_big,) = list(PdfReader(max_bytes=1000).read(path))
    assert too_big.failed[ERROR_COLUMN].to_pylist() == ["read_pdf_too_large"]


def test_born_digital_samples_use_the_text_layer(text_stage, shared_data):
    folder = shared_data / "pdf/born_digital/docling"
    names = ["multi_page.pdf", "2305.03393v1-pg9.pdf", "code_and_formula.pdf"]
    out = text_stage(_rows(*[((folder / n).read_bytes(), codes.PDF_CONTENT_TYPE, {}) for n in names]))
    assert out.kept.num_rows == 3
    metas = [json.loads(m) for m in out.kept[schema.METADATA].to_pylist()]
    assert [m[codes.META_PAGE_COUNT] for m in metas] == [5, 1, 2]
    assert all(set(m[codes.META_PAGE_ROUTES]) == {"text_layer"} for m in metas)
    truth = (folder / "multi_page.groundtruth.md").read_text()
    text = out.kept[schema.TEXT].to_pylist()[0]
    for phrase in ("The Evolution of the Word Processor", "Pre-Digital Era"):
        assert phrase in truth and phrase in text
