"""HTTP inputs: read in ranged blocks where the server allows it (bounded memory, blocks retried alone)."""

from __future__ import annotations

import http.server
import io
import threading
from collections import Counter
from pathlib import Path

import pytest

from winnow.pipeline import http_file
from winnow.pipeline.http_file import HttpRangeFile, open_url


class RangeServer:
    """Serves files from memory, honouring single `Range: bytes=a-b` requests unless `ranges` is False;
    answers 503 to the first `fail_first` requests for each (path, range)."""

    def __init__(self, files: dict[str, bytes], ranges: bool = True, fail_first: int = 0):
        self.hits: Counter = Counter()
        hits = self.hits

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self):
                data = files.get(self.path)
                if data is None:
                    self.send_error(404)
                    return
                rng = self.headers.get("Range") if ranges else None
                hits[(self.path, rng)] += 1
                if hits[(self.path, rng)] <= fail_first:
                    self.send_error(503, "SlowDown")
                    return
                if rng:
                    a, b = (int(x) for x in rng.removeprefix("bytes=").split("-"))
                    if a >= len(data):
                        self.send_error(416)
                        return
                    b = min(b, len(data) - 1)
                    self.send_response(206)
                    self.send_header("Content-Range", f"bytes {a}-{b}/{len(data)}")
                    body = data[a : b + 1]
                else:
                    self.send_response(200)
                    body = data
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args):
                pass

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.httpd.shutdown()
        self.httpd.server_close()


DATA = bytes(range(256)) * 40  # 10,240 bytes


def test_ranged_reads_fetch_blocks_and_seek():
    with RangeServer({"/f": DATA}) as srv:
        f = open_url(f"{srv.url}/f", block=1000)
        assert isinstance(f, io.BufferedReader) and isinstance(f.raw, HttpRangeFile)
        assert f.read(10) == DATA[:10]
        f.seek(5_000)
        assert f.read(2_500) == DATA[5_000:7_500]  # spans three blocks
        f.seek(-40, io.SEEK_END)
        assert f.read() == DATA[-40:]
        f.seek(0)
        assert f.read() == DATA
        assert max(len(f.raw._buf), 0) <= 1000  # never more than one block held
        assert all(rng for _, rng in srv.hits)  # every request was a ranged one


def test_a_failed_block_is_retried_alone(monkeypatch):
    monkeypatch.setattr(http_file.time, "sleep", lambda s: None)
    with RangeServer({"/f": DATA}, fail_first=1) as srv:
        assert open_url(f"{srv.url}/f", block=4096).read() == DATA
        assert set(srv.hits.values()) == {2}  # each of the 3 blocks: one 503, then served
        assert len(srv.hits) == 3


def test_server_without_ranges_and_small_or_empty_files():
    with RangeServer({"/f": DATA, "/empty": b""}, ranges=False) as srv:
        f = open_url(f"{srv.url}/f", block=1000)
        assert isinstance(f, io.BytesIO) and f.read() == DATA
        assert open_url(f"{srv.url}/empty").read() == b""
    with RangeServer({"/small": b"abc", "/empty": b""}) as srv:
        assert open_url(f"{srv.url}/small").read() == b"abc"
        assert open_url(f"{srv.url}/empty").read() == b""


def test_missing_file_is_an_error():
    import urllib.error

    with RangeServer({}) as srv, pytest.raises(urllib.error.HTTPError):
        open_url(f"{srv.url}/nope")


def test_warc_over_ranged_http_matches_the_local_read(shared_data, monkeypatch):
    from winnow.pipeline.readers.warc import WarcReader

    path = Path(shared_data / "cc/whirlwind/whirlwind.warc.gz")
    monkeypatch.setattr(http_file, "BLOCK_BYTES", 4096)  # several blocks for this 18 kB file

    def docs(p):
        return [(d.num_rows, d["text"].to_pylist()) for o in WarcReader().read(p) for d in [o.kept]]

    with RangeServer({"/w.warc.gz": path.read_bytes()}) as srv:
        remote = docs(f"{srv.url}/w.warc.gz")
        assert len(srv.hits) > 1  # it was read in blocks
    assert [t for _, t in remote] == [t for _, t in docs(str(path))]
