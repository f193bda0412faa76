"""Runs PDF extraction in a long-lived child process with a hard time limit and a memory limit.

A child that hangs is killed and replaced; one that dies (out of memory, a segfault in native code) is
replaced on the next PDF. Either way the worker that owns it survives and the PDF becomes an error row.
"""

from __future__ import annotations

import json
import os
import select
import signal
import subprocess
import sys
import tempfile
import time
from typing import Any

from winnow.ocr import codes
from winnow.ocr.child import HEADER, write_frame

# The child imports only the extraction modules (the `winnow.ocr` package itself imports nothing).
_CHILD_MODULE = "winnow.ocr.child"


class ChildFailed(Exception):
    """The child could not turn this PDF into text; `code` is one of ocr.codes.ERRORS."""

    def __init__(self, code: str, detail: str):
        super().__init__(detail)
        self.code = code


class _Deadline(Exception):
    pass


class _Eof(Exception):
    pass


class PdfWorker:
    """One child process, reused from PDF to PDF (starting one costs an interpreter and the OCR models).

    `doc_timeout_s` bounds a whole PDF; `page_timeout_s` bounds the wait between two pages' progress reports,
    so a long scanned book may take its time while one hostile page may not.
    """

    def __init__(
        self,
        init: dict[str, Any],
        *,
        doc_timeout_s: float = 600.0,
        page_timeout_s: float = 120.0,
        startup_timeout_s: float = 300.0,
        threads: int = 1,
    ):
        self.init = init
        self.doc_timeout_s = doc_timeout_s
        self.page_timeout_s = page_timeout_s
        self.startup_timeout_s = startup_timeout_s
        self.threads = threads
        self.proc: subprocess.Popen | None = None
        self.engine: str | None = None
        self.starts = 0
        self._stderr = tempfile.TemporaryFile()  # noqa: SIM115 - lives as long as the worker

    # -- life cycle -------------------------------------------------------------------------------------
    def start(self) -> None:
        self.close()
        self._stderr.seek(0)
        self._stderr.truncate()
        env = dict(os.environ)
        # One thread per child: the runner already runs one unit per core.
        for var in ("OMP_THREAD_LIMIT", "OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
            env[var] = str(self.threads)
        self.proc = subprocess.Popen(
            [sys.executable, "-m", _CHILD_MODULE],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=self._stderr,
            env=env,
            close_fds=True,
        )
        self.starts += 1
        self._send(json.dumps(self.init).encode())
        try:
            msg = self._recv(time.monotonic() + self.startup_timeout_s, None)
        except (_Deadline, _Eof):
            detail = self._stderr_tail()
            self.close()
            raise RuntimeError(f"the PDF child process did not start: {detail}") from None
        if msg.get("op") != "ready" or msg.get("engine_error"):
            self.close()
            raise RuntimeError(f"the PDF child process could not load its OCR engine: {msg.get('engine_error')}")
        self.engine = msg.get("engine")

    def close(self) -> None:
        if self.proc is None:
            return
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait()
        for stream in (self.proc.stdin, self.proc.stdout):
            if stream is not None:
                stream.close()
        self.proc = None

    def __del__(self) -> None:
        try:
            self.close()
        except Exception:  # noqa: BLE001, S110 - hostile input: any failure is contained
            pass

    # -- one PDF ----------------------------------------------------------------------------------------
    def extract(self, data: bytes) -> dict[str, Any]:
        """The child's result dict for one PDF; raises ChildFailed with an error code."""
        if self.proc is None or self.proc.poll() is not None:
            self.start()
        try:
            self._send(b'{"op":"extract"}')
            self._send(data)
        except (BrokenPipeError, OSError):
            self.start()  # it died between PDFs; a fresh one gets this PDF
            self._send(b'{"op":"extract"}')
            self._send(data)
        now = time.monotonic()
        doc_deadline = now + self.doc_timeout_s
        page_deadline = now + self.page_timeout_s
        while True:
            try:
                msg = self._recv(doc_deadline, page_deadline)
            except _Deadline as exc:
                self.close()
                raise ChildFailed(codes.TIMEOUT, str(exc)) from None
            except _Eof:
                raise self._died() from None
            op = msg.get("op")
            if op == "page":
                page_deadline = time.monotonic() + self.page_timeout_s
            elif op == "result" and isinstance(msg.get("result"), dict):
                return msg["result"]
            elif op == "error":
                code = str(msg.get("code"))
                if code == "memory":
                    self.close()
                    raise ChildFailed(codes.MEMORY, str(msg.get("detail")))
                if code == "corrupt":
                    code = codes.CORRUPT
                raise ChildFailed(code if code in codes.ERRORS else codes.CORRUPT, str(msg.get("detail")))
            else:
                self.close()
                raise ChildFailed(codes.CRASH, f"unexpected message from the child: {str(msg)[:200]}")

    def _died(self) -> ChildFailed:
        assert self.proc is not None
        rc = self.proc.wait()
        tail = self._stderr_tail()
        self.close()
        # The kernel's OOM killer sends SIGKILL; an allocation failure in C++ code under RLIMIT_AS aborts.
        if rc in (-signal.SIGKILL, -signal.SIGABRT) or "bad_alloc" in tail or "memory" in tail.lower():
            return ChildFailed(codes.MEMORY, f"child exited with {rc}: {tail}")
        return ChildFailed(codes.CRASH, f"child exited with {rc}: {tail}")

    # -- framing ----------------------------------------------------------------------------------------
    def _send(self, payload: bytes) -> None:
        assert self.proc is not None and self.proc.stdin is not None
        write_frame(self.proc.stdin.fileno(), payload)

    def _recv(self, doc_deadline: float, page_deadline: float | None) -> dict[str, Any]:
        head = self._read(HEADER.size, doc_deadline, page_deadline)
        body = self._read(HEADER.unpack(head)[0], doc_deadline, page_deadline)
        msg = json.loads(body)
        if not isinstance(msg, dict):
            raise _Eof()
        return msg

    def _read(self, n: int, doc_deadline: float, page_deadline: float | None) -> bytes:
        assert self.proc is not None and self.proc.stdout is not None
        fd = self.proc.stdout.fileno()
        chunks, need = [], n
        while need:
            deadline = doc_deadline if page_deadline is None else min(doc_deadline, page_deadline)
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                which = "page" if page_deadline is not None and page_deadline < doc_deadline else "document"
                limit = self.page_timeout_s if which == "page" else self.doc_timeout_s
                raise _Deadline(f"{which} time limit of {limit:g} s exceeded")
            ready, _, _ = select.select([fd], [], [], remaining)
            if not ready:
                continue
            chunk = os.read(fd, min(need, 1 << 20))
            if not chunk:
                raise _Eof()
            chunks.append(chunk)
            need -= len(chunk)
        return b"".join(chunks)

    def _stderr_tail(self, limit: int = 1500) -> str:
        self._stderr.seek(0, os.SEEK_END)
        size = self._stderr.tell()
        self._stderr.seek(max(0, size - limit))
        return self._stderr.read().decode("utf-8", "replace").strip()
