"""A large gzip WARC is read in byte spans, one per unit: read one after another, the spans yield exactly what
reading the file whole yields, each record and each bad region once, whatever the cut points."""

from __future__ import annotations

import gzip
import json
import random

import pytest

from winnow.pipeline.config import load_config
from winnow.pipeline.planning import MIN_UNITS, plan_units
from winnow.pipeline.readers.warc_records import BadRegion, iter_records
from winnow.pipeline.runner import RunError, run_pipeline


def _events(path, span=None) -> list[tuple]:
    out = []
    for r in iter_records(str(path), span):
        if isinstance(r, BadRegion):
            out.append(("bad", r.offset, r.code))
        else:
            out.append((r.offset, r.headers.get("warc-record-id"), len(r.block), r.truncated))
    return out


def _cuts(size: int, points: list[int]) -> list[tuple[int, int]]:
    edges = [0, *sorted(set(p for p in points if 0 < p < size)), size]
    return list(zip(edges, edges[1:]))


def _assert_spans_read_the_whole(path, points: list[int]) -> list[list[tuple]]:
    whole = _events(path)
    parts = [_events(path, span) for span in _cuts(path.stat().st_size, points)]
    assert [e for part in parts for e in part] == whole
    return parts


def test_spans_of_a_real_warc_read_each_record_once(shared_data):
    path = shared_data / "cc/web_pages.warc.gz"
    size = path.stat().st_size
    parts = _assert_spans_read_the_whole(path, [size * i // 7 for i in range(1, 7)])
    assert sum(1 for part in parts if part) == 7  # every span holds records: the work is shared out
    rng = random.Random(0)  # cut points anywhere: inside members, on a member's first byte, a byte apart
    offsets = [e[0] for e in parts[3]]
    _assert_spans_read_the_whole(path, [rng.randrange(size) for _ in range(20)] + offsets[:3] + [offsets[4] + 1])


def test_spans_report_a_corrupt_member_once(shared_data, tmp_path):
    data = (shared_data / "cc/dolma/sample-0001.warc.gz").read_bytes()
    offsets = [e[0] for e in _events(shared_data / "cc/dolma/sample-0001.warc.gz")]
    sample = bytearray(data)
    sample[offsets[6] + 200 : offsets[6] + 300] = bytes(100)  # the 7th member's deflate data zeroed
    bad = tmp_path / "bad.warc.gz"
    bad.write_bytes(bytes(sample) + data[offsets[-1] : offsets[-1] + 500])  # and a cut-off last member
    whole = _events(bad)
    assert sum(e[0] == "bad" for e in whole) == 1
    for step in (997, 5000, 20011):  # spans starting inside, before and after the bad region
        _assert_spans_read_the_whole(bad, list(range(step, len(sample), step)))
    _assert_spans_read_the_whole(bad, [offsets[6], offsets[6] + 250, offsets[7]])


@pytest.mark.parametrize("kind", ["one_gzip_member", "lf_only"])
def test_files_that_cannot_split_are_read_whole_by_the_first_span(shared_data, tmp_path, kind):
    raw = gzip.decompress((shared_data / "cc/dolma/sample-0001.warc.gz").read_bytes())
    if kind == "lf_only":
        raw = raw.replace(b"\r\n", b"\n")
    path = tmp_path / "f.warc.gz"
    path.write_bytes(gzip.compress(raw))  # one member for the whole file: no record boundary to find
    parts = _assert_spans_read_the_whole(path, [path.stat().st_size * i // 5 for i in range(1, 5)])
    assert parts[0] and not any(parts[1:])


def _config(tmp_path, inputs: list[str], **engine) -> object:
    return load_config(text=json.dumps({"inputs": inputs, "output": str(tmp_path / "out"),
                                        "engine": {"executor": "local", **engine}, "stages": []}))


def test_few_large_gzip_files_are_planned_as_spans(shared_data, tmp_path, monkeypatch):
    from winnow.pipeline import planning

    assert plan_units(_config(tmp_path, [str(shared_data / "cc/web_pages.warc.gz")]))[0].span is None  # 13 MB: whole
    monkeypatch.setattr(planning, "SPAN_MIN_BYTES", 2 << 20)  # the sample data is small: spans of 2 MiB
    big, small = shared_data / "cc/web_pages.warc.gz", shared_data / "cc/resiliparse/warcfile.warc.gz"
    units = plan_units(_config(tmp_path, [str(big), str(small)]))
    spans = [u.span for u in units if u.paths == (str(big),)]
    assert len(spans) == -(-big.stat().st_size // planning.SPAN_MIN_BYTES) and [u.index for u in units] == list(range(len(units)))
    assert spans[0][0] == 0 and spans[-1][1] == big.stat().st_size
    assert all(a[1] == b[0] for a, b in zip(spans, spans[1:]))  # contiguous
    assert units[-1].paths == (str(small),) and units[-1].span is None  # under two spans' worth: read whole
    # the sizes planning looked up travel with the units (auto prices them without asking storage again)
    assert [u.size for u in units] == [b - a for a, b in spans] + [small.stat().st_size]
    assert len(plan_units(_config(tmp_path, [str(big), str(small)], split_files=False))) == 2
    plain = tmp_path / "plain.warc"
    plain.write_bytes(gzip.decompress(big.read_bytes())[: 5 * planning.SPAN_MIN_BYTES])
    assert [u.span for u in plan_units(_config(tmp_path, [str(plain)]))] == [None]  # no members to resync on
    many = tmp_path / "many"
    many.mkdir()
    for i in range(MIN_UNITS):  # enough files to keep every core busy: none is split
        (many / f"{i:03d}.warc.gz").symlink_to(big)
    assert all(u.span is None for u in plan_units(_config(tmp_path, [f"{many}/*.warc.gz"])))


def _ids(run) -> list[str]:
    import pyarrow.parquet as pq

    return sorted(i for f in (run / "out/documents").glob("*.parquet") for i in pq.read_table(f)["id"].to_pylist())


def test_a_run_over_spans_counts_what_a_run_over_the_whole_file_counts(shared_data, tmp_path, monkeypatch):
    from winnow.pipeline import planning

    path = str(shared_data / "cc/web_pages.warc.gz")
    monkeypatch.setattr(planning, "SPAN_MIN_BYTES", 2 << 20)
    split = run_pipeline(_config(tmp_path / "split", [path]))
    assert split.balanced and split.stats["units"] > 1 and split.stats["files"] == 1
    monkeypatch.setattr(planning, "SPAN_MIN_BYTES", 1 << 40)
    whole = run_pipeline(_config(tmp_path / "whole", [path]))
    assert whole.stats["units"] == 1
    keys = ("records_read", "documents", "rejected", "errors", "skipped_by_type")
    assert [split.stats[k] for k in keys] == [whole.stats[k] for k in keys]
    assert _ids(tmp_path / "split") == _ids(tmp_path / "whole") and len(_ids(tmp_path / "whole")) == 453
    # A rerun whose plan differs from the markers it finds (another version's units) is refused, not mixed.
    with pytest.raises(RunError, match="planned differently"):
        run_pipeline(_config(tmp_path / "split", [path]))



def test_a_span_that_cannot_be_read_is_one_error_row_naming_its_byte_range(shared_data, tmp_path, monkeypatch):
    """A storage failure while one span is read fails that span alone, as one errors/ row whose locator is the
    file and the span's bytes; the other spans' records are kept and the books balance."""
    import pyarrow.parquet as pq

    from winnow.pipeline import planning
    from winnow.pipeline.readers import warc as warc_reader

    path = str(shared_data / "cc/web_pages.warc.gz")
    monkeypatch.setattr(planning, "SPAN_MIN_BYTES", 2 << 20)
    bad = plan_units(_config(tmp_path / "plan", [path]))[2].span
    real = warc_reader.iter_records

    def failing(p, span=None):
        if span == bad:
            raise PermissionError(13, "Permission denied", p)
        yield from real(p, span)

    monkeypatch.setattr(warc_reader, "iter_records", failing)
    run = run_pipeline(_config(tmp_path / "run", [path]))
    assert run.balanced and run.stats["errors"] == 1
    rows = [r for f in (tmp_path / "run/out/errors").glob("*.parquet") for r in pq.read_table(f).to_pylist()]
    assert len(rows) == 1 and rows[0]["error"] == "read_PermissionError"
    assert rows[0]["locator"] == f"{path}@{bad[0]}-{bad[1]}" and "Permission denied" in rows[0]["detail"]
    # every other record is accounted for: the file's records minus the failed span's
    records = sum(1 for r in iter_records(path) if not isinstance(r, BadRegion))
    lost = sum(1 for r in iter_records(path, bad) if not isinstance(r, BadRegion))
    read = run.stats["documents"] + run.stats["rejected"] + sum(run.stats["skipped_by_type"].values())
    assert lost > 0 and read + lost == records
