"""A third-party stage: drops documents that do not mention `word` (case-insensitive)."""

from winnow.pipeline.stage import DocumentFilter, StageParams


class HelloParams(StageParams):
    word: str = "hello"


class HelloFilter(DocumentFilter):
    Params = HelloParams
    reasons = ("hello_filter_missing_word",)

    def filter(self, doc: dict) -> bool | str:
        return self.params.word.lower() in (doc["text"] or "").lower() or "hello_filter_missing_word"
