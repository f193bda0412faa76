"""What Winnow derives once per machine and keeps between runs: spaCy rulebooks, unpacked models, the demo's data.

Everything here can be rebuilt from installed packages, so a missing, torn or unwritable cache only costs time.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import tempfile
from pathlib import Path

import numpy as np

log = logging.getLogger(__name__)


def cache_root() -> Path:
    return Path(os.environ.get("WINNOW_CACHE_DIR", Path.home() / ".cache" / "winnow"))


def load_arrays(folder: Path) -> tuple[dict[str, np.ndarray], dict] | None:
    """Arrays saved by save_arrays, memory-mapped (a process pages in only what it reads), and their metadata."""
    try:
        meta = json.loads((folder / "meta.json").read_text(encoding="utf-8"))
        return {name: np.load(folder / f"{name}.npy", mmap_mode="r") for name in meta["arrays"]}, meta
    except (OSError, ValueError, KeyError) as exc:
        if folder.exists():  # torn or foreign: out of the way, so the rebuilt one can take its place
            log.debug("%s unreadable (%s): rebuilding", folder, exc)
            shutil.rmtree(folder, ignore_errors=True)
        return None


def save_arrays(folder: Path, arrays: dict[str, np.ndarray], meta: dict) -> None:
    """Write a folder of .npy files atomically (workers of one machine may race to write the same one)."""
    tmp = None
    try:
        folder.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=f".{folder.name}.", dir=folder.parent))
        for name, array in arrays.items():
            np.save(tmp / f"{name}.npy", np.ascontiguousarray(array))
        (tmp / "meta.json").write_text(json.dumps(meta | {"arrays": sorted(arrays)}), encoding="utf-8")
        os.rename(tmp, folder)
    except OSError as exc:  # a read-only home, or another process got there first: it is only a cache
        log.debug("%s not written: %s", folder, exc)
        if tmp is not None:
            shutil.rmtree(tmp, ignore_errors=True)
