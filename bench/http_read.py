"""Reading a WARC over HTTP: ranged 8 MiB blocks (Winnow) vs downloading the whole file first (the peer, and
Winnow before), on a local server honouring `Range`. Prints time and peak Python memory for each, and ratios.

    python bench/http_read.py [--file ../shared/data/cc/web_pages.warc.gz] [--copies 4]

`--copies N` serves the file concatenated N times (gzip members concatenate into a valid WARC), so the
memory difference shows at a size closer to a real Common Crawl file.
"""

from __future__ import annotations

import argparse
import io
import os
import sys
import time
import tracemalloc
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("WINNOW_SHARED_DATA", ROOT.parent / "shared" / "data"))
sys.path.insert(0, str(ROOT))

from tests.pipeline.test_http_file import RangeServer  # the tests' server honouring Range


def measure(fn) -> tuple[int, float, int]:
    tracemalloc.start()
    t = time.perf_counter()
    n = fn()
    seconds = time.perf_counter() - t
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    return n, seconds, peak


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--file", default=str(SHARED / "cc" / "web_pages.warc.gz"))
    ap.add_argument("--copies", type=int, default=4)
    args = ap.parse_args()

    from winnow.pipeline.readers.warc import WarcReader

    data = Path(args.file).read_bytes() * args.copies
    url = ""  # set once the server is up

    def winnow() -> int:
        return sum(o.kept.num_rows for o in WarcReader().read(url))

    def whole_first() -> int:  # the peer: fetch everything, then parse the same bytes from memory
        import winnow.pipeline.http_file as hf

        body = urllib.request.urlopen(url).read()  # noqa: S310 - local server
        real = hf.open_url
        hf.open_url = lambda u, block=None: io.BytesIO(body)
        try:
            return sum(o.kept.num_rows for o in WarcReader().read(url))
        finally:
            hf.open_url = real

    with RangeServer({"/f.warc.gz": data}) as server:
        url = f"{server.url}/f.warc.gz"
        whole_first()  # warm imports and caches
        peers = (("whole file first", whole_first), ("winnow ranged blocks", winnow))
        rows = {name: measure(fn) for name, fn in peers}
    print(f"{len(data) / 1e6:.1f} MB WARC over local HTTP ({args.copies} × {Path(args.file).name})")
    for name, (n, s, peak) in rows.items():
        print(f"  {name:<22} {n:>6} documents  {s:6.2f} s  peak Python memory {peak / 1e6:7.1f} MB")
    (_, s0, p0), (_, s1, p1) = rows["whole file first"], rows["winnow ranged blocks"]
    print(f"ranged / whole: time {s1 / s0:.2f}×, peak memory {p1 / p0:.2f}×")


if __name__ == "__main__":
    main()
