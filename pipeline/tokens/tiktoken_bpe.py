"""A faster encoder for byte-level BPE tokenizers: tiktoken built from the same ranks, used only where ids match.

tiktoken merges the adjacent pair whose concatenation has the lowest rank, and a rank is also the token id;
Hugging Face BPE merges only the pairs its merge list names, in list order. The two give the same ids when the
pipeline around the model is the plain GPT-2 one (no normalizer, ByteLevel pre-tokenization with its regex, no prefix
space, no dropout), the merge list's results have increasing ids, and every token is built by its own merges from its
own bytes (`_merges_build_their_tokens`; true of BPE trained by `tokenizers` or GPT-2's). Anything else returns None
and the caller keeps the reference encoder; `Tokenizer.verify` also compares ids on real text.
"""

from __future__ import annotations

import logging
from typing import Any

import numpy as np

log = logging.getLogger(__name__)

MERGE_CHECK_CHUNKS = 16  # texts the merge check encodes in one batch (threads), each a few thousand tokens

# The pre-tokenization regex of GPT-2, which the tokenizers ByteLevel pre-tokenizer applies when use_regex is on.
GPT2_PATTERN = r"""'(?:[sdmt]|ll|ve|re)| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+"""


def _byte_decoder() -> dict[str, int]:
    """Inverse of GPT-2's bytes→printable-characters map, in which byte-level vocabularies are written."""
    printable = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1)) + list(range(ord("®"), 256))
    chars = printable[:]
    extra = 0
    for b in range(256):
        if b not in printable:
            printable.append(b)
            chars.append(256 + extra)
            extra += 1
    return {chr(c): b for b, c in zip(printable, chars)}


def _pattern(pre: dict | None) -> str | None:
    """The split regex if the pre-tokenizer is one tiktoken can reproduce, else None."""
    if not pre:
        return None
    if pre.get("type") == "ByteLevel":
        return GPT2_PATTERN if pre.get("use_regex", True) and not pre.get("add_prefix_space") else None
    if pre.get("type") == "Sequence":  # Llama-3 style: Split(regex, Isolated) then ByteLevel without its own regex
        steps = pre.get("pretokenizers") or []
        if len(steps) != 2 or steps[0].get("type") != "Split" or steps[1].get("type") != "ByteLevel":
            return None
        split, byte_level = steps
        regex = (split.get("pattern") or {}).get("Regex")
        if not regex or split.get("behavior") != "Isolated" or split.get("invert"):
            return None
        if byte_level.get("use_regex") or byte_level.get("add_prefix_space"):
            return None
        return regex
    return None


def fast_encoder(spec: dict[str, Any]) -> Any | None:
    """A tiktoken Encoding equivalent to this tokenizer.json, or None when equivalence cannot be established."""
    try:
        import tiktoken
    except ImportError:
        return None
    model = spec.get("model") or {}
    if model.get("type") != "BPE" or model.get("dropout") or model.get("byte_fallback"):
        return None
    if model.get("continuing_subword_prefix") or model.get("end_of_word_suffix") or spec.get("normalizer"):
        return None
    pattern = _pattern(spec.get("pre_tokenizer"))
    if pattern is None:
        return None
    decode = _byte_decoder()
    vocab: dict[str, int] = model.get("vocab") or {}
    try:
        ranks = {bytes(decode[ch] for ch in tok): i for tok, i in vocab.items()}
    except KeyError:
        return None  # a token outside the byte alphabet: not a byte-level vocabulary
    if len(ranks) != len(vocab) or sum(1 for t in ranks if len(t) == 1) != 256:
        return None
    specials = {}
    for added in spec.get("added_tokens") or []:
        if added.get("lstrip") or added.get("rstrip") or added.get("single_word") or added.get("normalized"):
            return None
        if added["content"] in vocab and vocab[added["content"]] != added["id"]:
            return None
        specials[added["content"]] = added["id"]
    merges = [tuple(m.split(" ", 1)) if isinstance(m, str) else tuple(m) for m in model.get("merges") or []]
    last = -1
    for a, b in merges:
        rid = vocab.get(a + b)
        if rid is None or rid <= last or a + b in specials:
            return None  # merge order and id order disagree (or a special is merged): tiktoken would merge otherwise
        last = rid
    tokens = [t for t in vocab if t not in specials]
    if not _merges_build_their_tokens(vocab, merges, tokens, whole_first=bool(model.get("ignore_merges"))):
        return None
    byte_ranks = {t: i for t, i in ranks.items() if t.decode("latin-1") not in specials}
    try:
        return tiktoken.Encoding(
            name="winnow-bpe", pat_str=pattern, mergeable_ranks=byte_ranks, special_tokens=specials
        )
    except Exception as exc:  # tiktoken refuses inconsistent rank tables
        log.info("tiktoken cannot load these ranks (%s); using tokenizers", exc)
        return None


def _merges_build_their_tokens(
    vocab: dict[str, int], merges: list[tuple[str, str]], tokens: list[str], whole_first: bool
) -> bool:
    """Whether `tokenizers`' merges, applied to each token's bytes alone, build that token (with `whole_first`, or
    leave it in three pieces or more).

    Why this is enough, given merge results in increasing id order (checked before): both encoders take the adjacent
    pair that makes the lowest id, but tiktoken takes any pair whose concatenation is a token and `tokenizers` only
    the pair its merge list names. A pair that tiktoken joins into token t inside a longer text is also its last join
    on t's bytes alone (nothing outside t's span takes part in building t), so by induction on length the two agree on
    every text when the merges build every token from its own bytes. Merges that leave a token in three or more
    pieces mean neither encoder ever builds it by merging: harmless when `tokenizers` looks a whole piece up in the vocabulary
    first (`whole_first`: its ignore_merges), as tiktoken always does. Two pieces mean tiktoken joins them and
    `tokenizers` does not: merges `a b`, `b c`, `a bc` leave `abc` as `ab`, `c`.
    """
    from tokenizers import Tokenizer as HFTokenizer
    from tokenizers import models, pre_tokenizers

    words = [t for t in tokens if len(t) > 1]
    try:
        bpe = HFTokenizer(models.BPE(vocab=vocab, merges=merges, ignore_merges=False))
    except Exception:  # noqa: BLE001 - the Rust side raises plain Exceptions on inconsistent merges
        return False
    bpe.pre_tokenizer = pre_tokenizers.WhitespaceSplit()  # byte-level tokens hold no whitespace: one word each
    chunks = [words[i::MERGE_CHECK_CHUNKS] for i in range(MERGE_CHECK_CHUNKS)]
    encoded = bpe.encode_batch([" ".join(c) for c in chunks], add_special_tokens=False)
    for chunk, enc in zip(chunks, encoded):
        pieces = np.bincount(np.asarray(enc.word_ids, dtype=np.int64), minlength=len(chunk))
        bad = (pieces == 2) | ((pieces != 1) & (not whole_first))
        if bad.any():
            log.info("token %r is not built by its own merges; using tokenizers", chunk[int(np.argmax(bad))])
            return False
    return True
