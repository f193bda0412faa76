"""Low-level WARC record iteration: fastwarc for speed, with resynchronisation after bad members and a lenient parser.

`iter_records(path, span)` yields `RawRecord`s (one WARC record: its headers and its block) and `BadRegion`s (a part of
the file that could not be parsed). fastwarc does the work on well-formed files; when it stops on a corrupt gzip
member or a malformed header, reading resumes at the next gzip member (or `WARC/` line) that parses, so one bad
record costs that record, not the rest of the file. Files fastwarc cannot read at all (LF-only line endings,
hand-made fixtures) go through a small pure-Python parser instead. A large gzip file can be read in byte spans,
one per unit of work: a span starts at its first record and ends where the next span's first record starts, found
by the same resynchronisation.

A record is placed by the offset of its gzip member, as Common Crawl's index gives it. A file gzipped as one stream
(`gzip file.warc`) has one member for all its records: fastwarc's offset is then only how far it had read, the same
for several records, so such a file is decompressed here instead and a record inside a member is placed as
`member offset + offset inside the member's decompressed bytes` (see RawRecord.position).
"""

from __future__ import annotations

import re
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from typing import BinaryIO

from fastwarc.warc import ArchiveIterator, WarcRecordType

from winnow.pipeline import storage
from winnow.pipeline.readers.warc_gzip import SCAN_WINDOW, GzipMembers, chains_on, shares_members, tail_problem

GZIP_MAGIC = b"\x1f\x8b\x08"
# A record block (or a lenient file) past this is cut there and reported truncated: gzip bombs must not fill memory.
MAX_BLOCK_BYTES = 64 << 20
_WARC_LINE = re.compile(rb"(?:^|\n)(WARC/\d+\.\d+)\r?\n")
_AT_RECORD = re.compile(rb"(?:\r?\n)*WARC/\d+\.\d+\r?\n")
_NEXT_RECORD = re.compile(rb"\r?\n\r?\n(?=WARC/\d+\.\d+\r?\n)")


@dataclass
class RawRecord:
    offset: int  # position of the record (its gzip member) in the file, as Common Crawl's index gives it
    version: str  # WARC/1.0, WARC/1.1, WARC/0.18 ...
    headers: dict[str, str]  # WARC headers, names lower-cased
    block: bytes
    truncated: bool  # the block is shorter than its Content-Length
    repaired: bool = False  # Content-Length was wrong; the block ends where the next record starts
    inner: int = 0  # where the record starts in its member's decompressed bytes, if not at the start (one stream)

    @property
    def position(self) -> str:
        """Where the record is, as its locator names it: `offset`, or `offset+inner` inside a shared member."""
        return _place(self.offset, self.inner)

    @property
    def header_cut(self) -> bool:
        """The file ends inside the WARC header: fastwarc then gives the header lines it got, without the
        Content-Length a record must have, or with one whose block has not a single byte."""
        return "content-length" not in self.headers or (self.truncated and not self.block)


@dataclass
class BadRegion:
    offset: int
    code: str  # error code, counted in the funnel
    detail: str
    inner: int = 0  # as RawRecord.inner

    @property
    def position(self) -> str:
        return _place(self.offset, self.inner)


def _place(offset: int, inner: int) -> str:
    return f"{offset}+{inner}" if inner else str(offset)


def _open_seekable(path: str) -> BinaryIO:
    """A seekable handle (resynchronising needs to jump): a local file, an S3 random-access file, or HTTP bytes."""
    if path.startswith(("s3://", "gs://")):
        fs, inner = storage.filesystem(path)
        return fs.open_input_file(inner)  # type: ignore[return-value]
    return storage.open_input(path)


def _valid_start(window: bytes, at: int, is_gz: bool) -> bool:
    if is_gz:
        try:
            head = zlib.decompressobj(31).decompress(window[at : at + 65536], 16)
        except zlib.error:
            return False
        return head.startswith(b"WARC/")
    return window.startswith(b"WARC/", at)


def _find_resume(f: BinaryIO, start: int, is_gz: bool) -> int | None:
    """Position of the next record start at or after `start` that really parses, or None at end of file."""
    needle = GZIP_MAGIC if is_gz else b"WARC/"
    pos = start
    while True:
        f.seek(pos)
        window = f.read(SCAN_WINDOW + 65536)
        if not window:
            return None
        i = window.find(needle)
        while i != -1 and i < SCAN_WINDOW:
            if (is_gz or i == 0 or window[i - 1 : i] == b"\n") and _valid_start(window, i, is_gz):
                if not is_gz or chains_on(f, pos + i):
                    return pos + i
            i = window.find(needle, i + 1)
        if len(window) <= SCAN_WINDOW:
            return None
        pos += SCAN_WINDOW


def _record_end(f: BinaryIO, offset: int, is_gz: bool) -> int:
    """Where the next record should start: the end of the gzip member at `offset` (a guess for plain files)."""
    if not is_gz:
        return offset + 1
    f.seek(offset)
    d = zlib.decompressobj(31)
    consumed = 0
    while not d.eof:
        chunk = f.read(1 << 16)
        if not chunk:
            break
        d.decompress(chunk)
        consumed += len(chunk) - len(d.unused_data)
    return offset + consumed


def _from_fastwarc(record, members: GzipMembers | None = None) -> RawRecord:
    headers = {k.lower(): v for k, v in record.headers.items()}
    block = record.reader.read(MAX_BLOCK_BYTES + 1)
    length = record.content_length
    if len(block) > MAX_BLOCK_BYTES:  # the rest is skipped by fastwarc without being kept
        block = block[:MAX_BLOCK_BYTES]
        length = max(length, MAX_BLOCK_BYTES + 1)
    # fastwarc counts stream_pos from the file's start, also after a seek (from 0 in `members`' decompressed bytes)
    offset, inner = members.place(record.stream_pos) if members is not None else (record.stream_pos, 0)
    return RawRecord(offset, record.headers.status_line, headers, block, len(block) < length, inner=inner)


def _reads_leniently(f: BinaryIO) -> bool:
    """Whether iter_records hands this (gzip) file to the lenient parser: fastwarc cannot split its first record."""
    f.seek(0)
    try:
        for record in ArchiveIterator(f, record_types=WarcRecordType.any_type, parse_http=False):
            return record.record_type == WarcRecordType.unknown
    except OSError:
        pass
    return False


def _span_bounds(f: BinaryIO, span: tuple[int, int], is_gz: bool) -> tuple[int | None, int | None]:
    """Where a span's reading starts and stops: the first record starts at or after each end of the span. So the
    spans of a file, read one by one, yield what reading it whole yields, each record and bad region once. Only a
    gzip file whose records are members splits; any other file is read whole by the span that starts at 0."""
    start, end = span
    if start == 0:  # the first span: a file fastwarc cannot read goes to the lenient parser whole, `stop` unused
        return 0, (_find_resume(f, end, is_gz) if is_gz else None)
    if not is_gz or _reads_leniently(f):
        return None, None
    return _find_resume(f, start, is_gz), _find_resume(f, end, is_gz)


def iter_records(path: str, span: tuple[int, int] | None = None) -> Iterator[RawRecord | BadRegion]:
    """Every record and bad region of the file, or with `span` (start, end bytes) those of one part of it."""
    with _open_seekable(path) as f:
        is_gz = f.read(3) == GZIP_MAGIC
        pos, stop = (0, None) if span is None else _span_bounds(f, span, is_gz)
        if pos is None:
            return
        one_stream = is_gz and shares_members(f)
        first = pos == 0  # the lenient parser is only ever chosen at the file's first record
        bad: BadRegion | None = None  # a bad region is reported once, when reading resumes after it (or at the end)
        while True:
            f.seek(pos)
            source = GzipMembers(f, pos) if one_stream else f
            last: RawRecord | None = None
            try:
                for record in ArchiveIterator(source, record_types=WarcRecordType.any_type, parse_http=False):
                    if first and record.record_type == WarcRecordType.unknown:
                        break  # headers fastwarc cannot split (LF-only): use the lenient parser below
                    rec = _from_fastwarc(record, source if one_stream else None)
                    if bad is not None:
                        yield bad
                        bad = None
                    if stop is not None and rec.offset >= stop:
                        return  # the next span's first record
                    first, last = False, rec
                    yield rec
                else:
                    if bad is not None:
                        yield bad
                    tail = _unread_tail(path, f, source, pos, last, is_gz)
                    if tail is not None:
                        yield tail
                    return
            except OSError as exc:  # a corrupt gzip member or header: skip to the next record that parses
                if first and last is None and not is_gz:
                    break  # not even the first record parses: let the lenient parser try
                at, inner = _bad_place(f, source, pos, last, is_gz)
                if bad is None:
                    if stop is not None and at >= stop:
                        return  # the region starts the next span, which reports it
                    bad = _region(path, at, inner, "read_warc_corrupt", str(exc))
                resume = _find_resume(f, at + 1, is_gz)
                if resume is None or (stop is not None and resume >= stop):
                    yield bad
                    return
                first, pos = False, resume
                continue
            break
        f.seek(0)
        data = f.read()
    yield from _iter_lenient(path, data, is_gz)


def _bad_place(f: BinaryIO, source, pos: int, last: RawRecord | None, is_gz: bool) -> tuple[int, int]:
    """Where a bad region starts: the member after the last good record's (fastwarc reads a gzip file a member at a
    time), or, in a file decompressed here, where decompression had got to."""
    if isinstance(source, GzipMembers):
        return source.place()
    return (pos if last is None else _record_end(f, last.offset, is_gz)), 0


def _unread_tail(path: str, f: BinaryIO, source, pos: int, last: RawRecord | None, is_gz: bool) -> BadRegion | None:
    """A gzip file cut early in a member gives fastwarc no record at all, and one gzipped as one stream may be cut
    between two records: either way fastwarc ends quietly. The cut is reported here, unless the last record already
    fails as cut short. (fastwarc fails whatever is left of a plain file that is no record.)"""
    if not is_gz or (last is not None and (last.truncated or last.header_cut)):
        return None
    if isinstance(source, GzipMembers):
        if not source.cut:
            return None
        return _region(path, *source.place(), "read_warc_truncated", "the file ends inside a gzip member")
    at = pos if last is None else _record_end(f, last.offset, True)
    problem = tail_problem(f, at)
    return None if problem is None else _region(path, at, 0, *problem)


def _region(path: str, at: int, inner: int, code: str, why: str) -> BadRegion:
    return BadRegion(at, code, f"{path}@{_place(at, inner)}: {why}", inner)


def _decompress_tolerant(data: bytes) -> tuple[bytes, str | None]:
    """All of a (multi-member) gzip stream that decodes, and an error message if it stopped early."""
    out, rest, left = [], data, MAX_BLOCK_BYTES * 4
    while rest:
        d = zlib.decompressobj(31)
        try:
            out.append(d.decompress(rest, left + 1))
        except zlib.error as exc:
            return b"".join(out), str(exc)
        left -= len(out[-1])
        if left < 0:
            return b"".join(out)[: MAX_BLOCK_BYTES * 4], f"decompresses to more than {MAX_BLOCK_BYTES * 4} bytes"
        if not d.eof:
            return b"".join(out), "gzip stream ends inside a member"
        rest = d.unused_data
    return b"".join(out), None


def _iter_lenient(path: str, data: bytes, is_gz: bool) -> Iterator[RawRecord | BadRegion]:
    """Parse headers ending in LF or CRLF, any WARC/x.y version; trust Content-Length, then look for the next record."""
    err = None
    if is_gz:
        data, err = _decompress_tolerant(data)
    pos = 0
    while True:
        m = _WARC_LINE.search(data, pos)
        if not m:
            break
        start = m.start(1)
        ends = [i for i in (data.find(b"\r\n\r\n", start), data.find(b"\n\n", start)) if i != -1]
        if not ends:
            yield BadRegion(start, "read_warc_bad_header", f"{path}@{start}: WARC header never ends")
            break
        hend = min(ends)
        body_start = hend + (4 if data.startswith(b"\r\n\r\n", hend) else 2)
        headers: dict[str, str] = {}
        for line in data[m.end(1) : hend].split(b"\n"):
            name, sep, value = line.decode("utf-8", "replace").partition(":")
            if sep:
                headers[name.strip().lower()] = value.strip()
        try:
            length = int(headers.get("content-length", ""))
        except ValueError:
            yield BadRegion(start, "read_warc_bad_header", f"{path}@{start}: no valid Content-Length")
            pos = body_start
            continue
        end, repaired = body_start + length, False
        if data[end:].strip() and not _AT_RECORD.match(data, end):
            # Content-Length does not land on the next record (hand-made files count characters, not bytes):
            # end the block where the next record begins instead.
            nxt = _NEXT_RECORD.search(data, body_start)
            if nxt is not None:
                end, repaired = nxt.start(), True
        block = data[body_start:end]
        yield RawRecord(start, m.group(1).decode(), headers, block, len(block) < length and not repaired, repaired)
        pos = end
    if err:
        yield BadRegion(len(data), "read_warc_corrupt", f"{path}: {err}")
