"""The child process that reads PDFs for pdf_extract: OCR engine loaded once, then one PDF per request.

Run by `winnow.ocr.containment.PdfWorker` through `winnow.pipeline.sandbox`, which caps its memory and time. The
init frame names the engine and the extraction options; a request is one frame of raw PDF bytes. The child
sends a `page` note as each page is done, then `{"ok": true, "result": ...}` or `{"ok": false, "code": ...}`.
"""

from __future__ import annotations

import os
from typing import Any

from winnow.pipeline import sandbox


class _Reader:
    def setup(self, init: dict[str, Any]) -> dict[str, Any]:
        import pymupdf

        from winnow.ocr.document import ExtractOptions
        from winnow.ocr.engines import build_engine

        pymupdf.TOOLS.mupdf_display_errors(False)
        pymupdf.TOOLS.mupdf_display_warnings(False)
        self.engine = build_engine(**init["engine"])
        if self.engine is not None and self.engine.name == "vlm":
            # CUDA reserves far more address space than it uses: an RLIMIT_AS would stop it from running. Only an
            # engine that did load on the GPU goes without the cap (serve() applies it after this setup); a VLM
            # that fell back to rapidocr (no GPU, a mistyped model folder) keeps it.
            os.environ.pop(sandbox.MEMORY_ENV, None)
        self.opts = ExtractOptions(**init["options"])
        return {"engine": self.engine.name if self.engine else None}

    def read(self, frames: list[bytes]) -> dict[str, Any]:
        from winnow.ocr.document import ExtractError, extract_pdf, valid_text

        try:
            result = extract_pdf(frames[0], self.opts, self.engine, progress=lambda i: sandbox.reply({"page": i}))
        except ExtractError as exc:
            return {"ok": False, "code": exc.code, "error": str(exc)[:2000]}
        result["text"] = valid_text(result["text"])
        return {"ok": True, "result": result}

    def is_memory_error(self, exc: BaseException) -> bool:
        from winnow.ocr.document import is_memory_error  # imported here: after serve() took the protocol off fd 1

        return is_memory_error(exc)


def main() -> int:
    reader = _Reader()
    return sandbox.serve(reader.read, 1, setup=reader.setup, is_memory_error=reader.is_memory_error)


if __name__ == "__main__":
    raise SystemExit(main())
