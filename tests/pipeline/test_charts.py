"""report.html's SVG charts: bars in proportion, round ticks, labels kept as text, histogram counts."""

from __future__ import annotations

import xml.etree.ElementTree as ET

from winnow.pipeline import charts

NS = "{http://www.w3.org/2000/svg}"


def parse(svg: str) -> ET.Element:
    return ET.fromstring(svg)  # well-formed XML, or this raises


def test_stacked_bars_are_in_proportion_with_round_ticks():
    long = "CC BY-SA 4.0 (Creative Commons Attribution-ShareAlike) <b>"
    svg = parse(charts.stacked_bars("Funnel by stage", ["read", long], [
        ("kept", "#3a7", [183, 146]), ("dropped", "#e8a33d", [0, 37]), ("failed", "#c44", [0, 0])], "documents"))
    rects = [r for r in svg.iter(f"{NS}rect") if r.find(f"{NS}title") is not None]
    widths = {r.find(f"{NS}title").text: float(r.get("width")) for r in rects}
    read, kept, dropped = widths["read: kept 183"], widths[f"{long}: kept 146"], widths[f"{long}: dropped 37"]
    assert abs(kept + dropped - read) < 0.2 and abs(kept / dropped - 146 / 37) < 0.01  # zero-width bars not drawn
    texts = [t.text for t in svg.iter(f"{NS}text")]
    assert texts[0] == "Funnel by stage" and "documents" in texts and {"kept", "dropped", "failed"} <= set(texts)
    assert [t for t in texts if t and t.replace(",", "").isdigit()] == ["0", "50", "100", "150", "200"]
    assert long[:35] + "…" in texts  # cut on the chart, whole in its tooltip
    assert any(t.text == long for t in svg.iter(f"{NS}title"))


def test_histogram_counts_every_value_once():
    values = [0.0, 0.1, 0.1, 0.5, 0.99, 1.0]
    svg = parse(charts.histogram("score", values, bins=4))
    tips = [r.find(f"{NS}title").text for r in svg.iter(f"{NS}rect")]
    assert sum(int(t.rsplit(": ", 1)[1]) for t in tips) == len(values)
    assert tips[0].endswith(": 3") and tips[-1].endswith(": 2")  # the maximum falls in the last bin
    one = parse(charts.histogram("cluster size", [1, 1, 1], log=True))
    assert [r.find(f"{NS}title").text.rsplit(": ", 1)[1] for r in one.iter(f"{NS}rect")] == ["3"]
