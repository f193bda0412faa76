"""One way to open, list and write paths: local, s3:// (pyarrow's S3 client) and https:// (ranged reads, retried)."""

from __future__ import annotations

import fnmatch
import glob
import gzip
import io
import os
import posixpath
import re
import uuid
from typing import BinaryIO

import pyarrow.fs as pafs

REMOTE_SCHEMES = ("s3://", "gs://", "https://", "http://")


class InputError(ValueError):
    """A path or glob that names nothing, or a scheme Winnow cannot read. Raised before any work starts."""


_USERINFO = re.compile(r"(?P<scheme>[a-zA-Z][a-zA-Z0-9+.-]*://)[^/@\s]+@")
_SECRET_PARAMS = re.compile(r"(?i)([?&](?:x-amz-signature|x-amz-credential|x-amz-security-token|signature|sig|token|key)=)[^&\s]+")


def redact(text: str | None) -> str | None:
    """Remove credentials from URLs (user:password@, signed-URL query parameters) before they are written anywhere."""
    if not text:
        return text
    return _SECRET_PARAMS.sub(r"\1REDACTED", _USERINFO.sub(r"\g<scheme>REDACTED@", text))


def is_remote(path: str) -> bool:
    return path.startswith(REMOTE_SCHEMES)


def _s3_filesystem() -> pafs.S3FileSystem:
    # AWS_ENDPOINT_URL points at an S3-compatible server (MinIO, moto); anonymous access when no
    # credentials are set, which is what Common Crawl's public bucket needs.
    endpoint = os.environ.get("AWS_ENDPOINT_URL") or os.environ.get("AWS_ENDPOINT_URL_S3")
    anonymous = not (os.environ.get("AWS_ACCESS_KEY_ID") or os.environ.get("AWS_PROFILE"))
    kwargs: dict = {"anonymous": anonymous, "retry_strategy": pafs.AwsStandardS3RetryStrategy(max_attempts=6)}
    if endpoint:
        kwargs["endpoint_override"] = endpoint
        kwargs["scheme"] = "https" if endpoint.startswith("https") else "http"
    kwargs["region"] = os.environ.get("AWS_REGION", os.environ.get("AWS_DEFAULT_REGION", "us-east-1"))
    return pafs.S3FileSystem(**kwargs)


def filesystem(path: str) -> tuple[pafs.FileSystem, str]:
    """The pyarrow filesystem and the path inside it for a local path or an s3:// / gs:// URI."""
    if path.startswith("s3://"):
        return _s3_filesystem(), path[len("s3://") :]
    if path.startswith("gs://"):
        return pafs.GcsFileSystem(), path[len("gs://") :]
    if path.startswith(("http://", "https://")):
        raise InputError(f"{path}: https:// is read-only; write outputs to a local path or s3://")
    return pafs.LocalFileSystem(), os.path.abspath(path)


def _scheme(path: str) -> str:
    return path.split("://", 1)[0] + "://" if "://" in path else ""


def expand(patterns: list[str]) -> list[str]:
    """Expand globs (`*`, `**`) into a sorted, de-duplicated list of files; a pattern that matches nothing is an error."""
    files: list[str] = []
    for pattern in patterns:
        if pattern.startswith(("http://", "https://")):
            files.append(pattern)  # HTTP has no listing; the URL names one file
            continue
        has_glob = any(ch in pattern for ch in "*?[")
        if not is_remote(pattern):
            if has_glob:
                matched = sorted(p for p in glob.glob(os.path.expanduser(pattern), recursive=True) if os.path.isfile(p))
            elif os.path.isdir(pattern):
                matched = sorted(
                    p for p in glob.glob(os.path.join(pattern, "**", "*"), recursive=True) if os.path.isfile(p)
                )
            elif os.path.isfile(pattern):
                matched = [pattern]
            else:
                raise InputError(f"input {pattern!r} does not exist")
            if not matched:
                raise InputError(f"input {pattern!r} matches no files")
            files.extend(matched)
            continue
        fs, inner = filesystem(pattern)
        scheme = _scheme(pattern)
        if not has_glob:
            info = fs.get_file_info(inner)
            if info.type == pafs.FileType.File:
                files.append(pattern)
                continue
            if info.type == pafs.FileType.NotFound:
                raise InputError(f"input {pattern!r} does not exist")
            base, pat = inner.rstrip("/"), None
        else:
            base = re.split(r"[*?\[]", inner, maxsplit=1)[0].rsplit("/", 1)[0]
            pat = inner
        infos = fs.get_file_info(pafs.FileSelector(base, recursive=True, allow_not_found=True))
        matched = sorted(
            scheme + i.path
            for i in infos
            if i.type == pafs.FileType.File and (pat is None or fnmatch.fnmatch(i.path, pat))
        )
        if not matched:
            raise InputError(f"input {pattern!r} matches no files")
        files.extend(matched)
    seen: set[str] = set()
    return [f for f in files if not (f in seen or seen.add(f))]


def open_input(path: str) -> BinaryIO:
    """Open a file for binary reading, wherever it lives. Decompression is the reader's choice."""
    if path.startswith(("http://", "https://")):
        from winnow.pipeline.http_file import open_url

        return open_url(path)
    if is_remote(path):
        fs, inner = filesystem(path)
        return fs.open_input_stream(inner)
    return open(path, "rb")


def open_text_lines(path: str, raw: BinaryIO | None = None) -> BinaryIO:
    """Open a possibly compressed line-oriented file (.gz, .zst or plain) as a binary stream of lines.

    `raw`: the file's bytes already open (e.g. held in memory); `path` then only picks the decompression."""
    raw = open_input(path) if raw is None else raw
    if path.endswith(".gz"):
        return gzip.GzipFile(fileobj=raw)  # type: ignore[return-value]
    if path.endswith((".zst", ".zstd")):
        import zstandard

        frames = _ZstdFrames(raw)
        reader = zstandard.ZstdDecompressor().stream_reader(frames)
        return io.BufferedReader(_Checked(reader, frames))  # type: ignore[return-value]
    return raw


_ZSTD_MAGIC = 0xFD2FB528
_ZSTD_SKIPPABLE = 0x184D2A50  # the 16 magics 0x184D2A50..5F, with the low 4 bits masked


class _ZstdFrames:
    """The compressed bytes on their way to zstandard's stream_reader, followed frame header by block header (never
    byte by byte), so the end of the file can be told from a cut inside a frame: stream_reader ends quietly there,
    and a cut .jsonl.zst would pass for a complete, shorter one (gzip raises EOFError instead)."""

    def __init__(self, raw: BinaryIO):
        self._raw = raw
        self._pending = b""  # the start of a header not yet whole
        self._skip = 0  # bytes of block content (or a skippable frame) still to pass over
        self._in_frame = False  # inside a frame: after its header, before its last block
        self._checksum = 0  # bytes of checksum after the current frame's last block
        self._lost = False  # not zstd as far as can be told: the decompressor's own error says so

    def read(self, size: int = -1) -> bytes:
        data = self._raw.read(size)
        if data and not self._lost:
            self._follow(data)
        return data

    def close(self) -> None:
        self._raw.close()

    def unfinished(self) -> bool:
        """At the end of the input: whether it stopped inside a frame."""
        return not self._lost and bool(self._in_frame or self._skip or self._pending)

    def _follow(self, data: bytes) -> None:
        data = self._pending + data if self._pending else data
        pos = 0
        while True:
            step = min(self._skip, len(data) - pos)
            pos += step
            self._skip -= step
            if self._skip:
                break
            used = self._block_header(data, pos) if self._in_frame else self._frame_header(data, pos)
            if not used:
                break
            pos += used
        self._pending = b"" if self._lost else data[pos:]

    def _frame_header(self, data: bytes, pos: int) -> int:
        """Bytes of the frame (or skippable frame) header at `pos`; 0 when it is not all there yet."""
        if len(data) - pos < 8:  # a frame header is at least 6 bytes, a skippable one 8
            return 0
        magic = int.from_bytes(data[pos : pos + 4], "little")
        if magic & 0xFFFFFFF0 == _ZSTD_SKIPPABLE:
            self._skip = int.from_bytes(data[pos + 4 : pos + 8], "little")
            return 8
        if magic != _ZSTD_MAGIC:
            self._lost = True
            return 0
        descriptor = data[pos + 4]
        single_segment = descriptor >> 5 & 1
        size = 5 + (not single_segment) + (0, 1, 2, 4)[descriptor & 3] + (single_segment, 2, 4, 8)[descriptor >> 6]
        if len(data) - pos < size:
            return 0
        self._in_frame, self._checksum = True, 4 if descriptor >> 2 & 1 else 0
        return size

    def _block_header(self, data: bytes, pos: int) -> int:
        if len(data) - pos < 3:
            return 0
        header = int.from_bytes(data[pos : pos + 3], "little")
        block_type, block_size = header >> 1 & 3, header >> 3
        self._skip = 1 if block_type == 1 else block_size  # an RLE block stores one byte
        if header & 1:  # the last block: then the checksum, if the frame has one
            self._skip += self._checksum
            self._in_frame = False
        return 3


class _Checked(io.RawIOBase):
    """zstandard's stream_reader that raises EOFError where the input stops inside a frame."""

    def __init__(self, reader, frames: _ZstdFrames):
        self._reader, self._frames = reader, frames

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        n = self._reader.readinto(buffer)
        if n == 0 and self._frames.unfinished():
            raise EOFError("Compressed file ended before the end of its last zstd frame")
        return n

    def close(self) -> None:
        self._reader.close()
        super().close()


def join(base: str, *parts: str) -> str:
    if is_remote(base):
        return posixpath.join(base, *parts)
    return os.path.join(base, *parts)


def sized(path: str) -> bool:
    """Whether `size` can tell this file's size: not for an HTTP URL (unknown without a request)."""
    return not path.startswith(("http://", "https://"))


def size(path: str) -> int:
    """A file's size in bytes; 0 for an HTTP URL (see `sized`) or a file that is not there."""
    if not sized(path):
        return 0
    fs, inner = filesystem(path)
    return int(fs.get_file_info(inner).size or 0)


def exists(path: str) -> bool:
    fs, inner = filesystem(path)
    return fs.get_file_info(inner).type != pafs.FileType.NotFound


def makedirs(path: str) -> None:
    fs, inner = filesystem(path)
    fs.create_dir(inner, recursive=True)


def read_bytes(path: str) -> bytes:
    fs, inner = filesystem(path)
    with fs.open_input_stream(inner) as f:
        return f.read()


def write_atomic(path: str, data: bytes) -> None:
    """Write to a temporary name beside the target, then rename, so readers never see half a file."""
    fs, inner = filesystem(path)
    parent = posixpath.dirname(inner) if is_remote(path) else os.path.dirname(inner)
    fs.create_dir(parent, recursive=True)
    tmp = f"{inner}.tmp-{uuid.uuid4().hex[:8]}"
    with fs.open_output_stream(tmp) as f:
        f.write(data)
    fs.move(tmp, inner)


def list_files(directory: str, suffix: str = "") -> list[str]:
    """Files directly under a directory (sorted), skipping temporaries; [] if it does not exist."""
    fs, inner = filesystem(directory)
    if fs.get_file_info(inner).type == pafs.FileType.NotFound:
        return []
    scheme = _scheme(directory)
    out = []
    for info in fs.get_file_info(pafs.FileSelector(inner, recursive=False)):
        name = posixpath.basename(info.path)
        if info.type == pafs.FileType.File and name.endswith(suffix) and ".tmp-" not in name:
            out.append(scheme + info.path if scheme else info.path)
    return sorted(out)


def delete_temporaries(directory: str) -> None:
    """Remove the half-written files (`*.tmp-*`) a killed process left directly under `directory`."""
    fs, inner = filesystem(directory)
    if fs.get_file_info(inner).type == pafs.FileType.NotFound:
        return
    for info in fs.get_file_info(pafs.FileSelector(inner, recursive=False)):
        if info.type == pafs.FileType.File and ".tmp-" in posixpath.basename(info.path):
            fs.delete_file(info.path)


def delete_dir(path: str) -> None:
    fs, inner = filesystem(path)
    if fs.get_file_info(inner).type != pafs.FileType.NotFound:
        fs.delete_dir(inner)
