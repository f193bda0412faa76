"""Gzip WARC files that do not keep one record per member, and the member checks that span reading needs.

Common Crawl ends a gzip member with every record, so a record's member offset is its place in the file. A file
gzipped as one stream (`gzip file.warc`) has one member for all its records; `GzipMembers` decompresses such a file
for fastwarc and places each record by its member and its offset inside it. `chains_on` tells a real member boundary
from a gzip file stored inside a record's payload, and `tail_problem` what the bytes after the last record are.
"""

from __future__ import annotations

import bisect
import re
import zlib
from typing import BinaryIO

SCAN_WINDOW = 1 << 20  # how far to look for a record's start (or the end of its header) before giving up

# Deflate stores bytes it cannot compress (a gzip file inside a record's payload) in blocks of at most this many.
_STORED_BLOCK = 65535


def chains_on(f: BinaryIO, start: int) -> bool:
    """Whether whole gzip members follow one another from `start` for longer than a stored deflate block, or up to
    the end of the file. A crawled .warc.gz inside a record's payload starts members that decompress to WARC records
    too, but its bytes lie in the stored blocks of the outer member, between their headers: a chain of members that
    starts there breaks within one block. A real member boundary is followed by whole members (or a cut last one)."""
    f.seek(start)
    data, d, pos = b"", None, start
    while pos - start <= _STORED_BLOCK + 5:  # a stored block's own header is 5 bytes at most
        if not data:
            data = f.read(1 << 16)
            if not data:
                return True  # the end of the file (inside a member of a cut file, too)
        if d is None or d.eof:
            d = zlib.decompressobj(31)
        try:
            d.decompress(data, 1 << 16)
        except zlib.error:
            return False
        rest = d.unused_data if d.eof else d.unconsumed_tail
        pos += len(data) - len(rest)
        data = rest
    return True


_CONTENT_LENGTH = re.compile(rb"\r\ncontent-length:[ \t]*(\d+)", re.IGNORECASE)


def shares_members(f: BinaryIO) -> bool:
    """Whether the gzip file's first member holds more than its first record (`gzip file.warc`, or such files
    concatenated). Only the first record is decompressed to tell: Common Crawl's files end a member with each record.
    Where it cannot tell (a cut or corrupt first member, LF-only headers), fastwarc reads the file as before."""
    f.seek(0)
    d = zlib.decompressobj(31)
    head, record_end, size = b"", None, 0
    while not d.eof:
        data = d.unconsumed_tail or f.read(1 << 16)
        if not data:
            return False
        try:
            out = d.decompress(data, 1 << 16)
        except zlib.error:
            return False
        size += len(out)
        if record_end is None:
            head += out
            hend = head.find(b"\r\n\r\n")
            if hend == -1:
                if len(head) > SCAN_WINDOW:
                    return False
                continue
            length = _CONTENT_LENGTH.search(head, 0, hend + 2)
            if length is None:
                return False
            record_end, head = hend + 4 + int(length.group(1)) + 4, b""  # a record ends with CRLF CRLF
        if size > record_end:
            return True
    return False


class GzipMembers:
    """A gzip file decompressed from `start` on, handed to fastwarc as a plain WARC, keeping where each member begins
    in the file and in the decompressed bytes, so that a record is placed by its member and its offset inside it.
    fastwarc asks only read() and tell() of it; a decompression error is raised as the OSError fastwarc would raise."""

    def __init__(self, f: BinaryIO, start: int):
        self._f = f
        self._d = None  # the current member's decompressor
        self._input = b""  # bytes read from the file and not yet decompressed
        self._file_pos = start  # file offset of self._input's first byte
        self._out_pos = 0  # decompressed bytes handed out
        self._member_offsets: list[int] = []  # file offset of each member
        self._member_starts: list[int] = []  # its first byte's position in the decompressed bytes
        self.cut = False  # the file ended inside a member
        self._error: OSError | None = None

    def tell(self) -> int:
        return self._out_pos

    def read(self, size: int = -1) -> bytes:
        if self._error is not None:
            raise self._error
        size = size if size >= 0 else 1 << 62
        parts: list[bytes] = []
        got = 0
        while got < size:
            if self._d is None or self._d.eof:
                # A read ends with its member, as in fastwarc's own gzip reader, so fastwarc parses what came before a
                # bad member before it sees the error (which is held back for the next read).
                if got or not self._next_member():
                    break
            if not self._input and not self._fill():
                self.cut = True
                break
            try:
                out = self._d.decompress(self._input, size - got)
            except zlib.error as exc:
                self._error = OSError(f"Gzip decompression error: {exc}")
                if got:
                    break
                raise self._error from exc
            rest = self._d.unused_data if self._d.eof else self._d.unconsumed_tail
            self._file_pos += len(self._input) - len(rest)
            self._input = rest
            parts.append(out)
            got += len(out)
            self._out_pos += len(out)
        return b"".join(parts)

    def _fill(self) -> bool:
        self._input = self._f.read(1 << 16)
        return bool(self._input)

    def _next_member(self) -> bool:
        """Start decompressing the next member; False at the end of the file."""
        if not self._input and not self._fill():
            return False
        self._member_offsets.append(self._file_pos)
        self._member_starts.append(self._out_pos)
        self._d = zlib.decompressobj(31)
        return True

    def place(self, pos: int | None = None) -> tuple[int, int]:
        """(member offset in the file, offset inside the member) of decompressed position `pos`, by default of where
        decompression has reached."""
        if not self._member_offsets:
            return self._file_pos, 0
        pos = self._out_pos if pos is None else pos
        i = max(bisect.bisect_right(self._member_starts, pos) - 1, 0)
        return self._member_offsets[i], pos - self._member_starts[i]


def tail_problem(f: BinaryIO, at: int) -> tuple[str, str] | None:
    """What the bytes from `at` to the end of a gzip file, which gave fastwarc no record, are: (code, why), or None
    when there are none (or only empty members)."""
    f.seek(at)
    data, d = b"", None
    while True:
        if not data:
            data = f.read(1 << 16)
            if not data:
                return None if d is None or d.eof else ("read_warc_truncated", "the file ends inside a gzip member, "
                                                                                   "before a complete WARC header")
        if d is None or d.eof:
            d = zlib.decompressobj(31)
        try:
            out = d.decompress(data, 1 << 16)
        except zlib.error as exc:
            return "read_warc_corrupt", f"not a gzip member ({exc})"
        if out.strip():
            return "read_warc_corrupt", "a gzip member that holds no WARC record fastwarc could read"
        data = d.unused_data if d.eof else d.unconsumed_tail
