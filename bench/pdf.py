"""PDF benchmark: Winnow's pdf_extract against pymupdf alone (text layer) and against the OCR libraries alone.

Text layer: pages per CPU-second (= pages/s on one core) over the born-digital samples, Winnow (reader +
stage, its child process's CPU included) versus `page.get_text()` in a loop. OCR: seconds per page and
character error rate (CER) against ground truth for tesseract and rapidocr, each used alone (its own
reading order) and through Winnow's engines (column ordering, rotation check), on `linn` (two columns),
`ocr_test` and image-only renditions of born-digital pages whose own text layer is the reference.

    python bench/pdf.py [--data ../shared/data/pdf] [--dpi 150] [--rounds 3] [--renditions 2]
"""

from __future__ import annotations

import argparse
import glob
import os
import time
from pathlib import Path

import pymupdf

from winnow.ocr.cer import cer
from winnow.ocr.document import ExtractOptions, extract_pdf
from winnow.ocr.engines import RapidOcrEngine, TesseractEngine, read_page, render_rgb, tesseract_data
from winnow.ocr.reader import PdfReader
from winnow.ocr.stage import PdfExtractStage


def child_cpu(pid: int) -> float:
    """User + system CPU seconds of a running process (from /proc), to charge the child's work to Winnow."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def bench_text_layer(files: list[str], rounds: int) -> None:
    pages = sum(pymupdf.open(f).page_count for f in files)
    best_peer = best_ours = float("inf")
    wall_peer = wall_ours = float("inf")
    stage = PdfExtractStage(engine="none")
    stage.ensure_setup()
    stage.worker.start()
    for _ in range(rounds):
        t0, c0 = time.perf_counter(), time.process_time()
        for f in files:
            with pymupdf.open(f) as doc:
                for page in doc:
                    page.get_text()
        wall_peer = min(wall_peer, time.perf_counter() - t0)
        best_peer = min(best_peer, time.process_time() - c0)

        pid = stage.worker.proc.pid
        t0, c0, k0 = time.perf_counter(), time.process_time(), child_cpu(pid)
        for f in files:
            for batch in PdfReader().read(f):
                out = stage(batch.kept)
                assert out.kept.num_rows == 1, f
        wall_ours = min(wall_ours, time.perf_counter() - t0)
        best_ours = min(best_ours, time.process_time() - c0 + child_cpu(pid) - k0)
    stage.worker.close()
    print(f"text layer: {len(files)} born-digital PDFs, {pages} pages, best of {rounds}")
    print(f"  pymupdf get_text alone : {pages / best_peer:7.1f} pages/CPU-s   {pages / wall_peer:7.1f} pages/s wall")
    print(f"  winnow pdf_extract     : {pages / best_ours:7.1f} pages/CPU-s   {pages / wall_ours:7.1f} pages/s wall")
    print(f"  ratio winnow/pymupdf   : {best_peer / best_ours:7.2f} (CPU)        {wall_peer / wall_ours:7.2f} (wall)")


def image_only(page: pymupdf.Page, dpi: int) -> pymupdf.Document:
    """A scan-like copy of a page: its rendering as the only content, no text layer."""
    pix = page.get_pixmap(dpi=dpi)
    doc = pymupdf.open()
    doc.new_page(width=page.rect.width, height=page.rect.height).insert_image(page.rect, pixmap=pix)
    return doc


def ocr_cases(data: Path, dpi: int, renditions: int) -> list[tuple[str, pymupdf.Page, str, bool]]:
    """(name, page, reference text, reference is Markdown)."""
    cases = [
        (
            "linn (2 columns)",
            pymupdf.open(data / "scanned/ocrmypdf/linn.pdf")[0],
            (data / "scanned/ocrmypdf/linn.txt").read_text(),
            False,
        ),
        (
            "ocr_test",
            pymupdf.open(data / "scanned/docling/ocr_test.pdf")[0],
            (data / "scanned/docling/ocr_test.groundtruth.md").read_text(),
            True,
        ),
    ]
    for name in ["multi_page.pdf", "normal_4pages.pdf", "amt_handbook_sample.pdf"][:renditions]:
        path = data / "born_digital/docling" / name
        src = pymupdf.open(path)
        reference = extract_pdf(path.read_bytes(), ExtractOptions(remove_headers=False), None)
        start, end = reference["offsets"][0]
        cases.append((f"{name} p1 as image", image_only(src[0], 200)[0], reference["text"][start:end], False))
    return cases


def peer_tesseract(page: pymupdf.Page, dpi: int) -> str:
    tp = page.get_textpage_ocr(language="eng", dpi=dpi, full=True)
    return page.get_text(textpage=tp)


def bench_ocr(data: Path, dpi: int, renditions: int) -> None:
    cases = ocr_cases(data, dpi, renditions)
    engines = []
    if tesseract_data("eng"):
        engines.append(("tesseract", TesseractEngine("eng"), peer_tesseract))
    else:
        print("tesseract: language data not installed, skipped")
    rapid = RapidOcrEngine()
    engines.append(("rapidocr", rapid, lambda page, dpi: "\n".join(rapid._ocr(render_rgb(page, dpi)[0]).txts or ())))
    print(f"\nOCR at {dpi} dpi: CER (lower is better) and seconds per page, library alone vs through Winnow")
    print(f"  {'page':28s} {'engine':10s} {'CER alone':>9s} {'CER winnow':>10s} {'s alone':>8s} {'s winnow':>8s}")
    totals: dict[str, list[float]] = {}
    for name, page, ref, md in cases:
        for ename, engine, peer in engines:
            t0 = time.perf_counter()
            alone = peer(page, dpi)
            t1 = time.perf_counter()
            ours, _ = read_page(engine, page, dpi)
            t2 = time.perf_counter()
            c_alone, c_ours = cer(alone, ref, md), cer(ours, ref, md)
            print(f"  {name:28s} {ename:10s} {c_alone:9.3f} {c_ours:10.3f} {t1 - t0:8.2f} {t2 - t1:8.2f}")
            acc = totals.setdefault(ename, [0.0, 0.0, 0.0, 0.0])
            for i, v in enumerate((c_alone, c_ours, t1 - t0, t2 - t1)):
                acc[i] += v
    n = len(cases)
    for ename, (ca, co, ta, to) in totals.items():
        print(
            f"  mean {ename:10s} CER alone {ca / n:.3f}  winnow {co / n:.3f}   "
            f"pages/s alone {n / ta:.2f}  winnow {n / to:.2f}"
        )


def main() -> None:
    here = Path(__file__).resolve().parents[1]
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--data", default=str(here.parent / "shared" / "data" / "pdf"))
    ap.add_argument("--dpi", type=int, default=150)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--renditions", type=int, default=2, help="born-digital pages OCRed as images (0-3)")
    ap.add_argument("--skip-ocr", action="store_true")
    args = ap.parse_args()
    data = Path(args.data)
    files = sorted(glob.glob(str(data / "born_digital" / "**" / "*.pdf"), recursive=True))
    print(f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores (CPU-second figures are the robust ones)")
    bench_text_layer(files, args.rounds)
    if not args.skip_ocr:
        bench_ocr(data, args.dpi, args.renditions)


if __name__ == "__main__":
    main()
