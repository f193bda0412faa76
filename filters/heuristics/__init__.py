"""Gopher, C4 and FineWeb heuristic filters: datatrove's rules with spaCy's words computed once per chunk and shared."""

from winnow.filters.heuristics.stages import (
    C4QualityStage,
    DatatroveFilterStage,
    FineWebQualityStage,
    GopherQualityStage,
    GopherRepetitionStage,
)
from winnow.filters.heuristics.words import ChunkWords, SharedWordTokenizer, tokenizer_for

__all__ = [
    "C4QualityStage",
    "ChunkWords",
    "DatatroveFilterStage",
    "FineWebQualityStage",
    "GopherQualityStage",
    "GopherRepetitionStage",
    "SharedWordTokenizer",
    "tokenizer_for",
]
