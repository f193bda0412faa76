"""Stages used only by the engine's tests (loaded with WINNOW_PLUGINS=winnow_test_stages)."""

from __future__ import annotations

import os
import time

import pyarrow as pa

from winnow.pipeline import schema, storage
from winnow.pipeline.registry import STAGES, register_stage
from winnow.pipeline.stage import DocumentAnnotator, DocumentFilter, GlobalStage, Outcome, StageParams


class MinCharsParams(StageParams):
    min_chars: int = 100
    sleep_s: float = 0.0  # slows each batch, so a test can interrupt a run part-way


class BoomParams(StageParams):
    word: str = "BOOM"


class KeepFirstParams(StageParams):
    pass


class NeedsColumnParams(StageParams):
    column: str = "language"


if "test_min_chars" not in STAGES:

    @register_stage("test_min_chars")
    class MinCharsFilter(DocumentFilter):
        Params = MinCharsParams
        reasons = ("test_min_chars_short",)

        def process(self, batch: pa.Table) -> Outcome:
            if self.params.sleep_s:
                time.sleep(self.params.sleep_s)
            return super().process(batch)

        def filter(self, doc):
            return True if len(doc["text"] or "") >= self.params.min_chars else "test_min_chars_short"

    @register_stage("test_needs_column")
    class NeedsColumn(DocumentFilter):
        """Reads a column an earlier stage added: a row without it fails (KeyError), as a real consumer would."""

        Params = NeedsColumnParams
        reads = None  # every column: which one it needs is a param

        def filter(self, doc):
            doc[self.params.column]
            return True

    @register_stage("test_boom")
    class BoomFilter(DocumentFilter):
        """Raises on documents containing a word: exercises per-row failure accounting."""

        Params = BoomParams

        def filter(self, doc):
            if self.params.word in (doc["text"] or ""):
                raise ValueError(f"found {self.params.word}")
            return True

    @register_stage("test_exact_dedup")
    class ExactDedup(GlobalStage):
        """A minimal global stage: keeps the first document (smallest id) of each identical text."""

        Params = KeepFirstParams

        def fit(self, corpus):
            results = corpus.map(_hash_unit)
            first: dict[str, str] = {}
            for unit in sorted(results):
                for h, doc_id in results[unit]:
                    if h not in first or doc_id < first[h]:
                        first[h] = doc_id
            keep = sorted(first.values())
            storage.write_atomic(os.path.join(self.state_dir, "keep.txt"), "\n".join(keep).encode())

        def setup(self):
            self._keep = None

        def apply(self, batch, unit):
            if self._keep is None:
                self._keep = set(storage.read_bytes(os.path.join(self.state_dir, "keep.txt")).decode().split("\n"))
            reasons = [None if i in self._keep else "test_exact_dedup_duplicate" for i in batch[schema.ID].to_pylist()]
            return Outcome.from_decisions(batch, reasons)


def _hash_unit(unit_key: str, path: str):
    import hashlib

    from winnow.pipeline import parquet_io

    t = parquet_io.read_parquet(path, [schema.ID, schema.TEXT])
    return [(hashlib.sha1((x or "").encode()).hexdigest(), i) for i, x in zip(t[schema.ID].to_pylist(), t[schema.TEXT].to_pylist())]


if "test_lossy" not in STAGES:

    @register_stage("test_lossy")
    class LossyStage(DocumentFilter):
        """A broken stage that silently loses its last row: the engine must notice and fail its rows."""

        def process(self, batch):
            return Outcome(kept=batch.slice(0, max(batch.num_rows - 1, 0)))


if "test_http_fields" not in STAGES:

    @register_stage("test_http_fields")
    class HttpFields(DocumentAnnotator):
        """Copies the WARC reader's typed working columns into columns of its own: what a stage reading them gets."""

        reads = (schema.HTTP_CHARSET, schema.HTTP_HEADERS)
        adds_columns = {"test_charset": pa.string(), "test_robots_tag": pa.string()}

        def annotate(self, doc):
            headers = dict(doc[schema.HTTP_HEADERS] or [])
            return {"test_charset": doc[schema.HTTP_CHARSET], "test_robots_tag": headers.get("x-robots-tag")}

    @register_stage("test_raw_bytes")
    class RawBytes(DocumentAnnotator):
        """Reads the payload: placed after a global stage, `raw` must travel through _work/ to reach it."""

        reads = (schema.RAW,)
        adds_columns = {"test_raw_bytes": pa.int64()}

        def annotate(self, doc):
            return {"test_raw_bytes": None if doc[schema.RAW] is None else len(doc[schema.RAW])}


# Batches the hoarding stage has seen, per process (a Ray worker keeps its own until the worker exits).
HOARD: list[pa.Table] = []

if "test_hoard" not in STAGES:

    @register_stage("test_hoard")
    class HoardStage(DocumentFilter):
        """A deliberately leaky stage: keeps every batch it sees in a module-level list, so a worker's memory grows
        with the input. The memory drill shows its bound catches this."""

        def process(self, batch):
            HOARD.append(batch)
            return Outcome(kept=batch)


# -- deliberate faults, for showing that the reliability drills catch them (RELIABILITY.md) --------------------------
# `WINNOW_TEST_FAULT=<name> pytest tests/reliability/...` breaks the engine in every process that loads this plugin
# (the test process through tests/conftest.py; drivers and workers when they resolve a reader or stage). Never set
# in CI.


def _fault_resume_ignores_markers() -> None:
    """A rerun that does not see finished units: it redoes everything (same bytes, but nothing resumed)."""
    exists = storage.exists
    storage.exists = lambda path: False if str(path).endswith(".done.json") else exists(path)


def _fault_reader_drops_newlines() -> None:
    """The JSON Lines reader replaces line breaks with spaces: as many documents, of the same length, altered."""
    from winnow.pipeline.readers import jsonl

    to_document = jsonl.record_to_document

    def altered(*args, **kwargs):
        doc = to_document(*args, **kwargs)
        doc[schema.TEXT] = doc[schema.TEXT].replace("\n", " ")
        return doc

    jsonl.record_to_document = altered


def _fault_no_line_cap() -> None:
    """The JSON Lines reader without its max_line_bytes cap: a line that never ends is read whole."""
    from winnow.pipeline.readers import jsonl

    read = jsonl.JsonlReader.read

    def uncapped(self, path):
        object.__setattr__(self.params, "max_line_bytes", 1 << 40)
        return read(self, path)

    jsonl.JsonlReader.read = uncapped


def _fault_no_task_retries() -> None:
    """Ray tasks that are not retried when their worker or node dies."""
    from winnow.pipeline import executors

    remote = executors.RayExecutor._remote
    executors.RayExecutor._remote = lambda self, fn, resources: remote(self, fn, resources).options(max_retries=0)


def _fault_yaml_unsafe_load() -> None:
    """Configs parsed with yaml.unsafe_load: YAML tags construct Python objects (and run code)."""
    import types

    import yaml

    from winnow.pipeline import config

    config.yaml = types.SimpleNamespace(**{**vars(yaml), "safe_load": yaml.unsafe_load})


FAULTS = {name[len("_fault_"):]: fn for name, fn in list(globals().items()) if name.startswith("_fault_")}
_FAULT = os.environ.get("WINNOW_TEST_FAULT")
if _FAULT:
    if _FAULT not in FAULTS:
        raise ValueError(f"WINNOW_TEST_FAULT={_FAULT!r}: known faults are {', '.join(sorted(FAULTS))}")
    FAULTS[_FAULT]()
