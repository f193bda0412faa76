"""Language id with py3langid's bundled model (offline): writes `language` and `language_score`, keeps allowed ones."""

from __future__ import annotations

import unicodedata
from typing import ClassVar

import numpy as np
import pyarrow as pa

from winnow.pipeline import local_cache, schema
from winnow.pipeline.registry import register_stage
from winnow.pipeline.stage import Outcome, Resources, Stage, StageParams, set_column

UNDETERMINED = "und"  # ISO 639 code for "no language could be determined"


class LanguageParams(StageParams):
    # ISO 639-1 codes to keep (py3langid's labels: en, de, fr, zh, ...); null annotates only and keeps every language.
    languages: list[str] | None = None
    # documents whose top-language probability is below this are dropped (0 keeps all).
    min_score: float = 0.0
    # only the first max_chars characters are classified: accuracy saturates after a few hundred characters and the
    # cost grows with length, so long pages would otherwise dominate the stage's time. 0 classifies the whole text.
    max_chars: int = 2000
    # documents with no text (null, empty or whitespace) are dropped as language_empty_text; false keeps them as "und".
    drop_empty: bool = True


def _model() -> tuple[dict[str, np.ndarray], dict]:
    """py3langid's model as arrays, unpacked once per machine into the local cache.

    The bundled model is an xz-compressed npz: decompressing and converting it cost about 1 CPU-second in every
    process that classified a document. The unpacked arrays are memory-mapped instead (nextmove alone is 9.8
    million entries, of which a small job touches a few pages).
    """
    from importlib.metadata import version

    folder = local_cache.cache_root() / f"py3langid-{version('py3langid')}"
    cached = local_cache.load_arrays(folder)
    if cached is not None:
        return cached
    from py3langid.langid import MODEL_FILE, LanguageIdentifier

    model = LanguageIdentifier.from_model_file(MODEL_FILE, norm_probs=True)
    arrays = {
        "nextmove": np.frombuffer(model.tk_nextmove, dtype=np.dtype(model.tk_nextmove.typecode)),
        "rowbase": np.asarray(model._rowbase, dtype=np.int64),
        "output": np.asarray(model.tk_output, dtype=np.int64),
        "ptc": np.asarray(model.nb_ptc),
        "pc": model.nb_pc.astype(np.float32),
    }
    meta = {"classes": list(model.nb_classes), "alias_pairs": [list(p) for p in model._alias_pairs]}
    local_cache.save_arrays(folder, arrays, meta)
    return arrays, meta


class BatchLanguageIdentifier:
    """py3langid's naive Bayes model, scored for a whole batch at once.

    py3langid walks a byte automaton in a Python loop per document. Here all documents of a batch advance through the
    automaton together, one numpy step per byte position, and the feature counts of the batch go through one sparse
    matrix product. The arithmetic is py3langid's own (same features, log1p counts, sqrt-length temperature, softmax),
    so labels match `LanguageIdentifier.classify` on the same (truncated) text.
    """

    def __init__(self) -> None:
        arrays, meta = _model()
        self.classes, self.alias_pairs = meta["classes"], [tuple(p) for p in meta["alias_pairs"]]
        self.nextmove, self.rowbase, self.output = arrays["nextmove"], arrays["rowbase"], arrays["output"]
        self.ptc = arrays["ptc"]  # features x classes, float16
        self.pc = arrays["pc"]
        self.n_features = self.ptc.shape[0]

    @staticmethod
    def encode(text: str, max_chars: int) -> bytes:
        """py3langid's input normalisation (all-caps lowered, NFC, UTF-8), after truncation."""
        if max_chars and len(text) > max_chars:
            text = text[:max_chars]
        if text.isupper():
            text = text.lower()
        return unicodedata.normalize("NFC", text).encode("utf-8", errors="surrogatepass")

    def classify(self, encoded: list[bytes]) -> tuple[list[str], list[float]]:
        n = len(encoded)
        if n == 0:
            return [], []
        lengths = np.fromiter((len(b) for b in encoded), dtype=np.int64, count=n)
        order = np.argsort(-lengths, kind="stable")  # longest first: the docs still walking are always a prefix
        width = int(lengths.max())
        letters = np.zeros((width, n), dtype=np.uint8)
        for col, i in enumerate(order):
            b = encoded[i]
            if b:
                letters[: len(b), col] = np.frombuffer(b, dtype=np.uint8)
        sorted_len = lengths[order]
        # active[t] = how many (sorted) docs are longer than t
        active = np.searchsorted(-sorted_len, -np.arange(width), side="left")
        state = np.zeros(n, dtype=np.int64)
        feats = np.full((width, n), -1, dtype=np.int32)
        for t in range(width):
            k = int(active[t])
            s = self.nextmove[self.rowbase[state[:k]] + letters[t, :k]]
            state[:k] = s
            feats[t, :k] = self.output[s]
        rows, cols = np.nonzero(feats >= 0)
        scores = np.zeros((n, len(self.classes)), dtype=np.float32)
        has_features = np.zeros(n, dtype=bool)
        if rows.size:
            from scipy.sparse import csr_matrix

            f = feats[rows, cols]
            # keep only the model rows this batch touches, so the float16 table is widened for those alone
            present = np.bincount(f, minlength=self.n_features) > 0
            used = np.flatnonzero(present)
            remap = np.cumsum(present) - 1
            # duplicate (doc, feature) entries are summed into counts when the matrix is built
            x = csr_matrix((np.ones(f.size, np.float32), (cols, remap[f])), shape=(n, used.size), dtype=np.float32)
            x.sum_duplicates()
            np.log1p(x.data, out=x.data)
            scores[order] = np.asarray(x @ self.ptc[used].astype(np.float32)) + self.pc
            has_features[order[np.unique(cols)]] = True
        temperature = 1.0 / np.sqrt(np.maximum(lengths, 1)).astype(np.float32)
        scores *= temperature[:, None]
        scores -= scores.max(axis=1, keepdims=True)
        np.exp(scores, out=scores)
        scores /= scores.sum(axis=1, keepdims=True)
        for i, j in self.alias_pairs:  # one label split over two columns (a script variant): fold into the first
            scores[:, i] += scores[:, j]
            scores[:, j] = 0.0
        best = scores.argmax(axis=1)
        conf = scores[np.arange(n), best]
        labels = [self.classes[b] if has_features[i] else UNDETERMINED for i, b in enumerate(best.tolist())]
        probs = [float(c) if has_features[i] else 0.0 for i, c in enumerate(conf.tolist())]
        return labels, probs


@register_stage("language")
class LanguageStage(Stage):
    """Annotates every document's language and its probability; drops disallowed or uncertain ones."""

    Params = LanguageParams
    resources = Resources(cpus=1)
    adds_columns: ClassVar[dict[str, pa.DataType]] = {
        schema.LANGUAGE: pa.string(), schema.LANGUAGE_SCORE: pa.float64(),
    }
    reasons: ClassVar[tuple[str, ...]] = ("language_empty_text", "language_not_allowed", "language_low_score")
    reads = (schema.TEXT,)

    def setup(self) -> None:
        self.model = BatchLanguageIdentifier()
        if self.params.languages is not None:
            unknown = set(self.params.languages) - set(self.model.classes)
            if unknown:
                raise ValueError(
                    f"language: unknown language codes {sorted(unknown)}; py3langid knows {self.model.classes}"
                )
        self.allowed = set(self.params.languages) if self.params.languages is not None else None

    def process(self, batch: pa.Table) -> Outcome:
        texts = batch[schema.TEXT].to_pylist() if schema.TEXT in batch.column_names else [None] * batch.num_rows
        empty = [t is None or not t.strip() for t in texts]
        todo = [i for i, e in enumerate(empty) if not e]
        labels, probs = self.model.classify([self.model.encode(texts[i], self.params.max_chars) for i in todo])
        language: list[str | None] = [UNDETERMINED] * batch.num_rows
        score: list[float] = [0.0] * batch.num_rows
        for i, lab, p in zip(todo, labels, probs):
            language[i], score[i] = lab, p
        reasons: list[str | None] = []
        for i in range(batch.num_rows):
            if empty[i]:
                reasons.append("language_empty_text" if self.params.drop_empty else None)
            elif self.allowed is not None and language[i] not in self.allowed:
                reasons.append("language_not_allowed")
            elif score[i] < self.params.min_score:
                reasons.append("language_low_score")
            else:
                reasons.append(None)
        out = set_column(batch, schema.LANGUAGE, pa.array(language, pa.string()))
        out = set_column(out, schema.LANGUAGE_SCORE, pa.array(score, pa.float64()))
        return Outcome.from_decisions(out, reasons)
