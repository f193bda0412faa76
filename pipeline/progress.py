"""Progress for long work: rich bars on a terminal, plain log lines otherwise (CI logs, files)."""

from __future__ import annotations

import sys
import time
from typing import Any


class Progress:
    """Call `update(label, done, total, info)`; `info` may carry a unit's stage counts (documents read)."""

    def __init__(self, enabled: bool = True, stream=None):
        self.stream = stream or sys.stderr
        self.enabled = enabled
        self.tty = enabled and self.stream.isatty()
        self._bars: dict[str, Any] = {}
        self._docs = 0
        self._t0 = time.time()
        self._last_line = 0.0
        self._rich = None
        if self.tty:
            from rich.progress import BarColumn, MofNCompleteColumn, Progress as RichProgress, TextColumn
            from rich.progress import TimeElapsedColumn, TimeRemainingColumn

            self._rich = RichProgress(
                TextColumn("{task.description}"),
                BarColumn(),
                MofNCompleteColumn(),
                TextColumn("{task.fields[rate]}"),
                TimeElapsedColumn(),
                TextColumn("ETA"),
                TimeRemainingColumn(),
                transient=False,
            )
            self._rich.start()

    def __call__(self, label: str, done: int, total: int, info: dict | None = None) -> None:
        if not self.enabled:
            return
        if info and info.get("stages"):
            self._docs += info["stages"][0]["in"] if info.get("segment") == 0 else 0
        elapsed = max(time.time() - self._t0, 1e-9)
        rate = f"{self._docs / elapsed:,.0f} docs/s" if self._docs else ""
        if self._rich is not None:
            if label not in self._bars:
                self._bars[label] = self._rich.add_task(label, total=total, rate=rate)
            self._rich.update(self._bars[label], completed=done, total=total, rate=rate)
            return
        now = time.time()
        if done in (0, total) or now - self._last_line >= 5:
            eta = ""
            if 0 < done < total:
                eta = f", ETA {elapsed / done * (total - done):.0f}s"
            print(f"[winnow] {label}: {done}/{total} units, {self._docs} records read, {rate}{eta}", file=self.stream)
            self._last_line = now

    def close(self) -> None:
        if self._rich is not None:
            self._rich.stop()
