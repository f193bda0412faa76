"""The swarm's run cache: one directory per proxy run, keyed by what determines the trained weights.

The key covers the fingerprints of the pools the mixture draws from (domains with weight > 0 only, so
adding a domain leaves old runs valid), the mixture, the proxy config, the token budget and the seed.
Targets are not in the key: each run keeps its weights, so a new target is scored without retraining.
"""

from __future__ import annotations

import hashlib
import json
import os
import uuid
from typing import Any

import numpy as np


def run_key(spec: dict[str, Any]) -> str:
    """spec: {mixture: {domain: weight>0}, pools: {domain: fingerprint}, proxy: {...}, tokens: int, seed: int}."""
    return hashlib.sha256(json.dumps(spec, sort_keys=True).encode()).hexdigest()[:20]


class RunCache:
    def __init__(self, root: str):
        self.root = os.path.join(root, "runs")
        os.makedirs(self.root, exist_ok=True)

    def _dir(self, key: str) -> str:
        return os.path.join(self.root, key)

    def get(self, key: str) -> dict[str, Any] | None:
        path = os.path.join(self._dir(key), "record.json")
        if not os.path.isfile(path):
            return None
        with open(path, encoding="utf-8") as f:
            return json.load(f)

    def missing(self, specs: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
        """The specs whose runs are not cached yet, one per key (two requests for one run train it once)."""
        todo: dict[str, dict[str, Any]] = {}
        for spec in specs:
            key = run_key(spec)
            if key not in todo and self.get(key) is None:
                todo[key] = spec
        return todo

    def put(self, key: str, record: dict[str, Any], state: dict[str, np.ndarray] | None) -> None:
        """Write weights first and the record last (atomically): a record on disk always has its weights."""
        d = self._dir(key)
        os.makedirs(d, exist_ok=True)
        if state is not None:
            tmp = os.path.join(d, f"state.{uuid.uuid4().hex[:8]}.npz")
            np.savez(tmp, **state)
            os.replace(tmp, os.path.join(d, "state.npz"))
        self._write_record(key, record)

    def _write_record(self, key: str, record: dict[str, Any]) -> None:
        d = self._dir(key)
        tmp = os.path.join(d, f"record.{uuid.uuid4().hex[:8]}.json")
        with open(tmp, "w", encoding="utf-8") as f:
            json.dump(record, f, indent=1, sort_keys=True)
        os.replace(tmp, os.path.join(d, "record.json"))

    def add_losses(self, key: str, losses: dict[str, float]) -> dict[str, Any]:
        record = self.get(key)
        if record is None:
            raise KeyError(key)
        record["losses"].update(losses)
        self._write_record(key, record)
        return record

    def state(self, key: str) -> dict[str, np.ndarray] | None:
        path = os.path.join(self._dir(key), "state.npz")
        if not os.path.isfile(path):
            return None
        with np.load(path) as z:
            return {k: z[k] for k in z.files}

    def _reuse_path(self, swarm_key: str) -> str:
        return os.path.join(os.path.dirname(self.root), "reuse", f"{swarm_key}.json")

    def reuse_choice(self, swarm_key: str) -> list[str] | None:
        """The run keys a swarm reused from other configs when it first ran, or None if it has not run here."""
        path = self._reuse_path(swarm_key)
        if not os.path.isfile(path):
            return None
        with open(path, encoding="utf-8") as f:
            return json.load(f)["reused"]

    def save_reuse_choice(self, swarm_key: str, keys: list[str]) -> None:
        """Kept so a rerun reuses the same runs whatever this or other configs added to the cache since."""
        path = self._reuse_path(swarm_key)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        tmp = f"{path}.{uuid.uuid4().hex[:8]}"
        with open(tmp, "w", encoding="utf-8") as f:
            json.dump({"reused": keys}, f)
        os.replace(tmp, path)

    def compatible(self, proxy: dict[str, Any], tokens: int, seed: int, pools: dict[str, str]) -> list[dict[str, Any]]:
        """Runs from other configs that still apply: same proxy, budget and seed; every pool they used unchanged."""
        out = []
        for key in sorted(os.listdir(self.root)):
            rec = self.get(key)
            if rec is None:
                continue
            spec = rec["spec"]
            if spec["proxy"] != proxy or spec["tokens"] != tokens or spec["seed"] != seed:
                continue
            if all(pools.get(d) == fp for d, fp in spec["pools"].items()):
                out.append(rec)
        return out
