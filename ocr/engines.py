"""OCR engines behind one interface (rapidocr on CPU, tesseract through pymupdf, a local VLM on GPU), offline only."""

from __future__ import annotations

import logging
import math
import os
import re
import shutil
from pathlib import Path
from typing import ClassVar

import numpy as np
import pymupdf

from winnow.ocr.textlayer import Block, order_blocks

log = logging.getLogger("winnow.ocr")

ENGINE_NAMES = ("auto", "rapidocr", "tesseract", "vlm", "none")
MAX_PIXELS = 25_000_000  # a page rendered larger than this is scaled down: a 200x200-inch page must not eat memory
_VOWEL = re.compile(r"[aeiouyAEIOUY]")
_SPECK = re.compile(r"[_|~]+")
_PUNCT = ".,;:!?()[]{}\"'«»“”‘’-–—*"


class OcrUnavailable(RuntimeError):
    """The engine cannot run here (package, language data, model directory or GPU missing). Never downloads."""


def capped_zoom(page: pymupdf.Page, dpi: int, max_pixels: int = MAX_PIXELS) -> float:
    zoom = dpi / 72.0
    area = abs(page.rect) * zoom * zoom
    return zoom * math.sqrt(max_pixels / area) if area > max_pixels else zoom


def render_rgb(page: pymupdf.Page, dpi: int) -> tuple[np.ndarray, float]:
    """The page as an RGB array (page rotation applied), and the zoom used."""
    zoom = capped_zoom(page, dpi)
    pix = page.get_pixmap(matrix=pymupdf.Matrix(zoom, zoom), colorspace=pymupdf.csRGB, alpha=False)
    return np.frombuffer(pix.samples, np.uint8).reshape(pix.height, pix.width, 3), zoom


class OcrEngine:
    """Reads one page as rendered (its /Rotate applied). Built once per child process; models load once."""

    name: ClassVar[str] = ""
    default_dpi: ClassVar[int] = 150  # render resolution when the stage does not set ocr_dpi

    def read(self, page: pymupdf.Page, dpi: int) -> str:
        raise NotImplementedError


class RapidOcrEngine(OcrEngine):
    """PaddleOCR models on onnxruntime; the ONNX files ship inside the rapidocr wheel and are named explicitly,
    so rapidocr never reaches for its download path."""

    name = "rapidocr"

    def __init__(self, threads: int = 1):
        try:
            import rapidocr
            from rapidocr import RapidOCR
        except ImportError as exc:
            raise OcrUnavailable(f"rapidocr is not installed: {exc}") from None
        models = Path(rapidocr.__file__).parent / "models"
        paths = {}
        for task in ("det", "rec", "cls"):
            found = sorted(models.glob(f"*_{task}_*.onnx"))
            if not found:
                raise OcrUnavailable(
                    f"rapidocr's {task} model is not inside the wheel ({models}); Winnow does not download"
                )
            paths[task] = str(found[0])
        self._ocr = RapidOCR(
            params={
                "Global.log_level": "error",
                "Det.model_path": paths["det"],
                "Rec.model_path": paths["rec"],
                "Cls.model_path": paths["cls"],
                "EngineConfig.onnxruntime.intra_op_num_threads": threads,
                "EngineConfig.onnxruntime.inter_op_num_threads": 1,
            }
        )
        self.model_paths = paths

    def read(self, page: pymupdf.Page, dpi: int) -> str:
        img, zoom = render_rgb(page, dpi)
        result = self._ocr(img)
        if result.boxes is None or not result.txts:
            return ""
        # rapidocr lists lines top to bottom across the whole page; the text layer's column ordering
        # puts a two-column scan back into reading order.
        lines = []
        for box, txt in zip(result.boxes, result.txts):
            xs, ys = box[:, 0] / zoom, box[:, 1] / zoom
            lines.append(Block(float(xs.min()), float(ys.min()), float(xs.max()), float(ys.max()), txt))
        return "\n".join(b.text for b in order_blocks(lines))


class TesseractEngine(OcrEngine):
    """Tesseract inside MuPDF (pymupdf's OCR text page): needs only the language data (tesseract-ocr-<lang>)."""

    name = "tesseract"
    # Tesseract is tuned for 300 dpi scans: on the two-column `linn` page its CER is 5.5 % at 150 dpi, 1.9 % at 300.
    default_dpi = 300

    def __init__(self, language: str = "eng", tessdata: str | None = None):
        self.tessdata = tesseract_data(language, tessdata)
        if self.tessdata is None:
            raise OcrUnavailable(
                f"tesseract language data for {language!r} not found (apt-get install tesseract-ocr-eng)"
            )
        self.language = language

    def read(self, page: pymupdf.Page, dpi: int) -> str:
        eff_dpi = max(36, int(capped_zoom(page, dpi) * 72))
        tp = page.get_textpage_ocr(language=self.language, dpi=eff_dpi, full=True, tessdata=self.tessdata)
        # MuPDF merges OCR words on one baseline into one line even across a column gutter, so lines are
        # rebuilt from words, cut at wide gaps, and ordered like rapidocr's lines.
        segments = line_segments(page.get_text("words", textpage=tp))
        return "\n".join(b.text for b in order_blocks(segments))


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

    Only built when a model directory is configured and CUDA is present; nothing is fetched from a hub."""

    name = "vlm"

    def __init__(self, model_dir: str, backend: str = "transformers", max_new_tokens: int = 3000):
        if not model_dir or not os.path.isdir(model_dir):
            raise OcrUnavailable(f"VLM model directory {model_dir!r} does not exist")
        if not gpu_available():
            raise OcrUnavailable("no CUDA GPU visible to this process")
        self.model_dir, self.backend, self.max_new_tokens = model_dir, backend, max_new_tokens
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


def build_engine(
    name: str,
    *,
    language: str = "eng",
    threads: int = 1,
    vlm_model_dir: str | None = None,
    vlm_backend: str = "transformers",
    vlm_max_new_tokens: int = 3000,
) -> OcrEngine | None:
    """The engine a config asks for. `auto`: the VLM when a model dir is set and a GPU is present, else
    tesseract where its language data is installed, else rapidocr. An explicit `vlm` that cannot run here
    falls back the same way (logged); `none` turns OCR off."""
    if name not in ENGINE_NAMES:
        raise ValueError(f"unknown OCR engine {name!r}; allowed: {', '.join(ENGINE_NAMES)}")
    if name == "none":
        return None
    if name in ("auto", "vlm") and vlm_model_dir:
        try:
            return VlmEngine(vlm_model_dir, vlm_backend, vlm_max_new_tokens)
        except OcrUnavailable as exc:
            log.warning("VLM OCR engine skipped, using a CPU engine: %s", exc)
    if name == "rapidocr":
        return RapidOcrEngine(threads)
    if name == "tesseract":
        return TesseractEngine(language)
    if tesseract_data(language) is not None:
        return TesseractEngine(language)
    return RapidOcrEngine(threads)


def word_count(text: str) -> int:
    """Tokens that look like words (three or more letters; Latin ones with a vowel): upright text has many."""
    n = 0
    for tok in text.split():
        tok = tok.strip(_PUNCT)
        if len(tok) >= 3 and tok.isalpha() and (not tok.isascii() or _VOWEL.search(tok)):
            n += 1
    return n


def looks_upright(text: str) -> bool:
    tokens = text.split()
    words = word_count(text)
    return words >= 3 and words >= 0.4 * len(tokens)


def read_page(engine: OcrEngine, page: pymupdf.Page, dpi: int | None = None,
              detect_rotation: bool = True) -> tuple[str, int]:
    """OCR one page (at `dpi`, or the engine's own resolution); when the result does not read like text, try the
    page turned 90, 270 and 180 degrees and keep the reading with the most words.
    Returns (text, degrees applied on top of the page's /Rotate)."""
    dpi = dpi or engine.default_dpi
    text = engine.read(page, dpi)
    if not detect_rotation or looks_upright(text):
        return text, 0
    base = page.rotation
    best_words, best_angle, best_text = word_count(text), 0, text
    for angle in (90, 270, 180):
        page.set_rotation((base + angle) % 360)
        try:
            candidate = engine.read(page, dpi)
        finally:
            page.set_rotation(base)
        words = word_count(candidate)
        if words > best_words:
            best_words, best_angle, best_text = words, angle, candidate
    return best_text, best_angle
