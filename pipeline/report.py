"""OUT/report.html: a self-contained page with the funnel (plots inline, opens offline)."""

from __future__ import annotations

import html
import json
from typing import Any

from pipeline import storage


def _bar_svg(stages: list[dict[str, Any]]) -> str:
    if not stages:
        return ""
    top = max(s["in"] for s in stages) or 1
    width, row_h = 640, 26
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width + 260}" height="{row_h * len(stages) + 10}" role="img" aria-label="funnel">']
    for i, s in enumerate(stages):
        y = 5 + i * row_h
        kept_w = width * s["kept"] / top
        lost_w = width * (s["in"] - s["kept"]) / top
        parts.append(f'<text x="0" y="{y + 16}" font-size="13">{html.escape(s["name"])}</text>')
        parts.append(f'<rect x="120" y="{y}" width="{kept_w:.1f}" height="{row_h - 6}" fill="#3a7"/>')
        parts.append(f'<rect x="{120 + kept_w:.1f}" y="{y}" width="{lost_w:.1f}" height="{row_h - 6}" fill="#d66"/>')
        parts.append(f'<text x="{126 + kept_w + lost_w:.1f}" y="{y + 16}" font-size="12">{s["kept"]:,} / {s["in"]:,}</text>')
    parts.append("</svg>")
    return "".join(parts)


def write_report(output: str, stats: dict[str, Any]) -> None:
    rows = []
    for s in stats["stages"]:
        dropped = "<br>".join(f"{html.escape(k)}: {v:,}" for k, v in s["dropped"].items()) or "–"
        failed = "<br>".join(f"{html.escape(k)}: {v:,}" for k, v in s["failed"].items()) or "–"
        rows.append(
            f"<tr><td>{html.escape(s['name'])}</td><td>{s['in']:,}</td><td>{s['kept']:,}</td>"
            f"<td>{dropped}</td><td>{failed}</td><td>{s['bytes_in'] / 1e6:.2f}</td><td>{s['seconds']:.2f}</td></tr>"
        )
    page = f"""<!doctype html><html><head><meta charset="utf-8"><title>Winnow run report</title>
<style>body{{font-family:sans-serif;margin:2em}}table{{border-collapse:collapse}}td,th{{border:1px solid #ccc;padding:4px 8px;vertical-align:top}}</style>
</head><body><h1>Winnow run report</h1>
<p>{stats['documents']:,} documents kept, {stats['rejected']:,} rejected, {stats['errors']:,} errors;
books {'balance' if stats['balanced'] else 'DO NOT balance'}; {stats['wall_seconds']:.1f} s wall.</p>
<h2 id="funnel">Funnel</h2>{_bar_svg(stats['stages'])}
<table><tr><th>stage</th><th>in</th><th>kept</th><th>dropped</th><th>failed</th><th>MB in</th><th>seconds</th></tr>
{''.join(rows)}</table>
<h2>Config</h2><pre>{html.escape(json.dumps(stats.get('config', {}), indent=1, default=str))}</pre>
</body></html>"""
    storage.write_atomic(storage.join(output, "report.html"), page.encode("utf-8"))
