"""ablation.html: the verdicts as a page section (pairs, A/A control, variants, the differences figure inline).

`section(report, figure)` is an HTML fragment a larger page can embed; `write_page` wraps it into a self-contained
page beside ablation.json, openable offline like a run's report.html; `add_to_run_reports` shows it in the
report.html of each run the variants come from.
"""

from __future__ import annotations

import base64
import hashlib
import html
import json
import os
from typing import Any


def _e(x: Any) -> str:
    return html.escape(str(x))


def _interval(main: dict, holm: bool) -> str:
    lo, hi = main["ci_holm"] if holm and "ci_holm" in main else main["ci"]
    return f"{main['estimate']:+.4f} [{lo:+.4f}, {hi:+.4f}]"


def _pairs(rep: dict) -> str:
    rates = rep["proxy"]["learning_rates"]
    head = "".join(f"<th>lr {r:g}: difference [Holm interval]</th>" for r in rates)
    rows = []
    for p in rep["pairs"]:
        cells = "".join(f"<td>{_interval(r['main'], True)}</td>" for r in p["rates"])
        notes = "; ".join([*p.get("reasons", []), *([p["scale_note"]] if p.get("scale_sensitive") else [])])
        rows.append(f"<tr><td>{_e(p['a'])} vs {_e(p['b'])}</td><td><b>{_e(p['verdict'])}</b></td>{cells}"
                    f"<td>{p['min_detectable_effect']:.4f}</td><td>{_e(notes)}</td></tr>")
    aa = rep["aa_control"]
    cells = "".join(f"<td>{_interval(r['main'], False)}</td>" for r in aa["rates"])
    rows.append(f"<tr><td>A/A: {_e(aa['a'])} vs {_e(aa['b'])}</td><td>{_e(aa['verdict'])}</td>{cells}"
                f"<td>–</td><td>control: two halves of one variant</td></tr>")
    return (f"<table><tr><th>pair</th><th>verdict</th>{head}<th>smallest detectable effect</th><th>notes</th></tr>"
            + "".join(rows) + "</table>")


def _variants(rep: dict) -> str:
    rows = "".join(
        f"<tr><td>{_e(name)}</td><td>{_e(v['decision'])}</td><td>{v['documents']:,}</td><td>{v['unique_tokens']:,}</td>"
        f"<td>{v['epochs_at_budget']:.2f}</td><td>{_e(v['source'])}</td></tr>" for name, v in rep["variants"].items())
    return ("<table><tr><th>variant</th><th>decision</th><th>documents</th><th>unique tokens</th>"
            "<th>epochs at budget</th><th>source</th></tr>" + rows + "</table>")


def section(rep: dict, figure_png: bytes | None = None, source: str = "") -> str:
    """The ablation as one <section>: verdicts first, then what the variants were, then the figure. `source`: where
    the ablation's own output is, said when the section is shown in another page."""
    tier, budget = rep["tier"], rep["budget"]
    figure = ""
    if figure_png:
        figure = f"<img alt='paired differences' src='data:image/png;base64,{base64.b64encode(figure_png).decode()}'>"
    notes = "".join(f"<li>{_e(n)}</li>" for n in rep.get("notes", []))
    return (
        "<section id='ablation'><h2>Which data is better</h2>"
        f"<p>Tier {_e(tier['name'])} ({_e(tier.get('note', ''))}); {budget['tokens']:,} tokens per proxy, seeds "
        f"{_e(rep['seeds'])}; main score: mean of {_e(', '.join(rep['main']))} (bits per byte; a positive "
        "difference means the first variant is better)."
        + (f" From the ablation in {_e(source)}." if source else "") + "</p>"
        + _pairs(rep) + "<h3>Variants</h3>" + _variants(rep) + (f"<ul>{notes}</ul>" if notes else "") + figure
        + "</section>"
    )


def _figure(output: str) -> bytes | None:
    path = os.path.join(output, "differences.png")
    return open(path, "rb").read() if os.path.isfile(path) else None


def write_page(rep: dict, output: str) -> str:
    figure = _figure(output)
    page = (f"<!doctype html><html lang='en'><head><meta charset='utf-8'><title>Winnow ablation</title>"
            "<style>body{font-family:sans-serif;max-width:1100px;margin:auto}table{border-collapse:collapse}"
            "td,th{border:1px solid #ccc;padding:3px 6px;font-size:13px}img{max-width:100%}</style></head><body>"
            f"<h1>Winnow ablation</h1><p>{_e(rep.get('description') or '')}</p>{section(rep, figure)}</body></html>")
    path = os.path.join(output, "ablation.html")
    with open(path, "w", encoding="utf-8") as f:
        f.write(page)
    return path


def add_to_run_reports(rep: dict, output: str) -> list[str]:
    """Show the section in the report.html of every `winnow run` output a variant reads (a folder with stats.json).

    The section goes into the run's `report.d/`, named after this ablation's output folder, so a rerun replaces it
    and another ablation adds its own; report.html is then rebuilt from the run's stats.json."""
    from winnow.pipeline import report as run_report
    from winnow.pipeline import storage

    runs = sorted({v["source"] for v in rep["variants"].values() if _is_run(v["source"])})
    name = "ablation-" + hashlib.sha1(os.path.abspath(output).encode()).hexdigest()[:12] + ".html"
    fragment = section(rep, _figure(output), source=os.path.abspath(output))
    for run in runs:  # local or object-store outputs alike (a run written to s3:// gets its section there)
        storage.write_atomic(storage.join(run, run_report.ADDED_SECTIONS, name), fragment.encode("utf-8"))
        run_report.write_report(run, json.loads(storage.read_bytes(storage.join(run, "stats.json"))))
    return runs


def _is_run(source: Any) -> bool:
    """A `winnow run` output folder (it has stats.json) that can be written to: a local path or an object store."""
    from winnow.pipeline import storage

    if not isinstance(source, str) or source.startswith(("http://", "https://")):
        return False  # read-only over HTTP; a list of files or a glob is not one run's output either
    return storage.exists(storage.join(source, "stats.json"))
