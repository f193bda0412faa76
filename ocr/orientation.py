"""Page orientation before OCR: the quarter turn that makes a page's text upright, from text-line boxes and
rapidocr's 0/180 line classifier (both ship in the rapidocr wheel, so every engine can use them)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pymupdf

from winnow.ocr.render import render_rgb

DETECT_DPI = 100  # 9-pt type is ~12 px high here: enough for the line detector and the classifier, at ~0.5 CPU-s
ELONGATED = 1.5  # a box this much longer than high is a line with a direction (rapidocr turns crops at this ratio)
MARGIN = 2.0  # turn a page only when one way of reading it outweighs the other this much


@dataclass(frozen=True)
class Votes:
    """Total length of text-line boxes by direction (across or down the rendered page) and by what the line
    classifier saw in their crops: upright, or flipped by 180 degrees."""

    across_upright: float = 0.0
    across_flipped: float = 0.0
    down_upright: float = 0.0
    down_flipped: float = 0.0

    @property
    def across(self) -> float:
        return self.across_upright + self.across_flipped

    @property
    def down(self) -> float:
        return self.down_upright + self.down_flipped


def line_votes(boxes: np.ndarray | None, classes: list[tuple[str, float]] | None) -> Votes:
    """Votes from rapidocr's detector boxes (4 corners, top-left first) and its classifier's (label, score) per box.

    rapidocr turns a tall crop 90 degrees anticlockwise before classifying it, so for a page lying on its side
    "upright" and "flipped" tell which way it lies."""
    if boxes is None or len(boxes) == 0 or not classes:
        return Votes()
    boxes = np.asarray(boxes, dtype=np.float64)
    width = np.linalg.norm(boxes[:, 0] - boxes[:, 1], axis=1)
    height = np.linalg.norm(boxes[:, 0] - boxes[:, 3], axis=1)
    length = np.maximum(width, height)  # long lines carry more evidence than stray marks
    flipped = np.array(["180" in label for label, _ in classes], dtype=bool)
    across, down = width >= ELONGATED * height, height >= ELONGATED * width
    return Votes(
        across_upright=float(length[across & ~flipped].sum()),
        across_flipped=float(length[across & flipped].sum()),
        down_upright=float(length[down & ~flipped].sum()),
        down_flipped=float(length[down & flipped].sum()),
    )


def page_turn(votes: Votes) -> int:
    """Degrees clockwise to add to the page's /Rotate so that its text reads upright: 0, 90, 180 or 270."""
    if votes.down > MARGIN * votes.across:
        # On its side it cannot be read as it is: pick the likelier of the two ways, however close.
        return 90 if votes.down_flipped > votes.down_upright else 270
    if votes.across_flipped > MARGIN * votes.across_upright:
        return 180
    return 0


class OrientationDetector:
    """rapidocr's line detector and 0/180 classifier on a small rendering: a page's turn without reading it."""

    def __init__(self, ocr):  # a rapidocr.RapidOCR built without its recogniser
        self._ocr = ocr

    def votes(self, page: pymupdf.Page) -> Votes:
        img, _ = render_rgb(page, DETECT_DPI)
        prepared, record = self._ocr.preprocess_img(self._ocr.load_img(img))
        det, cls, _, _ = self._ocr.run_ocr_steps(prepared, record)
        return line_votes(det.boxes, cls.cls_res)

    def turn(self, page: pymupdf.Page) -> int:
        return page_turn(self.votes(page))
