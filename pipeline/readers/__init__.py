"""Input readers: each turns one file into batches of documents, counting every record it sees."""

from winnow.pipeline.readers.base import Reader, ReaderParams, detect_format  # noqa: F401
from winnow.pipeline.readers import jsonl, parquet  # noqa: F401  (registers the readers)

try:  # WARC/WET/WAT readers need fastwarc; they register themselves when present.
    from winnow.pipeline.readers import warc  # noqa: F401
except ImportError:  # pragma: no cover - fastwarc is a core dependency
    pass
