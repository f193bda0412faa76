"""Pages to pixels for OCR, with a cap on the pixel count (a 200x200-inch page must not eat memory)."""

from __future__ import annotations

import math

import numpy as np
import pymupdf

MAX_PIXELS = 25_000_000  # a page rendered larger than this is scaled down


def capped_zoom(page: pymupdf.Page, dpi: int, max_pixels: int = MAX_PIXELS) -> float:
    zoom = dpi / 72.0
    area = abs(page.rect) * zoom * zoom
    return zoom * math.sqrt(max_pixels / area) if area > max_pixels else zoom


def render_rgb(page: pymupdf.Page, dpi: int) -> tuple[np.ndarray, float]:
    """The page as an RGB array (page rotation applied), and the zoom used."""
    zoom = capped_zoom(page, dpi)
    pix = page.get_pixmap(matrix=pymupdf.Matrix(zoom, zoom), colorspace=pymupdf.csRGB, alpha=False)
    return np.frombuffer(pix.samples, np.uint8).reshape(pix.height, pix.width, 3), zoom
