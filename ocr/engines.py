"""OCR engines behind one interface (rapidocr on CPU, tesseract through pymupdf, a local VLM on GPU), offline only,
and `read_page`, which OCRs a page upright whichever way it was scanned."""

from __future__ import annotations

import hashlib
import importlib.metadata
import logging
import os
import re
import shutil
from pathlib import Path
from typing import ClassVar, NamedTuple

import pymupdf

from winnow.ocr.orientation import OrientationDetector, line_votes, page_turn
from winnow.ocr.render import MAX_PIXELS, capped_zoom, render_rgb
from winnow.ocr.textlayer import Block, order_blocks

__all__ = ["MAX_PIXELS", "capped_zoom", "render_rgb"]  # re-exported: engines' callers render pages from here

log = logging.getLogger("winnow.ocr")

ENGINE_NAMES = ("auto", "rapidocr", "tesseract", "vlm", "none")
_VOWEL = re.compile(r"[aeiouyAEIOUY]")
_SPECK = re.compile(r"[_|~]+")
_PUNCT = ".,;:!?()[]{}\"'«»“”‘’-–—*"


class OcrUnavailable(RuntimeError):
    """The engine cannot run here (package, language data, model directory or GPU missing). Never downloads."""


class OcrEngine:
    """Reads one page as rendered (its /Rotate applied). Built once per child process; models load once."""

    name: ClassVar[str] = ""
    default_dpi: ClassVar[int] = 150  # render resolution when the stage does not set ocr_dpi (the VLM's: not measured)
    turns_first: ClassVar[bool] = False  # a reading costs too much to repeat: find the page's turn before reading
    version: str = ""  # what produced the text (package, models, language data), recorded with every OCR'd page
    detector: OrientationDetector | None = None  # finds a page's turn when the engine's own reading cannot tell

    def read(self, page: pymupdf.Page, dpi: int) -> str:
        raise NotImplementedError

    def read_with_turn(self, page: pymupdf.Page, dpi: int) -> tuple[str, int | None]:
        """The text, and the turn (degrees clockwise) the page needs to read upright when the reading shows it;
        None when the engine cannot tell."""
        return self.read(page, dpi), None


def wheel_rapidocr(threads: int = 1, recognise: bool = True):
    """A rapidocr.RapidOCR on the ONNX files inside the rapidocr wheel, named explicitly so that it never reaches
    for its download path; without the recogniser it only finds and classifies lines. Returns (ocr, model paths)."""
    try:
        import rapidocr
        from rapidocr import RapidOCR
    except ImportError as exc:
        raise OcrUnavailable(f"rapidocr is not installed: {exc}") from None
    models = Path(rapidocr.__file__).parent / "models"
    paths = {}
    for task in ("det", "cls", "rec") if recognise else ("det", "cls"):
        found = sorted(models.glob(f"*_{task}_*.onnx"))
        if not found:
            raise OcrUnavailable(
                f"rapidocr's {task} model is not inside the wheel ({models}); Winnow does not download"
            )
        paths[task] = str(found[0])
    params = {
        "Global.log_level": "error",
        "Global.use_rec": recognise,
        "EngineConfig.onnxruntime.intra_op_num_threads": threads,
        "EngineConfig.onnxruntime.inter_op_num_threads": 1,
    }
    params.update({f"{task.capitalize()}.model_path": path for task, path in paths.items()})
    return RapidOCR(params=params), paths


def orientation_detector(threads: int = 1) -> OrientationDetector | None:
    """The line-based orientation detector, or None where rapidocr is missing (read_page then tries each turn)."""
    try:
        ocr, _ = wheel_rapidocr(threads, recognise=False)
    except OcrUnavailable as exc:
        log.warning("no orientation detector, rotated pages are found by trying each turn: %s", exc)
        return None
    return OrientationDetector(ocr)


class RapidOcrEngine(OcrEngine):
    """PaddleOCR models on onnxruntime, from the rapidocr wheel. Its own line boxes and 0/180 line classifier tell
    the page's turn at no extra cost."""

    name = "rapidocr"
    # Chosen like tesseract's (see TesseractEngine.default_dpi): 100 dpi read the choosing split as well as 150
    # (pooled word-bag error 0.062 against 0.060, inside the 0.005 tolerance) in about half the time.
    default_dpi = 100

    def __init__(self, threads: int = 1):
        self._ocr, self.model_paths = wheel_rapidocr(threads)
        self.version = importlib.metadata.version("rapidocr")  # the models ship inside this wheel version

    def read(self, page: pymupdf.Page, dpi: int) -> str:
        return self.read_with_turn(page, dpi)[0]

    def read_with_turn(self, page: pymupdf.Page, dpi: int) -> tuple[str, int]:
        img, zoom = render_rgb(page, dpi)
        # rapidocr's own steps, as its __call__ runs them, so that the line classifier's verdicts are seen too.
        ocr = self._ocr
        original = ocr.load_img(img)
        prepared, record = ocr.preprocess_img(original)
        det, cls, rec, crops = ocr.run_ocr_steps(prepared, record)
        turn = page_turn(line_votes(det.boxes, cls.cls_res))
        result = ocr.build_final_output(original, det, cls, rec, crops, record)
        boxes, txts = getattr(result, "boxes", None), getattr(result, "txts", None)
        if boxes is None or not txts:
            return "", turn
        return _in_reading_order(boxes, txts, zoom), turn


def _in_reading_order(boxes, txts, zoom: float) -> str:
    """rapidocr lists lines top to bottom across the whole page; the text layer's column ordering puts a
    two-column scan back into reading order."""
    lines = []
    for box, txt in zip(boxes, txts):
        xs, ys = box[:, 0] / zoom, box[:, 1] / zoom
        lines.append(Block(float(xs.min()), float(ys.min()), float(xs.max()), float(ys.max()), txt))
    return "\n".join(b.text for b in order_blocks(lines))


class TesseractEngine(OcrEngine):
    """Tesseract inside MuPDF (pymupdf's pdfocr): needs only the language data (tesseract-ocr-<lang>)."""

    name = "tesseract"
    # Chosen by `bench/pdf.py --choose-dpi` on its choosing split (the c02-22 scan and five born-digital pages as
    # images), never on the pages whose CER is reported (linn, ocr_test, two more): the cheapest resolution within
    # 0.005 of the best pooled word-bag error. 300 dpi: 0.180 (150: 0.201, 200: 0.236, 400: 0.188).
    default_dpi = 300

    def __init__(self, language: str = "eng", tessdata: str | None = None):
        self.tessdata = tesseract_data(language, tessdata)
        if self.tessdata is None:
            raise OcrUnavailable(
                f"tesseract language data for {language!r} not found (apt-get install tesseract-ocr-eng)"
            )
        self.language = language
        self.version = tesseract_version(self.tessdata, language)
        self.detector = orientation_detector()

    def read(self, page: pymupdf.Page, dpi: int) -> str:
        # pymupdf's get_textpage_ocr maps words back through the page's /Rotate and loses those that land outside
        # the unrotated page: read the page as shown, in a one-page OCR PDF of its own, instead.
        zoom = capped_zoom(page, dpi)
        pix = page.get_pixmap(matrix=pymupdf.Matrix(zoom, zoom), colorspace=pymupdf.csRGB, alpha=False)
        ocr_pdf = pix.pdfocr_tobytes(compress=False, language=self.language, tessdata=self.tessdata)
        with pymupdf.open(stream=ocr_pdf, filetype="pdf") as doc:
            scale = page.rect.width / doc[0].rect.width
            words = [(*(pymupdf.Rect(w[:4]) * scale), *w[4:]) for w in doc[0].get_text("words", flags=0)]
        # MuPDF merges OCR words on one baseline into one line even across a column gutter, so lines are
        # rebuilt from words, cut at wide gaps, and ordered like rapidocr's lines.
        return "\n".join(b.text for b in order_blocks(line_segments(words)))


def tesseract_version(tessdata: str, language: str) -> str:
    """Tesseract is the one built into MuPDF; what it reads also depends on the language data, named by digest."""
    digest = hashlib.sha256()
    for lang in language.split("+"):
        with open(os.path.join(tessdata, f"{lang}.traineddata"), "rb") as f:
            digest.update(f.read())
    return f"mupdf{pymupdf.mupdf_version}-{language}.{digest.hexdigest()[:8]}"


def line_segments(words: list[tuple]) -> list[Block]:
    """pymupdf words (x0, y0, x1, y1, word, block, line, n) to line pieces, split where the gap between two
    words is wider than 0.7 line heights (a column gutter; spaces are about a third of that)."""
    lines: dict[tuple[int, int], list[tuple]] = {}
    for w in words:
        if not _SPECK.fullmatch(w[4]):  # "_" or "|" read from a speck in the gutter would bridge two columns
            lines.setdefault((w[5], w[6]), []).append(w)
    out: list[Block] = []
    for ws in lines.values():
        ws.sort(key=lambda w: w[0])
        piece = [ws[0]]
        for w in ws[1:]:
            if w[0] - piece[-1][2] > 0.7 * max(w[3] - w[1], piece[-1][3] - piece[-1][1]):
                out.append(_piece(piece))
                piece = []
            piece.append(w)
        out.append(_piece(piece))
    return out


def _piece(ws: list[tuple]) -> Block:
    return Block(
        min(w[0] for w in ws),
        min(w[1] for w in ws),
        max(w[2] for w in ws),
        max(w[3] for w in ws),
        " ".join(w[4] for w in ws),
    )


def tesseract_data(language: str = "eng", tessdata: str | None = None) -> str | None:
    """The tessdata folder holding every `+`-joined language of `language`, or None."""
    try:
        folder = tessdata or pymupdf.get_tessdata()
    except Exception:  # noqa: BLE001 - pymupdf raises when no tesseract installation is found
        return None
    if folder and all(os.path.isfile(os.path.join(folder, f"{lang}.traineddata")) for lang in language.split("+")):
        return folder
    return None


VLM_PROMPT = (
    "Transcribe every piece of text on this document page in natural reading order, as plain text. "
    "Keep headings and paragraphs; write tables in Markdown and equations in LaTeX. "
    "Do not describe pictures. Output only the transcription."
)


class VlmEngine(OcrEngine):
    """An olmOCR-style vision-language model from a local directory, on GPU, via vLLM or transformers.

    Only built when a model directory is configured and CUDA is present; nothing is fetched from a hub. A reading
    costs seconds of GPU, so the page's turn is found first, on a small rendering, and the model sees it upright."""

    name = "vlm"
    turns_first = True

    def __init__(self, model_dir: str, backend: str = "transformers", max_new_tokens: int = 3000):
        if not model_dir or not os.path.isdir(model_dir):
            raise OcrUnavailable(f"VLM model directory {model_dir!r} does not exist")
        if not gpu_available():
            raise OcrUnavailable("no CUDA GPU visible to this process")
        self.model_dir, self.backend, self.max_new_tokens = model_dir, backend, max_new_tokens
        self.version = f"{Path(model_dir).name}-{backend}{_package_version(backend)}"
        self.detector = orientation_detector()
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
        try:
            if backend == "vllm":
                from vllm import LLM, SamplingParams

                self._llm = LLM(model=model_dir, limit_mm_per_prompt={"image": 1}, max_model_len=16384)
                self._sampling = SamplingParams(temperature=0.0, max_tokens=max_new_tokens)
            else:
                import torch
                from transformers import AutoModelForImageTextToText, AutoProcessor

                self._processor = AutoProcessor.from_pretrained(model_dir, local_files_only=True)
                self._model = AutoModelForImageTextToText.from_pretrained(
                    model_dir, local_files_only=True, torch_dtype=torch.bfloat16, device_map="cuda"
                ).eval()
        except ImportError as exc:
            raise OcrUnavailable(f"VLM backend {backend!r} is not installed: {exc}") from None

    def read(self, page: pymupdf.Page, dpi: int) -> str:
        from PIL import Image

        img, _ = render_rgb(page, dpi)
        image = Image.fromarray(img)
        messages = [{"role": "user", "content": [{"type": "image"}, {"type": "text", "text": VLM_PROMPT}]}]
        if self.backend == "vllm":
            tok = self._llm.get_tokenizer()
            prompt = tok.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
            out = self._llm.generate({"prompt": prompt, "multi_modal_data": {"image": image}}, self._sampling)
            return strip_front_matter(out[0].outputs[0].text)
        import torch

        prompt = self._processor.apply_chat_template(messages, add_generation_prompt=True)
        inputs = self._processor(text=[prompt], images=[image], return_tensors="pt").to("cuda")
        with torch.inference_mode():
            out = self._model.generate(**inputs, max_new_tokens=self.max_new_tokens, do_sample=False)
        new_tokens = out[0, inputs["input_ids"].shape[1] :]
        return strip_front_matter(self._processor.decode(new_tokens, skip_special_tokens=True))


def strip_front_matter(text: str) -> str:
    """olmOCR models answer with a YAML header (language, rotation, is_table...) before the text: keep the text."""
    text = text.strip()
    if text.startswith("---"):
        end = text.find("\n---", 3)
        if end != -1:
            return text[end + 4 :].strip()
    return text


def gpu_available() -> bool:
    if not (os.path.exists("/dev/nvidia0") or shutil.which("nvidia-smi")):
        return False  # no NVIDIA device at all: spare the seconds that importing torch costs
    try:
        import torch
    except ImportError:
        return False
    return bool(torch.cuda.is_available())


def _package_version(package: str) -> str:
    try:
        return importlib.metadata.version(package)
    except importlib.metadata.PackageNotFoundError:
        return ""


def build_engine(
    name: str,
    *,
    language: str = "eng",
    threads: int = 1,
    vlm_model_dir: str | None = None,
    vlm_backend: str = "transformers",
    vlm_max_new_tokens: int = 3000,
) -> OcrEngine | None:
    """The engine a config asks for. `auto` is rapidocr, whose models ship in the wheel, so that one config reads
    the same text on every machine; tesseract (present or not, depending on the machine) only when named. A `vlm`
    that cannot run here (no model directory, no GPU) falls back to rapidocr, logged; `none` turns OCR off."""
    if name not in ENGINE_NAMES:
        raise ValueError(f"unknown OCR engine {name!r}; allowed: {', '.join(ENGINE_NAMES)}")
    if name == "none":
        return None
    if name == "vlm":
        try:
            return VlmEngine(vlm_model_dir or "", vlm_backend, vlm_max_new_tokens)
        except OcrUnavailable as exc:
            log.warning("VLM OCR engine unavailable, reading with rapidocr: %s", exc)
    if name == "tesseract":
        return TesseractEngine(language)
    return RapidOcrEngine(threads)


# Upside-down or sideways text read by tesseract still looks like words ("uonng pasn"), but hardly ever like these.
_COMMON_WORDS = frozenset(
    ("the", "and", "of", "to", "in", "is", "for", "on", "with", "that", "this", "are", "be", "as", "by", "it", "or")
    + ("an", "at", "from", "was", "not", "you", "your", "can", "all", "has", "have", "will", "which", "their")
    + ("they", "its", "were", "been", "more", "other", "into", "only", "also", "may", "one")
)


def word_count(text: str) -> int:
    """Tokens that look like words (three or more letters; Latin ones with a vowel): upright text has many."""
    n = 0
    for tok in text.split():
        tok = tok.strip(_PUNCT)
        if len(tok) >= 3 and tok.isalpha() and (not tok.isascii() or _VOWEL.search(tok)):
            n += 1
    return n


def common_word_count(text: str) -> int:
    return sum(1 for tok in text.split() if tok.strip(_PUNCT).lower() in _COMMON_WORDS)


def reading_score(text: str) -> tuple[int, int]:
    """How upright a reading looks, to compare two turns of a page: common English words, then word-like tokens."""
    return common_word_count(text), word_count(text)


def looks_upright(text: str) -> bool:
    """English prose read upright: one token in twenty is a common word (upright pages here 15-25 %, upside-down
    or sideways ones 1-3 %). Other text is not judged here: the orientation detector looks at it."""
    common = common_word_count(text)
    return common >= 3 and common >= 0.05 * len(text.split())


class PageReading(NamedTuple):
    text: str
    turn: int  # degrees clockwise applied on top of the page's /Rotate before the kept reading
    rereads: int  # OCR passes beyond the first, spent on orientation


def read_page(
    engine: OcrEngine, page: pymupdf.Page, dpi: int | None = None, detect_rotation: bool = True
) -> PageReading:
    """OCR one page (at `dpi`, or the engine's own resolution) upright. The orientation test is paid only where
    needed: rapidocr's reading shows the turn for free; tesseract's is checked when it does not read as words; the
    VLM's page is turned before reading. A turned re-read is kept only when it confirms the turn."""
    dpi = dpi or engine.default_dpi
    if not detect_rotation:
        return PageReading(engine.read(page, dpi), 0, 0)
    if engine.turns_first:
        turn = engine.detector.turn(page) if engine.detector else 0
        return PageReading(_read_turned(engine, page, dpi, turn)[0], turn, 0)
    text, turn = engine.read_with_turn(page, dpi)
    if turn is None:
        if looks_upright(text):
            return PageReading(text, 0, 0)
        if engine.detector is None:
            return _turn_by_words(engine, page, dpi, text)
        # Not the likelier turn but a clear one: text in a language the model lacks fails the word test too,
        # and the 0/180 classifier is near even on scripts it was not trained on (a Korean page: 65/35).
        turn = engine.detector.turn(page)
    if not turn:
        return PageReading(text, 0, 0)
    turned, still = _read_turned(engine, page, dpi, turn)
    confirmed = still == 0 if still is not None else reading_score(turned) > reading_score(text)
    return PageReading(turned, turn, 1) if confirmed else PageReading(text, 0, 1)


def _read_turned(engine: OcrEngine, page: pymupdf.Page, dpi: int, turn: int) -> tuple[str, int | None]:
    base = page.rotation
    page.set_rotation((base + turn) % 360)
    try:
        return engine.read_with_turn(page, dpi)
    finally:
        page.set_rotation(base)


def _turn_by_words(engine: OcrEngine, page: pymupdf.Page, dpi: int, text: str) -> PageReading:
    """Without a detector: read the page at each other turn and keep the reading that looks most upright."""
    best = PageReading(text, 0, 3)
    for turn in (90, 270, 180):
        candidate = _read_turned(engine, page, dpi, turn)[0]
        if reading_score(candidate) > reading_score(best.text):
            best = PageReading(candidate, turn, 3)
    return best
