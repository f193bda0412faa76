"""HTTP(S) inputs without holding them in memory: a seekable file read in blocks with Range requests.

A Common Crawl WARC is about a gigabyte; reading it whole into memory in every worker does not scale, and a
connection dropped at 99 % would restart the download. Servers that honour `Range` (Common Crawl's, S3's
website endpoints, nginx, most CDNs) are read a block at a time, each block retried on its own; a server
that ignores `Range` sends the whole file with its first answer, which is then used as it is.
"""

from __future__ import annotations

import http.client
import io
import re
import time
import urllib.error
import urllib.request
from typing import BinaryIO

BLOCK_BYTES = 8 << 20  # one request per 8 MiB: few round trips, bounded memory per open file
RETRYABLE_HTTP = {429, 500, 502, 503, 504}
_CONTENT_RANGE = re.compile(r"bytes (\d+)-(\d+)/(\d+|\*)")


def request(url: str, headers: dict[str, str] | None = None, attempts: int = 5,
            timeout: float = 60.0) -> tuple[int, dict[str, str], bytes]:
    """GET with bounded retries and exponential backoff on throttling (429/5xx), timeouts and cut-off bodies.

    Returns (status, headers, body); other HTTP errors (404, 416, ...) are raised as urllib's HTTPError.
    """
    req = urllib.request.Request(url, headers=headers or {})
    delay = 1.0
    for attempt in range(1, attempts + 1):
        try:
            with urllib.request.urlopen(req, timeout=timeout) as resp:  # noqa: S310 - user-given URL
                return resp.status, {k.lower(): v for k, v in resp.headers.items()}, resp.read()
        except urllib.error.HTTPError as exc:
            if exc.code not in RETRYABLE_HTTP or attempt == attempts:
                raise
        except (urllib.error.URLError, TimeoutError, ConnectionError, http.client.IncompleteRead):
            if attempt == attempts:
                raise
        time.sleep(delay)
        delay = min(delay * 2, 30.0)
    raise AssertionError("unreachable")


class HttpRangeFile(io.RawIOBase):
    """Read-only, seekable view of a URL of known size; holds one block at a time."""

    def __init__(self, url: str, size: int, first_block: bytes, block: int = BLOCK_BYTES):
        super().__init__()
        self.url, self.size, self.block = url, size, block
        self._buf, self._start, self._pos = first_block, 0, 0
        self.requests = 1  # the opening request fetched the first block

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self._pos

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        base = {io.SEEK_SET: 0, io.SEEK_CUR: self._pos, io.SEEK_END: self.size}[whence]
        if base + offset < 0:
            raise ValueError(f"negative seek position {base + offset}")
        self._pos = base + offset
        return self._pos

    def readinto(self, b: bytearray | memoryview) -> int:
        if self._pos >= self.size:
            return 0
        if not self._start <= self._pos < self._start + len(self._buf):
            self._fetch(self._pos)
        i = self._pos - self._start
        n = min(len(b), len(self._buf) - i)
        b[:n] = self._buf[i : i + n]
        self._pos += n
        return n

    def _fetch(self, start: int) -> None:
        end = min(start + self.block, self.size) - 1
        status, headers, body = request(self.url, {"Range": f"bytes={start}-{end}"})
        got = _CONTENT_RANGE.match(headers.get("content-range", ""))
        if status != 206 or not got or int(got.group(1)) != start or len(body) != end - start + 1:
            raise OSError(f"{self.url}: asked for bytes {start}-{end}, the server answered {status} "
                          f"{headers.get('content-range', '(no Content-Range)')} with {len(body)} bytes")
        self._buf, self._start = body, start
        self.requests += 1


def open_url(url: str, block: int | None = None) -> BinaryIO:
    """A seekable binary handle on `url`: ranged blocks where the server supports them, else the whole body."""
    block = block or BLOCK_BYTES
    try:
        status, headers, body = request(url, {"Range": f"bytes=0-{block - 1}"})
    except urllib.error.HTTPError as exc:
        if exc.code != 416:  # 416: nothing to range over (an empty file); ask plainly
            raise
        status, headers, body = request(url)
    got = _CONTENT_RANGE.match(headers.get("content-range", ""))
    if status == 206 and got and got.group(3) != "*":
        size = int(got.group(3))
        if len(body) >= size:  # the first block was the whole file
            return io.BytesIO(body[:size])
        return io.BufferedReader(HttpRangeFile(url, size, body, block), buffer_size=1 << 16)
    if status == 206:  # a range of unknown total length: fall back to one plain request
        status, headers, body = request(url)
    return io.BytesIO(body)
