"""Where a run keeps its files. Everything Winnow writes stays under the output directory.

The driver and every worker derive the same paths from the output directory alone, so nothing about paths
travels with a unit, and a rerun finds the markers of the units it can skip.
"""

from __future__ import annotations

from winnow.pipeline import storage


class Layout:
    def __init__(self, output: str):
        self.output = output
        self.documents = storage.join(output, "documents")
        self.rejected = storage.join(output, "rejected")
        self.errors = storage.join(output, "errors")
        self.work = storage.join(output, "_work")
        self.manifest = storage.join(self.work, "run.json")  # the config fingerprint a rerun must match
        self.stats = storage.join(output, "stats.json")

    def segment_dir(self, seg: int) -> str:
        return storage.join(self.work, f"seg{seg}")

    def kept_path(self, seg: int, unit: str, last: bool) -> str:
        """The unit's kept rows: a part of documents/ after the last segment, else the next segment's input."""
        if last:
            return storage.join(self.documents, f"part-{unit}.parquet")
        return storage.join(self.segment_dir(seg), f"unit-{unit}.parquet")

    def rejected_part(self, seg: int, unit: str) -> str:
        # Named by segment as well as unit: every segment of a unit drops rows into its own part.
        return storage.join(self.rejected, f"part-s{seg}-{unit}.parquet")

    def errors_part(self, seg: int, unit: str) -> str:
        return storage.join(self.errors, f"part-s{seg}-{unit}.parquet")

    def marker(self, seg: int, unit: str) -> str:
        return storage.join(self.segment_dir(seg), f"unit-{unit}.done.json")

    def fit_dir(self, seg: int) -> str:
        return storage.join(self.work, f"fit{seg}")

    def fit_marker(self, seg: int) -> str:
        return storage.join(self.fit_dir(seg), "_SUCCESS")
