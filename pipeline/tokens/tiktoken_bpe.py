"""A faster encoder for byte-level BPE tokenizers: tiktoken built from the same ranks, used only where ids match.

tiktoken merges the adjacent pair whose concatenation has the lowest rank, and a rank is also the token id;
Hugging Face BPE applies merges in list order. The two agree when the merge list's results have increasing ids
(true of BPE trained by `tokenizers`: each merge appends a token) and the pipeline around the model is the plain
GPT-2 one (no normalizer, ByteLevel pre-tokenization with its regex, no prefix space, no dropout). Anything else
returns None and the caller keeps the reference encoder; `Tokenizer.verify` also compares ids on real text.
"""

from __future__ import annotations

import logging
from typing import Any

log = logging.getLogger(__name__)

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
    last = -1
    for merge in model.get("merges") or []:
        a, b = merge.split(" ", 1) if isinstance(merge, str) else merge
        rid = vocab.get(a + b)
        if rid is None or rid <= last:
            return None  # merge order and id order disagree: tiktoken would merge in another order
        last = rid
    specials = {}
    for added in spec.get("added_tokens") or []:
        if added.get("lstrip") or added.get("rstrip") or added.get("single_word") or added.get("normalized"):
            return None
        if added["content"] in vocab and vocab[added["content"]] != added["id"]:
            return None
        specials[added["content"]] = added["id"]
    byte_ranks = {t: i for t, i in ranks.items() if t.decode("latin-1") not in specials}
    try:
        return tiktoken.Encoding(
            name="winnow-bpe", pat_str=pattern, mergeable_ranks=byte_ranks, special_tokens=specials
        )
    except Exception as exc:  # tiktoken refuses inconsistent rank tables
        log.info("tiktoken cannot load these ranks (%s); using tokenizers", exc)
        return None
