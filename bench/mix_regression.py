"""Which regression ranks mixtures best? Held-out Spearman of each candidate on the swarms of finished `winnow mix` runs.

Candidates: Winnow's log-linear ridge and gradient boosting (RegMix's choice, as in `mixing/regression.py`) and a
Gaussian process (constant × RBF with one length scale per domain, plus white noise, on log loss): a smooth
non-parametric model that learns how far each domain's weight matters, a common choice for small, noisy
response surfaces. Each is scored by 5-fold held-out Spearman, averaged over 5 fold shuffles, per swarm.

    python bench/mix_regression.py OUT_DIR [OUT_DIR ...]   # each a `winnow mix` output holding swarm.jsonl

Choose the default on swarms other than those BENCHMARKS.md reports (the demo's and the seven domains').
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import warnings

import numpy as np

from winnow.mixing import regression


class GaussianProcess:
    def __init__(self, seed: int = 0):
        from sklearn.gaussian_process import GaussianProcessRegressor
        from sklearn.gaussian_process.kernels import RBF, ConstantKernel, WhiteKernel

        self.model = GaussianProcessRegressor(ConstantKernel() * RBF() + WhiteKernel(), normalize_y=True,
                                              n_restarts_optimizer=2, random_state=seed)

    def fit(self, X: np.ndarray, y: np.ndarray) -> GaussianProcess:
        from sklearn.gaussian_process.kernels import RBF, ConstantKernel, WhiteKernel

        k = X.shape[1]
        self.model.kernel = ConstantKernel() * RBF(length_scale=np.full(k, 0.3), length_scale_bounds=(1e-2, 1e2)) \
            + WhiteKernel(1e-3, (1e-6, 1e-1))
        self.model.fit(X, np.log(y))
        return self

    def predict(self, X: np.ndarray) -> np.ndarray:
        return np.exp(self.model.predict(X))


def model(name: str, seed: int):
    return GaussianProcess(seed) if name == "gp" else regression.make_model(name, seed)


def heldout_spearman(name: str, X: np.ndarray, y: np.ndarray, folds: int = 5, shuffles: int = 5) -> float:
    from sklearn.model_selection import KFold

    out = []
    for seed in range(shuffles):
        pred = np.empty_like(y)
        for train, test in KFold(n_splits=folds, shuffle=True, random_state=seed).split(X):
            pred[test] = model(name, seed).fit(X[train], y[train]).predict(X[test])
        out.append(regression.spearman(pred, y))
    return float(np.mean(out))


def load_swarm(out_dir: Path) -> tuple[np.ndarray, np.ndarray]:
    rows = [json.loads(line) for line in (out_dir / "swarm.jsonl").read_text().splitlines()]
    domains = sorted(rows[0]["mixture"])
    return np.array([[r["mixture"][d] for d in domains] for r in rows]), np.array([r["objective"] for r in rows])


def main() -> None:
    warnings.filterwarnings("ignore", module="sklearn")  # GP length scales at their bounds: a domain that does not matter
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("outputs", nargs="+", type=Path)
    args = ap.parse_args()
    names = ["loglinear", "gbm", "gp"]
    print(f"{'swarm':<48} {'runs':>4} {'domains':>7} " + " ".join(f"{n:>9}" for n in names))
    for out in args.outputs:
        X, y = load_swarm(out)
        rhos = [heldout_spearman(n, X, y) for n in names]
        print(f"{str(out):<48} {len(y):>4} {X.shape[1]:>7} " + " ".join(f"{r:>9.3f}" for r in rhos), flush=True)


if __name__ == "__main__":
    sys.exit(main())
