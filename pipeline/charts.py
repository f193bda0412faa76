"""The inline SVG charts of report.html: stacked horizontal bars and histograms, written as plain SVG text.

Not matplotlib: a report draws a handful of bars, and importing matplotlib and laying its figures out cost
about 1.5 CPU-seconds in every run, a third of a one-record `winnow run` (BENCHMARKS.md, fixed cost).
Text stays text (titles, labels and legends are searchable, and tests read them); each bar has a tooltip.
"""

from __future__ import annotations

import math
from html import escape

WIDTH = 760
ROW = 22  # pixels per bar
LABEL_CHARS = 36  # longer bar labels are cut, the whole label in their tooltip
FONT = "font-family='sans-serif' font-size='12'"


def _num(x: float) -> str:
    return f"{x:,.0f}" if abs(x) >= 100 or float(x).is_integer() else f"{x:,.2f}"


def _svg(width: int, height: int, body: list[str]) -> str:
    return (f"<svg xmlns='http://www.w3.org/2000/svg' width='{width}' height='{height}' "
            f"viewBox='0 0 {width} {height}' {FONT}>{''.join(body)}</svg>")


def _title(text: str) -> str:
    return f"<text x='{WIDTH // 2}' y='18' text-anchor='middle' font-size='14'>{escape(text)}</text>"


def _legend(items: list[tuple[str, str]], y: int) -> list[str]:
    out, x = [], 10
    for name, colour in items:
        out.append(f"<rect x='{x}' y='{y - 10}' width='12' height='12' fill='{colour}'/>"
                   f"<text x='{x + 16}' y='{y}'>{escape(name)}</text>")
        x += 30 + 7 * len(name)
    return out


def _nice_top(top: float) -> tuple[float, float]:
    """An axis end at or above `top` and a round tick step (1, 2 or 5 times a power of ten), about four ticks."""
    raw = top / 4
    power = 10 ** math.floor(math.log10(raw))
    step = next(m * power for m in (1, 2, 5, 10) if m * power >= raw)
    return step * math.ceil(top / step), step


def _axis(left: int, plot_w: int, y: int, top: float, step: float, label: str) -> list[str]:
    out = [f"<line x1='{left}' y1='{y}' x2='{left + plot_w}' y2='{y}' stroke='#888'/>"]
    for i in range(round(top / step) + 1):
        x = left + i * step / top * plot_w
        out.append(f"<line x1='{x:.1f}' y1='{y}' x2='{x:.1f}' y2='{y + 4}' stroke='#888'/>"
                   f"<text x='{x:.1f}' y='{y + 16}' text-anchor='middle'>{_num(i * step)}</text>")
    if label:
        out.append(f"<text x='{left + plot_w / 2:.1f}' y='{y + 32}' text-anchor='middle'>{escape(label)}</text>")
    return out


def stacked_bars(title: str, labels: list[str], series: list[tuple[str, str, list[float]]], xlabel: str = "") -> str:
    """One bar per label, top to bottom; each series (name, colour, values) stacked left to right."""
    shown = [x if len(x) <= LABEL_CHARS else x[: LABEL_CHARS - 1] + "…" for x in labels]
    left = 12 + 7 * max((len(x) for x in shown), default=1)
    plot_w = WIDTH - left - 30
    top, step = _nice_top(max((sum(s[2][i] for s in series) for i in range(len(labels))), default=0) or 1)
    body = [_title(title)]
    for i, label in enumerate(labels):
        y, x = 30 + i * ROW, 0.0
        body.append(f"<text x='{left - 6}' y='{y + ROW / 2 + 4:.1f}' text-anchor='end'>{escape(shown[i])}"
                    f"<title>{escape(label)}</title></text>")
        for name, colour, values in series:
            w = values[i] / top * plot_w
            if w > 0:
                body.append(f"<rect x='{left + x:.1f}' y='{y + 3}' width='{w:.1f}' height='{ROW - 6}' fill='{colour}'>"
                            f"<title>{escape(label)}: {escape(name)} {_num(values[i])}</title></rect>")
            x += w
    axis_y = 34 + len(labels) * ROW
    body += _axis(left, plot_w, axis_y, top, step, xlabel)
    legend_y = axis_y + (52 if xlabel else 36)
    body += _legend([(name, colour) for name, colour, _ in series if name], legend_y)
    return _svg(WIDTH, legend_y + 12, body)


def histogram(title: str, values: list[float], bins: int = 30, log: bool = False, colour: str = "#46a") -> str:
    """Counts of values in equal-width bins; `log` scales bar heights by log10(1 + count)."""
    lo, hi = (min(values), max(values)) if values else (0.0, 1.0)
    hi = hi if hi > lo else lo + 1  # one distinct value: one bar at the left, not a division by zero
    width = (hi - lo) / bins
    counts = [0] * bins
    for v in values:
        counts[min(bins - 1, int((v - lo) / width))] += 1
    scale = (lambda c: math.log10(1 + c)) if log else float
    top = max(scale(c) for c in counts) or 1
    left, plot_w, plot_h = 50, WIDTH - 80, 150
    base = 30 + plot_h
    body = [_title(title + (" (log scale)" if log else ""))]
    for i, c in enumerate(counts):
        h = scale(c) / top * plot_h
        if c:
            x = left + i * plot_w / bins
            body.append(f"<rect x='{x:.1f}' y='{base - h:.1f}' width='{plot_w / bins - 1:.1f}' height='{h:.1f}' "
                        f"fill='{colour}'><title>{_num(lo + i * width)}–{_num(lo + (i + 1) * width)}: {c:,}</title></rect>")
    body.append(f"<text x='{left - 6}' y='{base - plot_h + 4}' text-anchor='end'>{max(counts):,}</text>")
    body += [f"<line x1='{left}' y1='{base}' x2='{left + plot_w}' y2='{base}' stroke='#888'/>",
             f"<text x='{left}' y='{base + 16}' text-anchor='middle'>{_num(lo)}</text>",
             f"<text x='{left + plot_w}' y='{base + 16}' text-anchor='middle'>{_num(hi)}</text>"]
    return _svg(WIDTH, base + 24, body)
