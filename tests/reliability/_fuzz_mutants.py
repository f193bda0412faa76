"""Deterministic mutants of real inputs for the fuzz drill: truncations, bit flips, wrong lengths, bad encodings, bombs.

`write_corpus(shared, out, seed)` reads small real seeds from ../shared/data (WARC, WET, WAT, JSONL, PDF; Parquet
made from the JSONL seeds) and writes mutants of them, one file each, named `<format>-<seed>-<operator>-<n>.<ext>`
so a failing file says how it was made. The same seed gives the same bytes.
"""

from __future__ import annotations

import gzip
import io
import json
import random
import re
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

MIB = 1 << 20
WARC_SEEDS = ("cc/whirlwind/whirlwind.warc.gz", "cc/warcio/example.warc.gz", "cc/warcio/example-iana.org-chunked.warc",
              "cc/warcio/post-test.warc.gz", "cc/resiliparse/clipped.warc.gz")
WET_SEEDS = ("cc/whirlwind/whirlwind.warc.wet.gz", "cc/cc_net/sample.warc.wet.txt")
WAT_SEEDS = ("cc/whirlwind/whirlwind.warc.wat.gz",)
JSONL_SEEDS = ("cc/cc_jsonl/dolma/cc_en_head-0174.jsonl.gz", "domains/web.jsonl.gz", "domains/forum_qa.jsonl.gz")
PDF_SEEDS = ("pdf/born_digital/pdfplumber/la-precinct-bulletin-2014-p1.pdf",
             "pdf/born_digital/pdfplumber/150109DSP-Milw-505-90D.pdf", "pdf/born_digital/pdfplumber/issue-848.pdf")
# Mutants per format: 1,000 in all. PDFs are fewest: each one goes through the PDF child process.
COUNTS = {"warc": 300, "wet": 130, "wat": 40, "jsonl": 290, "parquet": 160, "pdf": 80}
EXT = {"warc": ".warc.gz", "wet": ".warc.wet.gz", "wat": ".warc.wat.gz", "jsonl": ".jsonl.gz", "parquet": ".parquet",
       "pdf": ".pdf"}


@dataclass
class Seed:
    name: str
    fmt: str
    inner: bytes  # decompressed content (Parquet: the JSONL rows it is built from)
    gz: bool  # stored gzip-compressed


def _short_jsonl(data: bytes, lines: int) -> bytes:
    """The first few lines, each text cut to 4 KiB: small seeds keep 1,000 runs of the stages cheap."""
    out = []
    for raw in data.splitlines()[:lines]:
        rec = json.loads(raw)
        rec["text"] = rec["text"][:4096]
        out.append(json.dumps(rec, ensure_ascii=False).encode())
    return b"\n".join(out) + b"\n"


def load_seeds(shared: Path) -> list[Seed]:
    seeds = []
    for fmt, names in (("warc", WARC_SEEDS), ("wet", WET_SEEDS), ("wat", WAT_SEEDS)):
        for name in names:
            raw = (shared / name).read_bytes()
            gz = raw[:2] == b"\x1f\x8b"
            inner = _gunzip_tolerant(raw) if gz else raw
            seeds.append(Seed(Path(name).name.split(".")[0], fmt, inner, gz))
    for name in JSONL_SEEDS:
        inner = _short_jsonl(gzip.decompress((shared / name).read_bytes()), 12)
        stem = Path(name).name.split(".")[0]
        seeds.append(Seed(stem, "jsonl", inner, True))
        seeds.append(Seed(stem, "parquet", inner, False))
    for name in PDF_SEEDS:
        seeds.append(Seed(Path(name).stem[:20], "pdf", (shared / name).read_bytes(), False))
    return seeds


def _gunzip_tolerant(data: bytes) -> bytes:
    out, rest = [], data
    while rest:
        d = zlib.decompressobj(31)
        try:
            out.append(d.decompress(rest))
        except zlib.error:
            break
        if not d.eof:
            break
        rest = d.unused_data
    return b"".join(out)


def _gzip_members(inner: bytes) -> bytes:
    """Gzip one member per WARC record, as Common Crawl stores them (so a reader can resynchronise)."""
    starts = [m.start() for m in re.finditer(rb"(?:^|\n)WARC/\d", inner)] or [0]
    starts = [0] + [s + 1 if inner[s : s + 1] == b"\n" else s for s in starts[1:]]
    parts = [inner[a:b] for a, b in zip(starts, starts[1:] + [len(inner)])]
    return b"".join(gzip.compress(p, compresslevel=1, mtime=0) for p in parts if p)


# -- operators on bytes ---------------------------------------------------------------------------------------------

def truncate(rng: random.Random, data: bytes) -> bytes:
    return data[: rng.randrange(0, max(1, len(data)))]


def bitflip(rng: random.Random, data: bytes) -> bytes:
    buf = bytearray(data)
    for _ in range(rng.choice((1, 2, 4, 8, 32))):
        if buf:
            i = rng.randrange(len(buf))
            buf[i] ^= 1 << rng.randrange(8)
    return bytes(buf)


def splice(rng: random.Random, data: bytes) -> bytes:
    """Delete, duplicate or zero a random span: lengths and offsets stop matching the content."""
    if len(data) < 2:
        return data + data
    a = rng.randrange(len(data))
    b = min(len(data), a + rng.choice((1, 7, 64, 512, 4096)))
    kind = rng.randrange(3)
    if kind == 0:
        return data[:a] + data[b:]
    if kind == 1:
        return data[:b] + data[a:b] + data[b:]
    return data[:a] + bytes(b - a) + data[b:]


BAD_BYTES = (b"\xff\xfe", b"\xc0\x80", b"\xed\xa0\x80", b"\x80\x80\x80", b"\xf4\x90\x80\x80", b"\x00", b"\xe2\x82")


def bad_bytes(rng: random.Random, data: bytes) -> bytes:
    """Invalid UTF-8 (overlong, surrogates, stray continuation bytes, NULs) dropped into the content."""
    buf = data
    for _ in range(rng.randint(1, 6)):
        i = rng.randrange(len(buf) + 1)
        buf = buf[:i] + rng.choice(BAD_BYTES) + buf[i:]
    return buf


def reencode(rng: random.Random, data: bytes) -> bytes:
    """The whole content in another encoding than the one declared (UTF-16 with and without BOM, cp1252, ...)."""
    text = data.decode("utf-8", "replace")
    enc = rng.choice(("utf-16", "utf-16-le", "utf-32", "cp1252", "latin-1", "shift_jis"))
    return text.encode(enc, "replace")


def wrong_lengths(rng: random.Random, data: bytes) -> bytes:
    """Content-Length headers (WARC and HTTP) and PDF /Length entries that lie."""

    def lie(m: re.Match) -> bytes:
        n = int(m.group(2))
        new = rng.choice((0, 1, n // 2, n - 1, n + 1, n * 3, 10**12, -5, "abc", ""))
        return m.group(1) + str(new).encode()

    pattern = rb"((?:Content-Length|content-length):[ \t]*)(\d+)" if b"WARC/" in data[:64] else rb"(/Length\s+)(\d+)"
    matches = list(re.finditer(pattern, data))
    if not matches:
        return splice(rng, data)
    chosen = set(rng.sample(range(len(matches)), k=rng.randint(1, len(matches))))
    out, last = [], 0
    for i, m in enumerate(matches):
        out.append(data[last : m.start()])
        out.append(lie(m) if i in chosen else m.group(0))
        last = m.end()
    out.append(data[last:])
    return b"".join(out)


def http_lies(rng: random.Random, data: bytes) -> bytes:
    """HTTP headers that lie about the body: gzip that is not gzip, chunked that is not chunked, odd charsets."""
    lie = rng.choice((b"Content-Encoding: gzip", b"Content-Encoding: deflate", b"Transfer-Encoding: chunked",
                      b"Content-Type: text/html; charset=utf-16", b"Content-Type: text/html; charset=x-unknown-42",
                      b"Content-Type: application/pdf", b"Content-Type: text/html; charset=\xff\xfe"))
    return re.sub(rb"(HTTP/1\.[01] \d{3}[^\r\n]*\r?\n)", lambda m: m.group(1) + lie + b"\r\n", data, count=0)


def json_values(rng: random.Random, data: bytes) -> bytes:
    """Records that parse as JSON but are not documents, or barely are: wrong types, lone surrogates, deep nesting."""
    lines = data.splitlines()
    bad = rng.choice((b'{"text": 42}', b'{"text": null}', b'{"text": ["a"]}', b"[1, 2, 3]", b'"just a string"',
                      b'{"id": 1}', b'{"text": "\\ud800 lone surrogate"}', b'{"text": "ok", "language_score": "high"}',
                      b"[" * 50000 + b"]" * 50000, b'{"text": "' + b"x" * 200000 + b'"}', b"\xef\xbb\xbf" + b'{"text": "bom"}',
                      b'{"text": "nul \\u0000 inside"}', b"{" + b'"text": "unterminated'))
    i = rng.randrange(len(lines) + 1)
    return b"\n".join(lines[:i] + [bad] + lines[i:]) + b"\n"


# -- formats ---------------------------------------------------------------------------------------------------------

def _parquet_bytes(rng: random.Random, jsonl: bytes) -> bytes:
    rows = [json.loads(x) for x in jsonl.splitlines() if x.strip()]
    variant = rng.randrange(6)
    if variant == 1:  # text of the wrong type
        table = pa.table({"id": [str(r.get("id")) for r in rows], "text": [len(r["text"]) for r in rows]})
    elif variant == 2:  # no text column at all
        table = pa.table({"id": [str(r.get("id")) for r in rows], "body": [r["text"] for r in rows]})
    elif variant == 3:  # nulls and empty strings among the texts
        table = pa.table({"text": [None if i % 3 == 0 else ("" if i % 3 == 1 else r["text"]) for i, r in enumerate(rows)]})
    else:
        table = pa.table({"id": [str(r.get("id")) for r in rows], "text": [r["text"] for r in rows],
                          "domain": [r.get("domain") for r in rows]})
    buf = io.BytesIO()
    pq.write_table(table, buf, compression=rng.choice(("zstd", "snappy", "none")), row_group_size=rng.choice((3, 100)))
    return buf.getvalue()


def _footer_lie(rng: random.Random, data: bytes) -> bytes:
    """Parquet's footer length (the 4 bytes before the trailing PAR1) set to a wrong value."""
    n = rng.choice((0, 1, len(data) * 2, 2**31 - 1, 12))
    return data[:-8] + n.to_bytes(4, "little") + data[-4:]


Op = Callable[[random.Random, bytes], bytes]
INNER_OPS: dict[str, tuple[tuple[str, Op], ...]] = {
    "warc": (("trunc", truncate), ("flip", bitflip), ("splice", splice), ("len", wrong_lengths),
             ("badutf8", bad_bytes), ("http", http_lies), ("reenc", reencode)),
    "wet": (("trunc", truncate), ("flip", bitflip), ("splice", splice), ("len", wrong_lengths),
            ("badutf8", bad_bytes), ("reenc", reencode)),
    "wat": (("trunc", truncate), ("flip", bitflip), ("splice", splice), ("len", wrong_lengths), ("badutf8", bad_bytes)),
    "jsonl": (("trunc", truncate), ("flip", bitflip), ("splice", splice), ("badutf8", bad_bytes),
              ("reenc", reencode), ("json", json_values)),
    "pdf": (("trunc", truncate), ("flip", bitflip), ("splice", splice), ("len", wrong_lengths)),
}


def mutate(rng: random.Random, seed: Seed) -> tuple[str, bytes]:
    """One mutant of a seed: an operator on the decompressed content, or on the bytes as stored."""
    fmt = seed.fmt
    if fmt == "parquet":
        base = _parquet_bytes(rng, seed.inner)
        op = rng.choice(("trunc", "flip", "splice", "footer", "schema"))
        fn = {"trunc": truncate, "flip": bitflip, "splice": splice, "footer": _footer_lie}.get(op)
        return op, fn(rng, base) if fn else base
    name, fn = rng.choice(INNER_OPS[fmt])
    if not seed.gz:
        return name, fn(rng, seed.inner)
    if rng.random() < 0.25 and name in ("trunc", "flip", "splice"):  # damage the compressed stream itself
        stored = _gzip_members(seed.inner) if fmt in ("warc", "wet", "wat") else gzip.compress(seed.inner, mtime=0)
        return f"gz{name}", fn(rng, stored)
    inner = fn(rng, seed.inner)
    return name, _gzip_members(inner) if fmt in ("warc", "wet", "wat") else gzip.compress(inner, 1, mtime=0)


def write_corpus(shared: Path, out: Path, seed: int = 20261130, counts: dict[str, int] | None = None) -> list[Path]:
    counts = counts or COUNTS
    rng = random.Random(seed)
    seeds = load_seeds(shared)
    out.mkdir(parents=True, exist_ok=True)
    paths = []
    for fmt, n in counts.items():
        pool = [s for s in seeds if s.fmt == fmt]
        for i in range(n):
            s = pool[i % len(pool)]
            op, data = mutate(rng, s)
            suffix = ".warc" if fmt == "warc" and not s.gz and not data.startswith(b"\x1f\x8b") else EXT[fmt]
            if fmt == "wet" and not s.gz:
                suffix = ".warc.wet.txt"
            path = out / f"{fmt}-{s.name}-{op}-{i:04d}{suffix}"
            path.write_bytes(data)
            paths.append(path)
    return paths


# -- bombs: small on disk, huge once decompressed --------------------------------------------------------------------

def _zeros_gzip_members(total: int, fill: bytes = b"\x00") -> bytes:
    """`total` bytes of `fill` as repeated 1 MiB gzip members: built in milliseconds, ~1 KiB per MiB on disk."""
    member = gzip.compress(fill * MIB, 9, mtime=0)
    return member * (total // MIB)


def _deflate_single(total: int, fill: bytes = b" ", wbits: int = 31) -> bytes:
    """One deflate stream of `total` bytes (a single member: decoders that stop after one member still see it all).

    After a full flush the compressor forgets its window, so every further 1 MiB of `fill` compresses to the same
    bytes: the stream is two real chunks, that block repeated, and a trailer computed by hand, in milliseconds."""
    chunk = fill * MIB
    n = total // MIB
    c = zlib.compressobj(9, zlib.DEFLATED, wbits)
    first = c.compress(chunk) + c.flush(zlib.Z_FULL_FLUSH)
    block = c.compress(chunk) + c.flush(zlib.Z_FULL_FLUSH)
    crc, adler = 0, 1
    for _ in range(n):
        crc, adler = zlib.crc32(chunk, crc), zlib.adler32(chunk, adler)
    final = b"\x03\x00"  # an empty, final, fixed-Huffman block
    if wbits > 15:  # gzip trailer: CRC-32 and length, little-endian
        trailer = crc.to_bytes(4, "little") + (total & 0xFFFFFFFF).to_bytes(4, "little")
    else:  # zlib trailer: Adler-32, big-endian
        trailer = adler.to_bytes(4, "big")
    return first + block * (n - 1) + final + trailer


def write_bombs(out: Path, size: int = 1024 * MIB, parquet_size: int | None = None) -> list[Path]:
    """One decompression bomb per reader path that inflates data: JSONL line, WARC block, HTTP body, WET, Parquet, PDF."""
    out.mkdir(parents=True, exist_ok=True)
    files: dict[str, bytes] = {}
    # JSONL: a gzip whose first "line" never ends.
    files["jsonl-bomb-line.jsonl.gz"] = gzip.compress(b'{"text": "ok"}\n', mtime=0) + _zeros_gzip_members(size, b"a")
    # WARC: a record announcing `size` bytes and delivering them, in a gzip member chain.
    head = (f"WARC/1.0\r\nWARC-Type: resource\r\nWARC-Target-URI: http://bomb.example/\r\nWARC-Record-ID: <urn:x:1>\r\n"
            f"Content-Type: text/plain\r\nContent-Length: {size}\r\n\r\n").encode()
    files["warc-bomb-block.warc.gz"] = gzip.compress(head, mtime=0) + _zeros_gzip_members(size)
    # WARC: an ordinary small record whose HTTP body is `Content-Encoding: gzip` of `size` bytes.
    body = _deflate_single(size)
    http = (b"HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nContent-Encoding: gzip\r\n"
            + f"Content-Length: {len(body)}\r\n\r\n".encode() + body)
    rec = (f"WARC/1.0\r\nWARC-Type: response\r\nWARC-Target-URI: http://bomb.example/gz\r\nWARC-Record-ID: <urn:x:2>\r\n"
           f"Content-Type: application/http; msgtype=response\r\nContent-Length: {len(http)}\r\n\r\n").encode() + http + b"\r\n\r\n"
    files["warc-bomb-http.warc.gz"] = gzip.compress(rec, 1, mtime=0)
    # WET: a conversion record of `size` bytes of spaces.
    wet = (f"WARC/1.0\r\nWARC-Type: conversion\r\nWARC-Target-URI: http://bomb.example/wet\r\nWARC-Record-ID: <urn:x:3>\r\n"
           f"Content-Type: text/plain\r\nContent-Length: {size}\r\n\r\n").encode()
    files["wet-bomb-block.warc.wet.gz"] = gzip.compress(wet, mtime=0) + _zeros_gzip_members(size, b" ")
    # Parquet: 1 MiB texts, dictionary-encoded, so `size // MiB` rows take a few KiB on disk.
    rows = (parquet_size or size) // MIB
    text = pa.DictionaryArray.from_arrays(pa.array([0] * rows, pa.int32()), pa.array(["a" * MIB]))
    buf = io.BytesIO()
    pq.write_table(pa.table({"text": text}), buf, compression="zstd", store_schema=False)
    files["parquet-bomb-dict.parquet"] = buf.getvalue()
    # PDF: one page whose content stream inflates to `size` bytes of spaces.
    stream = _deflate_single(size, b" ", wbits=15)
    objs = [b"<< /Type /Catalog /Pages 2 0 R >>", b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
            b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 4 0 R >>",
            b"<< /Length %d /Filter /FlateDecode >>\nstream\n" % len(stream) + stream + b"\nendstream"]
    pdf, offsets = bytearray(b"%PDF-1.4\n"), []
    for i, o in enumerate(objs, start=1):
        offsets.append(len(pdf))
        pdf += b"%d 0 obj\n" % i + o + b"\nendobj\n"
    xref = len(pdf)
    pdf += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objs) + 1)
    pdf += b"".join(b"%010d 00000 n \n" % off for off in offsets)
    pdf += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (len(objs) + 1, xref)
    files["pdf-bomb-stream.pdf"] = bytes(pdf)
    paths = []
    for name, data in files.items():
        (out / name).write_bytes(data)
        paths.append(out / name)
    return paths
