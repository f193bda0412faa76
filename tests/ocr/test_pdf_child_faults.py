"""Faults injected into the PDF child (a crash, the OOM killer, a hang, a memory error, garbage) fail that PDF alone
with its error code, and the same worker reads the next PDF."""

from __future__ import annotations

import os

import pytest

from winnow.ocr import codes, containment
from winnow.ocr.containment import ChildFailed, PdfWorker

# Stands in for winnow.ocr.child: the request bytes name the fault; anything else is read back as the text.
FAKE_CHILD = """
import os, signal, sys, time
from winnow.pipeline import sandbox

def setup(init):
    if init.get("refuse"):
        raise ValueError("no such engine")
    return {"engine": "fake"}

def handle(frames):
    fault = frames[0].decode()
    if fault in ("SIGSEGV", "SIGKILL"):
        os.kill(os.getpid(), getattr(signal, fault))
    if fault == "bad_alloc":
        sys.stderr.write("terminate called after throwing an instance of 'std::bad_alloc'\\n")
        sys.stderr.flush()
        os._exit(1)
    if fault == "MemoryError":
        raise MemoryError("cannot allocate 4 GiB")
    if fault == "hang_after_a_page":
        sandbox.reply({"page": 0})
        time.sleep(60)
    if fault == "garbage":
        sandbox.write_frame(sandbox._reply_fd, b"\\x80\\x04not json")
    if fault == "slow_pages":
        for i in range(6):
            time.sleep(0.25)
            sandbox.reply({"page": i})
    return {"ok": True, "result": {"text": fault}}

sandbox.serve(handle, 1, setup=setup)
"""


@pytest.fixture
def worker(tmp_path, monkeypatch):
    (tmp_path / "fake_ocr_child.py").write_text(FAKE_CHILD)
    monkeypatch.setenv("PYTHONPATH", f"{tmp_path}:{os.environ.get('PYTHONPATH', '')}")
    monkeypatch.setattr(containment, "CHILD", "fake_ocr_child")
    w = PdfWorker({"memory_limit_mb": 0}, doc_timeout_s=10.0, page_timeout_s=1.0)
    yield w
    w.close()


def _fails_alone(worker: PdfWorker, fault: str, code: str) -> str:
    with pytest.raises(ChildFailed) as info:
        worker.extract(fault.encode())
    assert info.value.code == code, str(info.value)
    assert worker.extract(b"next pdf")["text"] == "next pdf"
    return str(info.value)


def test_a_crash_mid_pdf_is_a_crash(worker):
    assert "-11" in _fails_alone(worker, "SIGSEGV", codes.CRASH)


def test_the_oom_killer_mid_pdf_is_a_memory_failure(worker):
    _fails_alone(worker, "SIGKILL", codes.MEMORY)


def test_a_native_allocation_failure_is_a_memory_failure(worker):
    assert "bad_alloc" in _fails_alone(worker, "bad_alloc", codes.MEMORY)


def test_a_memory_error_replaces_the_child(worker):
    worker.extract(b"warm")
    starts = worker.starts
    assert "cannot allocate" in _fails_alone(worker, "MemoryError", codes.MEMORY)
    assert worker.starts == starts + 1  # its heap hit the limit: the next PDF got a fresh child


def test_a_page_that_hangs_hits_the_page_limit(worker):
    assert "page time limit of 1 s" in _fails_alone(worker, "hang_after_a_page", codes.TIMEOUT)


def test_each_page_done_resets_the_page_limit(worker):
    worker.extract(b"warm")
    assert worker.extract(b"slow_pages")["text"] == "slow_pages"  # 1.5 s in all, never 1 s without a page


def test_a_reply_that_is_not_json_is_a_crash(worker):
    _fails_alone(worker, "garbage", codes.CRASH)


def test_an_engine_that_does_not_load_stops_the_stage(worker):  # worker: the fake child is in place
    refusing = PdfWorker({"refuse": True}, page_timeout_s=1.0)
    with pytest.raises(RuntimeError, match="no such engine"):
        refusing.extract(b"a pdf")
