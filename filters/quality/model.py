"""What training and scoring share: text normalisation, label names, the model card, and model-file checks."""

from __future__ import annotations

import hashlib
import json
import mmap
import os
import struct
from typing import Any

CARD_VERSION = 1
MODEL_FILE = "model.bin"
CARD_FILE = "card.json"
POSITIVE = "positive"
NEGATIVE = "negative"
LABEL_PREFIX = "__label__"
# Long documents are judged by their opening: it keeps scoring cost flat per document, and the opening
# is what a reader (and most quality signals) see first. Training and scoring truncate alike.
DEFAULT_MAX_CHARS = 3000

FASTTEXT_MAGIC = 793712314
FASTTEXT_VERSION = 12


class ModelFileError(ValueError):
    """A model path that is missing, unreadable or not a complete fastText model; the message names the path."""


def normalise(text: str, max_chars: int = DEFAULT_MAX_CHARS) -> str:
    """The one text normalisation, used at training and at scoring time.

    fastText splits tokens on whitespace but reads one line per example, so newlines become spaces;
    lower-casing folds sentence-initial and shouted words into one vector. Both are cheap C-level
    string operations: scoring must stay close to fastText's own predict rate.
    """
    return text[:max_chars].lower().replace("\n", " ")


def resolve_model_path(path: str) -> str:
    """A model directory (holding model.bin) or the .bin file itself → the .bin path."""
    path = os.path.expanduser(path)
    if os.path.isdir(path):
        return os.path.join(path, MODEL_FILE)
    return path


def card_path_for(model_path: str) -> str:
    return os.path.join(os.path.dirname(resolve_model_path(model_path)), CARD_FILE)


def load_card(model_path: str) -> dict[str, Any] | None:
    """The card.json beside a model, or None when there is none. A card that is not JSON is an error."""
    path = card_path_for(model_path)
    if not os.path.isfile(path):
        return None
    try:
        with open(path, encoding="utf-8") as f:
            card = json.load(f)
    except (OSError, ValueError) as exc:
        raise ModelFileError(f"{path}: model card is not readable JSON ({exc})") from None
    if not isinstance(card, dict):
        raise ModelFileError(f"{path}: model card is not a JSON object")
    return card


def file_sha256(path: str) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def check_model_file(path: str, card: dict[str, Any] | None = None) -> list[str]:
    """Check that `path` is a complete fastText model before fastText opens it; returns its labels.

    fastText itself hangs on some truncated files and silently loads others with garbage weights, so
    the file's structure is walked here (header, dictionary, matrix sizes) and must end exactly where
    the file does. A card's sha256, when present, must match too.
    """
    given, path = path, resolve_model_path(path)
    if not os.path.exists(path):
        raise ModelFileError(
            f"{given}: no model there (expected a directory holding {MODEL_FILE}, or a fastText .bin file); "
            "train one with `winnow train-classifier`"
        )
    if not os.path.isfile(path):
        raise ModelFileError(f"{path}: not a file")
    size = os.path.getsize(path)
    if size < 8:
        raise ModelFileError(f"{path}: not a fastText model ({size} bytes)")
    try:
        with open(path, "rb") as f, mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ) as mm:
            labels = _walk_fasttext(mm, path)
    except OSError as exc:
        raise ModelFileError(f"{path}: cannot read model file ({exc})") from None
    if card and card.get("model_sha256") and card["model_sha256"] != file_sha256(path):
        raise ModelFileError(f"{path}: sha256 differs from the one in {card_path_for(path)}; the file is damaged")
    return labels


def _walk_fasttext(mm: mmap.mmap, path: str) -> list[str]:
    size = len(mm)

    def need(pos: int, n: int, what: str) -> None:
        if pos + n > size:
            raise ModelFileError(f"{path}: truncated fastText model (ends inside the {what}, at byte {size})")

    magic, version = struct.unpack_from("<ii", mm, 0)
    if magic != FASTTEXT_MAGIC:
        raise ModelFileError(f"{path}: not a fastText model (bad magic number)")
    if version > FASTTEXT_VERSION:
        raise ModelFileError(f"{path}: fastText model version {version} is newer than supported ({FASTTEXT_VERSION})")
    pos = 8
    need(pos, 12 * 4 + 8, "header")
    args = struct.unpack_from("<12i", mm, pos)
    dim, model_kind = args[0], args[7]
    pos += 12 * 4 + 8
    need(pos, 3 * 4 + 2 * 8, "dictionary header")
    n_entries, _nwords, _nlabels, _ntokens, prune_size = struct.unpack_from("<iiiqq", mm, pos)
    pos += 3 * 4 + 2 * 8
    if n_entries < 0 or dim <= 0:
        raise ModelFileError(f"{path}: corrupt fastText header (entries={n_entries}, dim={dim})")
    labels = []
    for _ in range(n_entries):
        end = mm.find(b"\0", pos)
        if end < 0:
            raise ModelFileError(f"{path}: truncated fastText model (ends inside the dictionary)")
        word = mm[pos:end]
        pos = end + 1
        need(pos, 9, "dictionary")
        if mm[pos + 8] == 1:  # entry type 1: a label
            labels.append(word.decode("utf-8", errors="replace"))
        pos += 9
    if prune_size > 0:
        need(pos, prune_size * 8, "pruned index")
        pos += prune_size * 8
    for what in ("input matrix", "output matrix"):
        need(pos, 1, what)
        quantised = mm[pos] != 0
        pos += 1
        if quantised:
            # Quantised (.ftz) matrices have a nested codebook layout; their dictionary was checked above.
            return labels
        need(pos, 16, what)
        rows, cols = struct.unpack_from("<qq", mm, pos)
        pos += 16
        if rows < 0 or cols < 0:
            raise ModelFileError(f"{path}: corrupt fastText {what} ({rows}×{cols})")
        need(pos, rows * cols * 4, what)
        pos += rows * cols * 4
    if pos != size:
        raise ModelFileError(f"{path}: {size - pos} unexpected bytes after the fastText model")
    if model_kind != 3 or not labels:  # 3: fastText's supervised model
        raise ModelFileError(f"{path}: a fastText model without labels (not a supervised classifier)")
    return labels


def load_fasttext(path: str, card: dict[str, Any] | None = None) -> Any:
    """Check, then load a fastText classifier. Every error names the path."""
    import fasttext

    path = resolve_model_path(path)
    check_model_file(path, card)
    try:
        return fasttext.load_model(path)
    except (ValueError, RuntimeError, MemoryError) as exc:
        raise ModelFileError(f"{path}: fastText cannot load it ({exc})") from None


def positive_probability(model: Any, text: str | None, label: str, max_chars: int) -> float | None:
    """P(label | text) for one document; None for a missing or blank text, which carries no evidence."""
    if text is None:
        return None
    norm = normalise(text, max_chars)
    if not norm.strip():
        return None
    # The bound C++ predict, without the Python wrapper's per-call checks and numpy conversion:
    # normalise() already removed the newlines it guards against. k=-1: every label's probability.
    for prob, lab in model.f.predict(norm + "\n", -1, 0.0, "replace"):
        if lab == label:
            return min(max(prob, 0.0), 1.0)  # fastText's softmax can overshoot 1 by 1e-5
    return 0.0
