"""Runs PDF extraction in a `pipeline.sandbox` child with a hard time limit and a memory limit.

A child that hangs is killed and replaced; one that dies (out of memory, a segfault in native code) is
replaced on the next PDF. Either way the worker that owns it survives and the PDF becomes an error row with
one of the codes in ocr.codes.
"""

from __future__ import annotations

import signal
import time
from typing import Any

from winnow.ocr import codes
from winnow.pipeline import sandbox

# The child imports only the extraction modules (the `winnow.ocr` package itself imports nothing).
CHILD = "winnow.ocr.child"
_OCR_THREAD_VARS = ("OMP_THREAD_LIMIT", "OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")


class ChildFailed(Exception):
    """The child could not turn this PDF into text; `code` is one of ocr.codes.ERRORS."""

    def __init__(self, code: str, detail: str):
        super().__init__(detail)
        self.code = code


class PdfWorker:
    """One child process, reused from PDF to PDF (starting one costs an interpreter and the OCR models).

    `doc_timeout_s` bounds a whole PDF; `page_timeout_s` bounds the wait between two pages' progress reports,
    so a long scanned book may take its time while one hostile page may not.
    """

    def __init__(self, init: dict[str, Any], *, doc_timeout_s: float = 600.0, page_timeout_s: float = 120.0,
                 startup_timeout_s: float = 300.0, threads: int = 1):
        self.doc_timeout_s, self.page_timeout_s = doc_timeout_s, page_timeout_s
        # One thread per child: the runner already runs one unit per core.
        self.child = sandbox.Sandbox(CHILD, memory_mb=init.get("memory_limit_mb"), init=init, capture_stderr=True,
                                     env=dict.fromkeys(_OCR_THREAD_VARS, str(threads)),
                                     startup_timeout_s=startup_timeout_s)

    @property
    def proc(self):  # the child process, for tests and CPU accounting
        return self.child.proc

    @property
    def starts(self) -> int:
        return self.child.starts

    @property
    def engine(self) -> str | None:
        return self.child.hello.get("engine")

    def extract(self, data: bytes) -> dict[str, Any]:
        """The child's result dict for one PDF; raises ChildFailed with an error code."""
        try:
            self.child.send(data)
            now = time.monotonic()
            doc_deadline, page_deadline = now + self.doc_timeout_s, now + self.page_timeout_s
            while "ok" not in (msg := self._recv(doc_deadline, page_deadline)) and "page" in msg:
                page_deadline = time.monotonic() + self.page_timeout_s
        except sandbox.ChildGone as exc:
            raise self._died(exc) from None
        if msg.get("ok") is True and isinstance(msg.get("result"), dict):
            return msg["result"]
        if msg.get("ok") is False:
            code = codes.MEMORY if msg.get("memory") else msg.get("code")
            raise ChildFailed(code if code in codes.ERRORS else codes.CORRUPT, str(msg.get("error")))
        self.child.kill()
        raise ChildFailed(codes.CRASH, f"unexpected message from the child: {str(msg)[:200]}")

    def _recv(self, doc_deadline: float, page_deadline: float) -> dict[str, Any]:
        try:
            return self.child.recv(min(doc_deadline, page_deadline))
        except sandbox.Deadline:
            which, limit = ("page", self.page_timeout_s) if page_deadline < doc_deadline else \
                ("document", self.doc_timeout_s)
            raise ChildFailed(codes.TIMEOUT, f"{which} time limit of {limit:g} s exceeded") from None

    def _died(self, exc: sandbox.ChildGone) -> ChildFailed:
        rc, tail = exc.returncode, self.child.stderr_tail()
        # The kernel's OOM killer sends SIGKILL; an allocation failure in C++ code under RLIMIT_AS aborts.
        if rc in (-signal.SIGKILL, -signal.SIGABRT) or "bad_alloc" in tail or "memory" in tail.lower():
            return ChildFailed(codes.MEMORY, f"child exited with {rc}: {tail}")
        return ChildFailed(codes.CRASH, f"child exited with {rc}: {tail}")

    def close(self) -> None:
        self.child.kill()
