"""The child process that reads PDFs for pdf_extract: memory limit set, OCR engine loaded once, one PDF per request.

Protocol on stdin/stdout, each frame an 8-byte big-endian length then the payload. The parent sends one JSON
init frame, then per PDF a JSON request frame and a frame of raw PDF bytes. The child answers with JSON only
(`ready`, `page` progress, `result` or `error`): a PDF that subverts the native code must not be able to
hand the parent a pickle.
"""

from __future__ import annotations

import json
import os
import resource
import sys
from typing import Any

from winnow.pipeline.sandbox import HEADER, read_exact, read_frame, write_frame  # noqa: F401 - the parent imports them here

EXIT_AFTER_MEMORY_ERROR = 3


def _send(fd: int, obj: dict[str, Any]) -> None:
    write_frame(fd, json.dumps(obj, ensure_ascii=True).encode("ascii"))


def _address_space() -> int:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmSize:"):
                return int(line.split()[1]) * 1024
    return 0


def _clean(text: str) -> str:
    """Valid UTF-8 without NULs: lone surrogates from broken fonts would make Arrow refuse the row."""
    return text.replace("\x00", "").encode("utf-8", "replace").decode("utf-8")


def main() -> int:
    out = os.dup(1)
    os.dup2(2, 1)  # anything a library prints goes to stderr, never into the protocol
    init_frame = read_frame(0)
    if init_frame is None:
        return 0
    init = json.loads(init_frame)
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))

    import pymupdf

    from winnow.ocr.document import ExtractError, ExtractOptions, extract_pdf, is_memory_error
    from winnow.ocr.engines import build_engine

    pymupdf.TOOLS.mupdf_display_errors(False)
    pymupdf.TOOLS.mupdf_display_warnings(False)
    try:
        engine = build_engine(**init["engine"])
    except Exception as exc:  # noqa: BLE001 - hostile input: any failure is contained
        _send(out, {"op": "ready", "engine": None, "engine_error": f"{type(exc).__name__}: {exc}"})
        return 1
    # The limit is set after the engine loaded: it bounds what one PDF may add, not the models' own footprint.
    if init.get("memory_limit_mb"):
        limit = _address_space() + int(init["memory_limit_mb"]) * 1024 * 1024
        resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
    _send(out, {"op": "ready", "engine": engine.name if engine else None})
    opts = ExtractOptions(**init["options"])

    while True:
        request = read_frame(0)
        if request is None:
            return 0  # the parent closed the pipe: it is done with us
        data = read_frame(0)
        if data is None:
            return 0
        try:
            result = extract_pdf(data, opts, engine, progress=lambda i: _send(out, {"op": "page", "page": i}))
        except ExtractError as exc:
            _send(out, {"op": "error", "code": exc.code, "detail": str(exc)[:2000]})
            continue
        except BaseException as exc:  # noqa: BLE001 - any failure is reported, never raised past the loop
            if is_memory_error(exc):
                _send(out, {"op": "error", "code": "memory", "detail": f"{type(exc).__name__}: {exc}"[:2000]})
                return EXIT_AFTER_MEMORY_ERROR  # a heap that hit its limit is not trusted with the next PDF
            _send(out, {"op": "error", "code": "corrupt", "detail": f"{type(exc).__name__}: {exc}"[:2000]})
            continue
        result["text"] = _clean(result["text"])
        _send(out, {"op": "result", "result": result})


if __name__ == "__main__":
    sys.exit(main())
