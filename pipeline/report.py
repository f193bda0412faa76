"""OUT/report.html: one self-contained page (plots inline as SVG) showing what a run did, openable offline."""

from __future__ import annotations

import html
import json
from collections import Counter
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from winnow.pipeline import charts, parquet_io, schema, storage

MAX_ROWS = 200_000  # rows read for distributions; a crawl-sized run is summarised from a sample of files
SAMPLES_PER_REASON = 2


def skipped_by_type(stats: dict[str, Any]) -> dict[str, int]:
    """Non-document records the reader skipped, by type (stats.json written before `skipped` existed: none)."""
    if "skipped_by_type" in stats:
        return stats["skipped_by_type"]
    return dict(stats["stages"][0].get("skipped", {})) if stats.get("stages") else {}


def summary_line(stats: dict[str, Any]) -> str:
    """The one-line account `winnow run`, `winnow inspect` and report.html share: documents first, then the
    records that were never documents (DESIGN.md, "Accounting"), so requests are not mistaken for rejections."""
    line = f"{stats['documents']:,} documents, {stats['rejected']:,} rejected, {stats['errors']:,} errors"
    skipped = skipped_by_type(stats)
    if skipped:
        kinds = ", ".join(f"{k} {v:,}" for k, v in sorted(skipped.items(), key=lambda kv: (-kv[1], kv[0])))
        line += f"; {sum(skipped.values()):,} non-document records skipped ({kinds})"
    return line


def funnel_chart(stages: list[dict[str, Any]]) -> str:
    def total(key: str) -> list[float]:
        return [sum(s.get(key, {}).values()) for s in stages]

    series = [("kept", "#3a7", [s["kept"] for s in stages]), ("dropped", "#e8a33d", total("dropped")),
              ("failed", "#c44", total("failed"))]
    if any(total("skipped")):  # non-documents are records read, not documents lost: drawn apart, in grey
        series.append(("skipped (not documents)", "#bbb", total("skipped")))
    return charts.stacked_bars("Funnel by stage", [s["name"] for s in stages], series,
                               "documents (for read: records read)")


def bar_chart(title: str, data: dict[str, tuple[int, int]], labels=("kept", "dropped")) -> str:
    keys = sorted(data, key=lambda k: -sum(data[k]))[:20]
    return charts.stacked_bars(title, keys, [(labels[0], "#3a7", [data[k][0] for k in keys]),
                                             (labels[1], "#e8a33d", [data[k][1] for k in keys])])


# Columns a report never charts: read only for the few samples it shows, so the driver's memory does not grow
# with the corpus (the text of 200,000 documents would be most of a run's output).
HEAVY_COLUMNS = (schema.TEXT, schema.METADATA)


def _read(folder: str, skip: tuple[str, ...] = HEAVY_COLUMNS) -> pa.Table | None:
    tables, rows = [], 0
    for path in storage.list_files(folder, ".parquet"):
        fs, inner = storage.filesystem(path)
        names = pq.read_schema(inner, filesystem=fs).names
        t = parquet_io.read_parquet(path, [c for c in names if c not in skip])
        tables.append(t)
        rows += t.num_rows
        if rows >= MAX_ROWS:
            break
    return parquet_io.concat(tables) if tables else None


def _counts(table: pa.Table | None, column: str) -> Counter:
    if table is None or column not in table.column_names:
        return Counter()
    return Counter("(none)" if v is None else str(v) for v in table[column].to_pylist())


def _esc(text: Any, limit: int = 600) -> str:
    s = "" if text is None else str(text)
    return html.escape(s[:limit] + ("…" if len(s) > limit else ""))


def _kept_samples(folder: str) -> pa.Table | None:
    """Three kept documents with their text, from the first row group of the first output part only (a part of
    a large run holds hundreds of MB of text)."""
    files = storage.list_files(folder, ".parquet")
    if not files:
        return None
    fs, inner = storage.filesystem(files[0])
    with pq.ParquetFile(inner, filesystem=fs) as part:
        if part.num_row_groups == 0:
            return None
        t = part.read_row_group(0)
    step = max(1, t.num_rows // 3)
    return t.take(list(range(0, min(t.num_rows, 3 * step), step))).drop_columns([schema.METADATA])


def _samples(docs: pa.Table | None, rejected: pa.Table | None) -> str:
    parts = ["<h2 id='samples'>Samples</h2><h3>Kept</h3>"]
    if docs is not None and docs.num_rows:
        step = max(1, docs.num_rows // 3)
        for i in range(0, min(docs.num_rows, 3 * step), step):
            row = docs.slice(i, 1).to_pylist()[0]
            parts.append(f"<div class='doc'><b>{_esc(row.get('url') or row.get('id'), 200)}</b> "
                         f"<i>{_esc(row.get('domain'))} · {_esc(row.get('language'))}</i><pre>{_esc(row.get('text'))}</pre></div>")
    if rejected is not None and rejected.num_rows:
        parts.append("<h3>Dropped, by reason</h3>")
        shown: Counter = Counter()
        for row in rejected.to_pylist():
            key = (row["stage"], row["reason"])
            if shown[key] >= SAMPLES_PER_REASON:
                continue
            shown[key] += 1
            text = f"<pre>{_esc(row.get('text'))}</pre>" if row.get("text") else "<p><i>(text not kept)</i></p>"
            parts.append(f"<div class='doc'><b>{_esc(row['stage'])} / {_esc(row['reason'])}</b>: "
                         f"{_esc(row.get('url') or row.get('locator') or row.get('id'), 200)}{text}</div>")
    return "".join(parts)


def _cell(counts: dict[str, int]) -> str:
    return "<br>".join(f"{html.escape(k)}: {v:,}" for k, v in counts.items()) or "–"


def _stage_table(stats: dict[str, Any]) -> str:
    rows = []
    for s in stats["stages"]:
        cells = [_cell(s["dropped"]), _cell(s["failed"]), _cell(s.get("skipped", {})), _cell(s.get("counters", {}))]
        secs = s["seconds"] + s.get("fit_seconds", 0)
        rows.append(f"<tr><td>{html.escape(s['name'])}</td><td>{s['in']:,}</td><td>{s['kept']:,}</td>"
                    + "".join(f"<td>{c}</td>" for c in cells)
                    + f"<td>{s['bytes_in'] / 1e6:.2f}</td><td>{secs:.2f}</td></tr>")
    return ("<table><tr><th>stage</th><th>in</th><th>kept</th><th>dropped</th><th>failed</th>"
            "<th>skipped (not documents)</th><th>counters</th><th>MB in</th><th>seconds</th></tr>"
            + "".join(rows) + "</table>")


# Sections other commands add about a run (winnow ablate's verdicts on variants of its documents): HTML fragments
# in this folder of the run's output, shown in name order after the run's own sections.
ADDED_SECTIONS = "report.d"


def _added_sections(output: str) -> list[str]:
    folder = storage.join(output, ADDED_SECTIONS)
    if not storage.exists(folder):
        return []
    return [storage.read_bytes(f).decode("utf-8") for f in sorted(storage.list_files(folder, ".html"))]


def cluster_sizes(docs: pa.Table, column: str | None) -> list[int]:
    """Sizes of the duplicate clusters a dedup stage found: one survivor is kept per cluster, and it carries the
    size (the duplicates themselves are in rejected/), so the kept rows with a size above 1 are the clusters.
    Only clusters whose survivor reached documents/ are seen: a later stage may drop a survivor."""
    if column is None or column not in docs.column_names:
        return []
    return [n for n in docs[column].to_pylist() if n is not None and n > 1]


def build_report(output: str, stats: dict[str, Any]) -> str:
    docs = _read(storage.join(output, "documents"))
    rejected = _read(storage.join(output, "rejected"), skip=())  # its text is kept only for a few samples
    sections = [f"<h2 id='funnel'>Funnel</h2>{funnel_chart(stats['stages'])}{_stage_table(stats)}"]

    for column, title in ((schema.DOMAIN, "domain"), (schema.LANGUAGE, "language"), (schema.LICENSE, "licence")):
        kept, dropped = _counts(docs, column), _counts(rejected, column)
        keys = set(kept) | set(dropped)
        if keys and keys != {"(none)"}:
            data = {k: (kept.get(k, 0), dropped.get(k, 0)) for k in keys}
            sections.append(f"<h2 id='by-{title}'>By {title}</h2>{bar_chart(f'Documents by {title}', data)}")

    if docs is not None:
        scores = [c for c in docs.column_names if c.startswith("score_") or c == schema.LANGUAGE_SCORE]
        plots = []
        for c in scores:
            vals = [v for v in docs[c].to_pylist() if isinstance(v, (int, float))]
            if vals:
                plots.append(charts.histogram(f"{c} (kept documents)", vals))
        if plots:
            sections.append("<h2 id='scores'>Score distributions</h2>" + "".join(plots))
        for s in stats["stages"]:  # dedup stages name the column holding each survivor's cluster size
            sizes = cluster_sizes(docs, s.get("describes", {}).get("cluster_size_column"))
            if sizes:
                sections.append(f"<h2 id='clusters-{html.escape(s['name'])}'>Duplicate clusters ({html.escape(s['name'])})</h2>"
                                f"{charts.histogram('documents per cluster (clusters whose survivor is in documents/)', sizes, log=True)}")

    for s in stats["stages"]:  # stages that declare a counters chart (e.g. PDF page routing) get one
        title = s.get("describes", {}).get("counters_title")
        if title and s.get("counters"):
            data = {k: (v, 0) for k, v in s["counters"].items()}
            sections.append(f"<h2 id='counters-{html.escape(s['name'])}'>{html.escape(title)}</h2>"
                            f"{bar_chart(title, data, ('count', ''))}")

    times = {s["name"]: (round(s["seconds"] + s.get("fit_seconds", 0), 3), 0) for s in stats["stages"]}
    sections.append(f"<h2 id='time'>Time per stage (seconds, summed over workers)</h2>{bar_chart('seconds', times, ('seconds', ''))}")
    sections.append(_samples(_kept_samples(storage.join(output, "documents")), rejected))
    sections += _added_sections(output)
    sections.append(f"<h2>Config</h2><pre>{html.escape(json.dumps(stats.get('config', {}), indent=1, default=str))}</pre>")
    balance = "balance" if stats["balanced"] else "DO NOT balance: " + html.escape("; ".join(stats.get("problems", [])))
    return f"""<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Winnow run report</title>
<style>body{{font-family:sans-serif;margin:2em;max-width:1100px}}table{{border-collapse:collapse;margin:1em 0}}
td,th{{border:1px solid #ccc;padding:4px 8px;vertical-align:top;font-size:13px}}pre{{white-space:pre-wrap;background:#f6f6f6;padding:6px;font-size:12px}}
.doc{{margin:0.6em 0}}</style></head><body><h1>Winnow run report</h1>
<p id="summary">{html.escape(summary_line(stats))};
books {balance}; {stats['wall_seconds']:.1f} s wall; {stats['units']} units.</p>
{''.join(sections)}</body></html>"""


def write_report(output: str, stats: dict[str, Any]) -> None:
    storage.write_atomic(storage.join(output, "report.html"), build_report(output, stats).encode("utf-8"))
