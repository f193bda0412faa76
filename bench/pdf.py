"""PDF benchmark: Winnow's pdf_extract against pymupdf alone (text layer) and against the OCR libraries alone.

Text layer: pages per CPU-second (= pages/s on one core) over the born-digital samples, Winnow (reader +
stage, its child process's CPU included) versus `page.get_text()` in a loop. OCR: seconds per page and
character error rate (CER) against ground truth for tesseract and rapidocr, each used alone (its own
reading order) and through Winnow's engines (column ordering, orientation), on the reporting split.

Pages with ground truth are split in two. The choosing split (the real scan `c02-22` and image-only renditions
of five born-digital pages) is where `--choose-dpi` picks each engine's default resolution; the reporting split
(the real scans `linn` and `ocr_test`, two more renditions) is where CER is reported, never used to choose.
`--rotations` reads one scan turned by 0/90/180/270 degrees and gives each reading's similarity (1 - CER) to
the upright one, before (as rendered) and after Winnow's orientation step.

    python bench/pdf.py [--data ../shared/data/pdf] [--dpi N] [--rounds 3] [--renditions 2]
    python bench/pdf.py --skip-text-layer --choose-dpi
    python bench/pdf.py --skip-text-layer --skip-ocr --rotations [--rotation-page ocrmypdf/linn.pdf]
"""

from __future__ import annotations

import argparse
import glob
import os
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import pymupdf

from winnow.ocr.cer import cer, normalise, word_bag_error
from winnow.ocr.document import ExtractOptions, extract_pdf
from winnow.ocr.engines import OcrEngine, RapidOcrEngine, TesseractEngine, read_page, render_rgb, tesseract_data
from winnow.ocr.reader import PdfReader
from winnow.ocr.stage import PdfExtractStage

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the tests' helpers, as bench/rights.py does
from tests.ocr.pdf_turned import turned_pdf  # noqa: E402

# Candidate resolutions. rapidocr shrinks any image whose long side exceeds 2000 px, so above ~180 dpi on a
# letter page it sees the same pixels; tesseract is documented for 300 dpi scans.
DPI_CANDIDATES = {"rapidocr": (100, 150, 200), "tesseract": (150, 200, 300, 400)}
# Chosen on the word-bag error (recognition, whatever the reading order): the choosing renditions' references
# are text layers whose order differs from any OCR's on multi-column pages, which would make CER judge layout.
DPI_TOLERANCE = 0.005  # the cheapest resolution within half a point of the best pooled word-bag error is chosen
# Born-digital pages turned into scans: (file under born_digital/, page index, scan resolution).
CHOOSING_RENDITIONS = (
    ("docling/2305.03393v1-pg9.pdf", 0, 200),
    ("docling/amt_handbook_sample.pdf", 0, 300),
    ("pdfplumber/federal-register-2020-17221.pdf", 0, 300),
    ("papers/cs336_spring2025_assignment4_data.pdf", 0, 200),
    ("pdfplumber/scotus-transcript-p1.pdf", 0, 200),
)
REPORTING_RENDITIONS = (("docling/multi_page.pdf", 0, 200), ("docling/normal_4pages.pdf", 0, 200))
NOT_ENGLISH = {"normal_4pages.pdf p1 as image"}  # Korean: listed, left out of the pooled English figures


@dataclass
class Case:
    name: str
    page: pymupdf.Page
    reference: str
    markdown: bool = False
    doc: pymupdf.Document | None = None  # keeps the page's document open


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
    stage.worker.child.start()  # the child up before the timer: its start-up is not per page
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


def scan(data: Path, pdf: str, truth: str, markdown: bool = False) -> Case:
    doc = pymupdf.open(data / "scanned" / pdf)
    return Case(Path(pdf).stem, doc[0], (data / "scanned" / truth).read_text(), markdown, doc)


def rendition(data: Path, pdf: str, index: int, scan_dpi: int) -> Case:
    """An image-only copy of a born-digital page; its own text layer (as Winnow extracts it) is the reference."""
    path = data / "born_digital" / pdf
    reference = extract_pdf(path.read_bytes(), ExtractOptions(remove_headers=False), None)
    start, end = reference["offsets"][index]
    doc = image_only(pymupdf.open(path)[index], scan_dpi)
    return Case(f"{Path(pdf).name} p{index + 1} as image", doc[0], reference["text"][start:end], doc=doc)


def choosing_split(data: Path) -> list[Case]:
    cases = [scan(data, "ocrmypdf/c02-22.pdf", "ocrmypdf/c02-22.groundtruth_from_pg76.txt")]
    return cases + [rendition(data, *r) for r in CHOOSING_RENDITIONS]


def reporting_split(data: Path, renditions: int) -> list[Case]:
    cases = [
        scan(data, "ocrmypdf/linn.pdf", "ocrmypdf/linn.txt"),
        scan(data, "docling/ocr_test.pdf", "docling/ocr_test.groundtruth.md", markdown=True),
    ]
    return cases + [rendition(data, *r) for r in REPORTING_RENDITIONS[:renditions]]


def engines() -> list[OcrEngine]:
    found: list[OcrEngine] = []
    if tesseract_data("eng"):
        found.append(TesseractEngine("eng"))
    else:
        print("tesseract: language data not installed, skipped")
    return found + [RapidOcrEngine()]


def peer_reading(engine: OcrEngine, page: pymupdf.Page, dpi: int) -> str:
    """The library alone: pymupdf's OCR text page for tesseract, rapidocr's own line list."""
    if isinstance(engine, TesseractEngine):
        tp = page.get_textpage_ocr(language="eng", dpi=dpi, full=True)
        return page.get_text(textpage=tp)
    return "\n".join(engine._ocr(render_rgb(page, dpi)[0]).txts or ())


@dataclass
class Score:
    cer: float
    words: float  # word-bag error
    seconds: float
    turn: int


def score(engine: OcrEngine, case: Case, dpi: int) -> Score:
    """One page through Winnow (read_page, orientation included) against its reference."""
    t0 = time.perf_counter()
    reading = read_page(engine, case.page, dpi)
    seconds = time.perf_counter() - t0
    return Score(
        cer(reading.text, case.reference, case.markdown),
        word_bag_error(reading.text, case.reference, case.markdown),
        seconds,
        reading.turn,
    )


def pooled(cases: list[Case], values: list[float], words: bool = False) -> float:
    """Errors over reference length pooled across the English pages (each page weighs by its length, so one
    short page full of drawing specks cannot decide alone)."""
    pairs = [(c, v) for c, v in zip(cases, values) if c.name not in NOT_ENGLISH]
    sizes = [
        len(normalise(c.reference, c.markdown).split() if words else normalise(c.reference, c.markdown))
        for c, _ in pairs
    ]
    return sum(v * n for (_, v), n in zip(pairs, sizes)) / sum(sizes)


def bench_ocr(data: Path, dpi: int | None, renditions: int) -> None:
    cases = reporting_split(data, renditions)
    print(f"\nOCR on the reporting split at {dpi or 'each engine default'} dpi: CER (lower is better) and seconds")
    print(
        f"  {'page':32s} {'engine':10s} {'dpi':>4s} {'CER alone':>9s} {'CER winnow':>10s} {'s alone':>8s} {'s winnow':>8s}"
    )
    for engine in engines():
        at = dpi or engine.default_dpi
        rows = []
        for case in cases:
            t0 = time.perf_counter()
            alone = cer(peer_reading(engine, case.page, at), case.reference, case.markdown)
            t_alone = time.perf_counter() - t0
            got = score(engine, case, at)
            ours, t_ours = got.cer, got.seconds
            rows.append((alone, ours, t_alone, t_ours))
            print(
                f"  {case.name:32s} {engine.name:10s} {at:4d} {alone:9.3f} {ours:10.3f} {t_alone:8.2f} {t_ours:8.2f}"
            )
        alone_m, ours_m = (pooled(cases, [r[k] for r in rows]) for k in (0, 1))
        secs = [sum(r[k] for r in rows) for k in (2, 3)]
        print(
            f"  pooled over English pages, {engine.name}: CER alone {alone_m:.3f}  winnow {ours_m:.3f}   "
            f"pages/s alone {len(cases) / secs[0]:.2f}  winnow {len(cases) / secs[1]:.2f}"
        )


def choose_dpi(engine: OcrEngine, cases: list[Case]) -> int:
    """Pooled word-bag error per candidate resolution on the choosing split; the cheapest within DPI_TOLERANCE of
    the best. CER is shown beside it."""
    means = {}
    for dpi in DPI_CANDIDATES[engine.name]:
        scores = [score(engine, case, dpi) for case in cases]
        means[dpi] = pooled(cases, [s.words for s in scores], words=True)
        mean_cer = pooled(cases, [s.cer for s in scores])
        per_page = " ".join(f"{s.words:.3f}/{s.cer:.3f}" for s in scores)
        turned = sum(1 for s in scores if s.turn)
        print(
            f"  {engine.name:10s} {dpi:4d} dpi  word-bag {means[dpi]:.3f}  CER {mean_cer:.3f}  "
            f"pages (word-bag/CER) {per_page}  {sum(s.seconds for s in scores):6.1f} s"
            + (f"  ({turned} pages turned)" if turned else "")
        )
    best = min(means.values())
    return min(dpi for dpi, m in means.items() if m <= best + DPI_TOLERANCE)


def bench_choose_dpi(data: Path, renditions: int) -> None:
    choosing, reporting = choosing_split(data), reporting_split(data, renditions)
    print(f"\nOCR resolution chosen on the choosing split ({', '.join(c.name for c in choosing)})")
    chosen = {engine.name: (engine, choose_dpi(engine, choosing)) for engine in engines()}
    print(f"\nreported on the reporting split ({', '.join(c.name for c in reporting)}), never used to choose")
    for name, (engine, dpi) in chosen.items():
        for at in sorted({dpi, engine.default_dpi}):
            scores = [score(engine, case, at) for case in reporting]
            per_page = "  ".join(f"{c.name} {s.cer:.3f}" for c, s in zip(reporting, scores))
            mean_cer = pooled(reporting, [s.cer for s in scores])
            mean_words = pooled(reporting, [s.words for s in scores], words=True)
            label = "chosen" if at == dpi else "default"
            print(
                f"  {name:10s} {label} {at} dpi: English pooled CER {mean_cer:.3f}, word-bag {mean_words:.3f}; "
                f"CER {per_page}"
            )


def turned_copy(path: Path, turn: int) -> pymupdf.Document:
    """A one-page PDF whose content is the page turned by `turn` degrees, /Rotate 0: a scan fed in sideways."""
    return pymupdf.open("pdf", turned_pdf(path, turn))


def bench_rotations(data: Path, page_path: str) -> None:
    path = data / "scanned" / page_path
    print(f"\nOrientation: {page_path} turned by 0/90/180/270 degrees, similarity (1 - CER) to the upright reading")
    print(f"  {'engine':10s} {'turn':>4s} {'as rendered':>11s} {'winnow':>7s} {'found':>5s} {'CPU-s':>6s}")
    for engine in engines():
        upright = engine.read(turned_copy(path, 0)[0], engine.default_dpi)
        for turn in (0, 90, 180, 270):
            page = turned_copy(path, turn)[0]
            before = max(0.0, 1 - cer(engine.read(page, engine.default_dpi), upright))
            c0 = time.process_time()
            reading = read_page(engine, page)
            cpu = time.process_time() - c0
            after = max(0.0, 1 - cer(reading.text, upright))
            print(f"  {engine.name:10s} {turn:4d} {before:11.3f} {after:7.3f} {reading.turn:5d} {cpu:6.1f}")


def main() -> None:
    here = Path(__file__).resolve().parents[1]
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--data", default=str(here.parent / "shared" / "data" / "pdf"))
    ap.add_argument("--dpi", type=int, default=None, help="OCR resolution (default: each engine's own)")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--renditions", type=int, default=2, help="born-digital pages OCRed as images (0-2)")
    ap.add_argument("--skip-text-layer", action="store_true")
    ap.add_argument("--skip-ocr", action="store_true")
    ap.add_argument("--choose-dpi", action="store_true", help="choose each engine's resolution, report it")
    ap.add_argument("--rotations", action="store_true", help="similarity per turn, per engine")
    ap.add_argument("--rotation-page", default="ocrmypdf/linn.pdf", help="scan under scanned/ for --rotations")
    args = ap.parse_args()
    data = Path(args.data)
    files = sorted(glob.glob(str(data / "born_digital" / "**" / "*.pdf"), recursive=True))
    print(f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores (CPU-second figures are the robust ones)")
    if not args.skip_text_layer:
        bench_text_layer(files, args.rounds)
    if not args.skip_ocr:
        bench_ocr(data, args.dpi, args.renditions)
    if args.choose_dpi:
        bench_choose_dpi(data, args.renditions)
    if args.rotations:
        bench_rotations(data, args.rotation_page)


if __name__ == "__main__":
    main()
