"""Extraction child: one request is a JSON frame ({"method": ...}) and a frame of UTF-8 HTML; the reply is JSON.

Run by `winnow.filters.extract.isolation.IsolatedExtractor` through `winnow.pipeline.sandbox`, so a page that
hangs or crashes the HTML parser costs that page only.
"""

import json

from winnow.pipeline import sandbox


def _handle(frames: list[bytes]) -> dict:
    from winnow.filters.extract.extractors import extract

    method = json.loads(frames[0])["method"]
    text, used, removed = extract(method, frames[1].decode("utf-8", "surrogatepass"))
    return {"ok": True, "text": text, "used": used, "removed": removed}


if __name__ == "__main__":
    sandbox.serve(_handle, frames_per_request=2)
