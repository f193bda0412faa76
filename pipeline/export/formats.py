"""Shard file formats: the Megatron-LM indexed dataset (.bin + .idx, "MMIDIDX") and a flat .npy token array.

Megatron's index file, little-endian: the 9-byte magic `MMIDIDX\\x00\\x00`, version (u64 = 1), a dtype code (u8),
the sequence count S (u64), the document count D (u64, = documents + 1), then S int32 sequence lengths, S int64
byte pointers into the .bin, and D int64 document indices (sequence index where each document starts, beginning
with 0 and ending with S). The .bin is the sequences' tokens back to back. Each exported document (or piece of one)
is one sequence and one document.
"""

from __future__ import annotations

import hashlib
import struct
from dataclasses import dataclass
from typing import Self

import numpy as np

MEGATRON_MAGIC = b"MMIDIDX\x00\x00"
MEGATRON_VERSION = 1
# megatron.core.datasets.indexed_dataset.DType codes
MEGATRON_DTYPE_CODES = {
    1: np.uint8,
    2: np.int8,
    3: np.int16,
    4: np.int32,
    5: np.int64,
    6: np.float64,
    7: np.float32,
    8: np.uint16,
}


def megatron_dtype(vocab_size: int) -> np.dtype:
    """The token type Megatron's own preprocessing picks: uint16 below 65,500 ids, int32 otherwise."""
    return np.dtype(np.uint16) if vocab_size < 65500 else np.dtype(np.int32)


def flat_dtype(vocab_size: int) -> np.dtype:
    return np.dtype(np.uint16) if vocab_size <= 1 << 16 else np.dtype(np.uint32)


class ChecksumWriter:
    """A file opened for binary writing that hashes (sha256) and counts its bytes as they are written.

    The manifest's checksums come from here, so a shard is never read back to hash it."""

    def __init__(self, path: str):
        self._file = open(path, "wb")  # noqa: SIM115 - closed by close() / the with block, like a file
        self._hash = hashlib.sha256()
        self._bytes = 0

    def write(self, data) -> int:
        view = memoryview(data).cast("B")
        self._hash.update(view)
        self._bytes += view.nbytes
        return self._file.write(view)

    def writelines(self, chunks) -> None:
        for chunk in chunks:
            self.write(chunk)

    def tell(self) -> int:  # never seeks: what was written is where it is (pyarrow asks)
        return self._bytes

    def flush(self) -> None:
        self._file.flush()

    @property
    def closed(self) -> bool:
        return self._file.closed

    def close(self) -> None:
        self._file.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def checksum(self) -> dict:
        """The manifest's entry for this file: {"sha256", "bytes"}."""
        return {"sha256": self._hash.hexdigest(), "bytes": self._bytes}


def write_megatron(prefix: str, sequences: list[np.ndarray], dtype: np.dtype) -> dict[str, dict]:
    """Write `prefix.bin` and `prefix.idx`, one sequence and one document per array; returns each file's checksum."""
    lengths = np.array([len(s) for s in sequences], dtype=np.int32)
    pointers = np.zeros(len(sequences), dtype=np.int64)
    if len(sequences) > 1:
        np.cumsum(lengths[:-1].astype(np.int64) * dtype.itemsize, out=pointers[1:])
    with ChecksumWriter(prefix + ".bin") as data:
        data.writelines(np.asarray(s, dtype=dtype).tobytes() for s in sequences)
    code = next(c for c, t in MEGATRON_DTYPE_CODES.items() if np.dtype(t) == dtype)
    doc_index = np.arange(len(sequences) + 1, dtype=np.int64)
    with ChecksumWriter(prefix + ".idx") as f:
        f.write(MEGATRON_MAGIC)
        f.write(struct.pack("<Q", MEGATRON_VERSION))
        f.write(struct.pack("<B", code))
        f.write(struct.pack("<Q", len(sequences)))
        f.write(struct.pack("<Q", len(doc_index)))
        f.write(lengths.tobytes())
        f.write(pointers.tobytes())
        f.write(doc_index.tobytes())
    return {prefix + ".bin": data.checksum(), prefix + ".idx": f.checksum()}


@dataclass
class MegatronShard:
    """A Megatron indexed dataset read from the format's specification (independently of megatron-core)."""

    dtype: np.dtype
    lengths: np.ndarray
    pointers: np.ndarray
    document_indices: np.ndarray
    data: np.ndarray  # the .bin, memory-mapped as raw bytes

    def __len__(self) -> int:
        return len(self.lengths)

    def __getitem__(self, i: int) -> np.ndarray:
        start = int(self.pointers[i])
        return self.data[start : start + int(self.lengths[i]) * self.dtype.itemsize].view(self.dtype)


def read_megatron(prefix: str) -> MegatronShard:
    with open(prefix + ".idx", "rb") as f:
        if f.read(len(MEGATRON_MAGIC)) != MEGATRON_MAGIC:
            raise ValueError(f"{prefix}.idx: not a Megatron indexed dataset (bad magic)")
        (version,) = struct.unpack("<Q", f.read(8))
        if version != MEGATRON_VERSION:
            raise ValueError(f"{prefix}.idx: unsupported version {version}")
        (code,) = struct.unpack("<B", f.read(1))
        (n_seq,) = struct.unpack("<Q", f.read(8))
        (n_doc,) = struct.unpack("<Q", f.read(8))
        lengths = np.frombuffer(f.read(4 * n_seq), dtype=np.int32)
        pointers = np.frombuffer(f.read(8 * n_seq), dtype=np.int64)
        docs = np.frombuffer(f.read(8 * n_doc), dtype=np.int64)
    data = np.memmap(prefix + ".bin", dtype=np.uint8, mode="r") if lengths.sum() else np.zeros(0, np.uint8)
    return MegatronShard(np.dtype(MEGATRON_DTYPE_CODES[code]), lengths, pointers, docs, data)


def write_flat(path: str, tokens: np.ndarray) -> dict:
    """A plain .npy file: numpy's own small header (dtype, shape), then the tokens; `np.load(path, mmap_mode="r")`.

    Returns the file's checksum."""
    with ChecksumWriter(path) as f:
        np.save(f, tokens, allow_pickle=False)
    return f.checksum()


def read_flat(path: str) -> np.ndarray:
    return np.load(path, mmap_mode="r", allow_pickle=False)
