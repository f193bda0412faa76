"""A local tokenizer and BPE training: what `winnow mix`, `winnow export` and `winnow ablate` encode with.

- `Tokenizer.load(path)` wraps a local Hugging Face `tokenizer.json` (a file, or a directory holding one); nothing is
  fetched from a hub. It exposes `vocab_size`, `eos_id`, `fingerprint` (sha256 of the tokenizer.json bytes, 16 hex),
  `ids_key` (fingerprint, EOS id and encoder: what token caches key on), `encode_batch(texts) -> list[list[int]]`
  and `decode(ids) -> str`. Byte-level BPE tokenizers are encoded with
  tiktoken built from the same ranks when that yields identical ids (checked on real text; see `tiktoken_bpe.py`).
- `train_tokenizer(texts_or_paths, vocab_size, output_dir) -> path` trains a byte-level BPE and writes tokenizer.json.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
from collections.abc import Iterable, Sequence

import numpy as np

from winnow.pipeline.tokens.documents import document_files, read_texts

log = logging.getLogger(__name__)

EOS_CANDIDATES = ("<|endoftext|>", "<|end_of_text|>", "</s>", "<eos>", "<|eos|>", "[EOS]")
DEFAULT_EOS = EOS_CANDIDATES[0]  # what train_tokenizer adds when no EOS token is asked for


class TokenizerError(ValueError):
    """A tokenizer that cannot be found or used; raised before any work starts."""


def _tokenizer_file(path: str) -> str:
    if os.path.isdir(path):
        path = os.path.join(path, "tokenizer.json")
    if not os.path.isfile(path):
        raise TokenizerError(
            f"tokenizer {path!r} does not exist; give a local tokenizer.json (or a directory holding one), "
            "or train one with `winnow train-tokenizer`"
        )
    return path


class Tokenizer:
    """A local Hugging Face tokenizer with an EOS id, a content fingerprint and a verified fast path."""

    def __init__(self, path: str, eos_token: str | None = None, fast: bool = True):
        from tokenizers import Tokenizer as HFTokenizer

        self.path = _tokenizer_file(path)
        with open(self.path, "rb") as f:
            data = f.read()
        self.fingerprint = hashlib.sha256(data).hexdigest()[:16]
        try:
            self._hf = HFTokenizer.from_str(data.decode("utf-8"))
        except Exception as exc:  # the Rust side raises plain Exceptions on malformed files
            raise TokenizerError(f"tokenizer {self.path!r} cannot be loaded: {exc}") from None
        self.vocab_size = self._hf.get_vocab_size(with_added_tokens=True)
        eos_token = eos_token or _configured_eos(os.path.dirname(self.path))
        names = [eos_token] if eos_token else list(EOS_CANDIDATES)
        ids = [self._hf.token_to_id(n) for n in names]
        found = [(n, i) for n, i in zip(names, ids) if i is not None]
        if not found:
            raise TokenizerError(
                f"tokenizer {self.path!r} has no end-of-document token (looked for {', '.join(names)})"
            )
        self.eos_token, self.eos_id = found[0]
        self.dtype = np.dtype(np.uint16) if self.vocab_size <= 1 << 16 else np.dtype(np.uint32)
        self.num_threads = os.cpu_count() or 1  # tiktoken's batch threads; tokenizers follows RAYON_NUM_THREADS
        self._fast = None
        if fast:
            from winnow.pipeline.tokens.tiktoken_bpe import fast_encoder

            self._fast = fast_encoder(json.loads(data))

    @classmethod
    def load(cls, path: str, eos_token: str | None = None, fast: bool = True) -> Tokenizer:
        return cls(path, eos_token=eos_token, fast=fast)

    @property
    def encoder(self) -> str:
        """Which encoder produces the ids: `tiktoken` (identical ids, faster) or `tokenizers`."""
        return "tiktoken" if self._fast is not None else "tokenizers"

    @property
    def ids_key(self) -> str:
        """What decides the ids a text gets (tokenizer.json, EOS id, encoder): caches of token ids are keyed by it.

        The encoder is in it although the fast path is only taken where its ids are identical, so that `fast: false`
        re-tokenizes rather than reusing what the fast path wrote."""
        return f"{self.fingerprint}|eos={self.eos_id}|{self.encoder}"

    def encode_batch(self, texts: list[str]) -> list[list[int]]:
        if self._fast is not None:
            return self._fast.encode_batch(texts, num_threads=self.num_threads, allowed_special="all")
        return self.reference_encode_batch(texts)

    def reference_encode_batch(self, texts: list[str]) -> list[list[int]]:
        """The Hugging Face tokenizers library's own ids: the reference every fast path must equal."""
        return [e.ids for e in self._hf.encode_batch_fast(texts, add_special_tokens=False)]

    def verify(self, texts: list[str]) -> bool:
        """Compare the fast encoder with the reference on real texts; on any difference fall back for good."""
        if self._fast is None or not texts:
            return True
        if self._fast.encode_batch(
            texts, num_threads=self.num_threads, allowed_special="all"
        ) == self.reference_encode_batch(texts):
            return True
        log.warning("tiktoken ids differ from tokenizers ids for %s; using tokenizers from now on", self.path)
        self._fast = None
        return False

    def decode(self, ids: Iterable[int]) -> str:
        return self._hf.decode([int(i) for i in ids], skip_special_tokens=False)


def _configured_eos(directory: str) -> str | None:
    """The eos_token a transformers-style tokenizer_config.json beside tokenizer.json names, if any."""
    cfg = os.path.join(directory, "tokenizer_config.json")
    if not os.path.isfile(cfg):
        return None
    try:
        with open(cfg, encoding="utf-8") as f:
            eos = json.load(f).get("eos_token")
    except (ValueError, OSError):
        return None
    return eos.get("content") if isinstance(eos, dict) else eos


def train_tokenizer(
    texts_or_paths: str | Sequence[str], vocab_size: int, output_dir: str, eos_token: str = DEFAULT_EOS
) -> str:
    """Train a byte-level BPE (GPT-2 style: every byte encodable, no unknown token) and write tokenizer.json.

    `texts_or_paths` is a path, a list of paths (JSONL/Parquet files, globs or run output directories), or a list
    of texts (when not every item names an existing path). Returns the tokenizer.json path.
    """
    from tokenizers import Tokenizer as HFTokenizer
    from tokenizers import decoders, models, pre_tokenizers, trainers

    items = [texts_or_paths] if isinstance(texts_or_paths, str) else list(texts_or_paths)
    if not items:
        raise ValueError("train_tokenizer: no texts or paths given")
    if vocab_size < 257:
        raise ValueError(f"train_tokenizer: vocab_size {vocab_size} is below 257 (256 bytes + the EOS token)")
    if not eos_token:
        raise ValueError("train_tokenizer: the EOS token cannot be empty")
    if os.path.exists(output_dir) and not os.path.isdir(output_dir):
        raise ValueError(f"train_tokenizer: {output_dir} is a file, not a folder for tokenizer.json")
    is_paths = all(os.path.exists(p) or any(c in p for c in "*?[") for p in items)
    texts = _CountedTexts(read_texts(document_files(items)) if is_paths else items)
    tok = HFTokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=[eos_token],
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tok.train_from_iterator(texts, trainer=trainer)
    if not texts.chars:  # a vocabulary of bytes alone would train "successfully" and be useless
        raise ValueError("train_tokenizer: the inputs hold no text to train on")
    os.makedirs(output_dir, exist_ok=True)
    out = os.path.join(output_dir, "tokenizer.json")
    tok.save(out)
    # transformers (and Tokenizer.load) read the EOS token from here.
    with open(os.path.join(output_dir, "tokenizer_config.json"), "w", encoding="utf-8") as f:
        json.dump({"eos_token": eos_token, "tokenizer_class": "PreTrainedTokenizerFast"}, f, indent=2)
    return out


class _CountedTexts:
    """An iterable of texts that counts the characters it handed out (the trainer consumes it once)."""

    def __init__(self, texts: Iterable[str]):
        self._texts, self.chars = texts, 0

    def __iter__(self):
        for text in self._texts:
            self.chars += len(text)
            yield text
