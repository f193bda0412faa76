"""Inputs read from and outputs written to a local S3 server, including an interrupted run resumed."""

import gzip
import json

import pyarrow.fs as pafs
import pyarrow.parquet as pq
import pytest

from winnow.pipeline import schema, storage
from winnow.pipeline.config import load_config
from winnow.pipeline.runner import run_pipeline

pytestmark = pytest.mark.slow


def _upload(fs, local, key):
    with fs.open_output_stream(key) as f:
        f.write(local.read_bytes())


def _documents(fs) -> list[tuple[str, str]]:
    """Every kept document's (id, text), in id order: what the run produced, not merely how many."""
    table = pq.read_table("winnow-test/out/documents", filesystem=fs, columns=["id", "text"])
    return sorted(zip(table["id"].to_pylist(), table["text"].to_pylist()))


def test_s3_inputs_outputs_and_resume(s3_server, shared_data, tmp_path):
    fs, _ = storage.filesystem("s3://winnow-test/x")
    pafs.S3FileSystem(endpoint_override=s3_server, scheme="http", access_key="testing-key-id", secret_key="SECRETsecret123",
                      region="us-east-1", allow_bucket_creation=True).create_dir("winnow-test")
    src = sorted((shared_data / "cc" / "cc_jsonl" / "dolma").glob("*.jsonl.gz"))
    for p in src:
        _upload(fs, p, f"winnow-test/in/{p.name}")
    text = ("inputs: ['s3://winnow-test/in/*.jsonl.gz']\noutput: s3://winnow-test/out\n"
            "engine: {executor: local}\nstages: [{name: test_min_chars, min_chars: 2000}]\n")
    cfg = load_config(text=text)
    first = run_pipeline(cfg)
    assert first.balanced and first.stats["documents"] > 0
    before = _documents(fs)
    assert len(before) == first.stats["documents"] and len({i for i, _ in before}) == len(before)
    # Exactly the input records long enough to keep, each under the id of its locator (S3 path and line).
    expected = []
    for p in src:
        with gzip.open(p, "rt", encoding="utf-8") as f:
            for lineno, line in enumerate(f, start=1):
                text = json.loads(line)["text"]
                if len(text) >= 2000:
                    expected.append((schema.make_id(f"s3://winnow-test/in/{p.name}:{lineno}"), text))
    assert before == sorted(expected)
    # Simulate an interruption: the second unit's marker and outputs vanish, as if killed mid-unit.
    fs.delete_file("winnow-test/out/_work/seg0/unit-00001.done.json")
    fs.delete_file("winnow-test/out/documents/part-00001.parquet")
    fs.delete_file("winnow-test/out/stats.json")
    again = run_pipeline(cfg)
    assert again.balanced and again.stats["units_resumed"] == 1
    infos = fs.get_file_info(pafs.FileSelector("winnow-test/out/documents"))
    assert sorted(i.base_name for i in infos) == ["part-00000.parquet", "part-00001.parquet"]
    assert _documents(fs) == before  # the redone unit gives back the same ids and texts, nothing more or less
    stats = json.loads(storage.read_bytes("s3://winnow-test/out/stats.json"))
    assert "SECRETsecret123" not in json.dumps(stats)
    assert "SECRETsecret123" not in storage.read_bytes("s3://winnow-test/out/report.html").decode()


def test_missing_s3_input_is_a_clear_error(s3_server):
    cfg = load_config(text="inputs: ['s3://winnow-test/nothing/*.jsonl']\noutput: /tmp/unused\nengine: {executor: local}\n")
    with pytest.raises(storage.InputError, match="matches no files"):
        run_pipeline(cfg)
