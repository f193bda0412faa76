"""Extraction worker process: reads (method, html) requests on stdin, answers (ok, text, extractor, removed) on stdout.

Run as a script by `filters.extract.isolation.IsolatedExtractor`, so a page that hangs or crashes the HTML parser
costs that page only: the parent kills this process at the deadline and starts another.
"""

import pickle
import struct
import sys


def _serve() -> None:
    from winnow.filters.extract.extractors import extract

    stdin, stdout = sys.stdin.buffer, sys.stdout.buffer
    while True:
        head = stdin.read(8)
        if len(head) < 8:
            return
        method, html = pickle.loads(stdin.read(struct.unpack("<Q", head)[0]))
        try:
            text, used, removed = extract(method, html)
            reply = (True, text, used, removed)
        except Exception as exc:  # noqa: BLE001 - the parent fails this page with the message
            reply = (False, f"{type(exc).__name__}: {exc}", method, 0)
        data = pickle.dumps(reply, protocol=pickle.HIGHEST_PROTOCOL)
        stdout.write(struct.pack("<Q", len(data)) + data)
        stdout.flush()


if __name__ == "__main__":
    _serve()
