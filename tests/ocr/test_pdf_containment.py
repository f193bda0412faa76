"""Hostile PDFs become error rows with a reason, and the worker (and its next PDF) survive."""

from __future__ import annotations

import os
import signal

import pdf_hostile as hostile  # tests/ocr is on sys.path (pytest rootdir-relative imports)
import pytest

from winnow.ocr import codes
from winnow.ocr.containment import ChildFailed
from winnow.ocr.stage import PdfExtractStage

GOOD = hostile.text_pdf(["A perfectly ordinary page of text about gardening and soil."] * 2)


def _fails_with(stage: PdfExtractStage, data: bytes, code: str) -> str:
    with pytest.raises(ChildFailed) as info:
        stage.worker.extract(data)
    assert info.value.code == code, str(info.value)
    # the same worker reads the next, ordinary PDF
    assert "gardening" in stage.worker.extract(GOOD)["text"]
    return str(info.value)


def test_encrypted(text_stage):
    _fails_with(text_stage, hostile.encrypted_pdf(), codes.ENCRYPTED)


def test_zero_pages(text_stage):
    _fails_with(text_stage, hostile.zero_page_pdf(), codes.ZERO_PAGES)


def test_gigantic_page_count(text_stage):
    detail = _fails_with(text_stage, hostile.many_pages_pdf(3000), codes.TOO_MANY_PAGES)
    assert "3000 pages" in detail


def test_corrupt(text_stage):
    _fails_with(text_stage, b"%PDF-1.7\n" + os.urandom(3000) + b"\n%%EOF\n", codes.CORRUPT)


def test_decompression_bomb_hits_the_memory_limit(text_stage):
    starts = text_stage.worker.starts
    _fails_with(text_stage, hostile.font_bomb_pdf(300), codes.MEMORY)
    assert text_stage.worker.starts == starts + 1  # the child that hit its limit was replaced


def test_a_vlm_engine_that_fell_back_to_cpu_keeps_the_memory_limit(tmp_path):
    """Only a VLM that loaded on a GPU lifts the cap; here (no model folder, no GPU) rapidocr reads, capped."""
    stage = PdfExtractStage(engine="vlm", vlm_model_dir=str(tmp_path / "no_model"), memory_limit_mb=160, timeout_s=30)
    stage.ensure_setup()
    try:
        _fails_with(stage, hostile.font_bomb_pdf(300), codes.MEMORY)
    finally:
        stage.worker.close()


def test_timeout_kills_and_replaces_the_child(text_stage):
    worker = text_stage.worker
    worker.extract(GOOD)  # a running child, so the time limit under test covers the PDF alone
    first, limit = worker.proc.pid, worker.doc_timeout_s
    worker.doc_timeout_s = 0.5
    try:
        detail = _fails_with(text_stage, hostile.content_bomb_pdf(4000), codes.TIMEOUT)
    finally:
        worker.doc_timeout_s = limit
    assert "time limit of 0.5 s" in detail and worker.proc.pid != first


def test_child_killed_from_outside(text_stage):
    text_stage.worker.extract(GOOD)
    os.kill(text_stage.worker.proc.pid, signal.SIGKILL)
    text_stage.worker.proc.wait()
    assert "gardening" in text_stage.worker.extract(GOOD)["text"]  # restarted transparently between PDFs
