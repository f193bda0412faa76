"""Each single-capability recipe, run on the demo's output as the README suggests, writes its report.

A run's documents/ read back keep their column types (a score that is null in one part is still a typed
column), so the parts of the re-run agree on one schema and report.html merges them.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pyarrow.parquet as pq
import pytest

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def demo_output(demo_dir) -> Path:
    return demo_dir / "out" / "demo"


@pytest.fixture(scope="module")
def winnow(wheel_env):
    bin_dir, env = wheel_env

    def run(*args: str, cwd: Path) -> subprocess.CompletedProcess:
        return subprocess.run([str(bin_dir / "winnow"), *args], cwd=cwd, capture_output=True, text=True,
                              timeout=900, env=env)

    return run


@pytest.mark.parametrize("recipe", ["quality", "dedup", "decontaminate", "extract"])
def test_recipe_on_demo_output_writes_report(recipe, demo_output, winnow, tmp_path):
    out = tmp_path / recipe
    r = winnow("run", recipe, "--input", str(demo_output / "documents" / "*.parquet"), "--output", str(out),
               "--executor", "local", "-q", cwd=tmp_path)
    assert r.returncode == 0, r.stderr[-3000:]
    assert "report.html not written" not in r.stderr, r.stderr[-3000:]
    assert (out / "report.html").is_file()
    stats = json.loads((out / "stats.json").read_text())
    assert stats["balanced"]
    parts = sorted((out / "documents").glob("*.parquet"))
    schemas = {str(pq.read_schema(p)) for p in parts}
    assert len(schemas) == 1, f"{len(schemas)} different schemas across {len(parts)} parts"


def test_output_read_back_keeps_ids_and_column_types(demo_output, tmp_path):
    from winnow.pipeline.readers.parquet import ParquetReader

    part = sorted((demo_output / "documents").glob("*.parquet"))[0]
    written = pq.read_table(part)
    reader = ParquetReader(ParquetReader.Params())
    read = [o.kept for o in reader.read(str(part))]
    assert sum(t.num_rows for t in read) == written.num_rows
    assert read[0].schema.equals(written.select(read[0].column_names).schema)
    assert read[0]["id"].to_pylist() == written["id"].to_pylist()[: read[0].num_rows]
