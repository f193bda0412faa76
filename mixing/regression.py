"""Mixture → loss regression: gradient boosting and a log-linear model, judged by k-fold held-out Spearman."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

LOG_EPS = 0.02  # log(w + eps): a domain's first percents matter more than its last; below ~2% it hardly counts
ALPHAS = np.logspace(-4, 1, 11)  # ridge strength, chosen by leave-one-out inside each fit (swarms are small)


class LogLinear:
    """log(loss) = a + Σ b_i·w_i + Σ c_i·log(w_i + eps), ridge-regularised: smooth, and monotone-ish in each domain."""

    def __init__(self):
        from sklearn.linear_model import RidgeCV

        self.model = RidgeCV(alphas=ALPHAS)

    @staticmethod
    def _features(X: np.ndarray) -> np.ndarray:
        return np.hstack([X, np.log(X + LOG_EPS)])

    def fit(self, X: np.ndarray, y: np.ndarray) -> LogLinear:
        self.model.fit(self._features(X), np.log(y))
        return self

    def predict(self, X: np.ndarray) -> np.ndarray:
        return np.exp(self.model.predict(self._features(X)))


def make_model(name: str, seed: int = 0) -> Any:
    if name == "loglinear":
        return LogLinear()
    if name == "gbm":
        from sklearn.ensemble import GradientBoostingRegressor

        return GradientBoostingRegressor(n_estimators=300, max_depth=2, learning_rate=0.05, subsample=0.8,
                                         random_state=seed)
    raise ValueError(f"unknown regression model {name!r}; allowed: gbm, loglinear")


def spearman(a: np.ndarray, b: np.ndarray) -> float:
    from scipy.stats import spearmanr

    if len(a) < 3 or np.ptp(a) == 0 or np.ptp(b) == 0:
        return float("nan")
    return float(spearmanr(a, b).statistic)


def heldout_predictions(name: str, X: np.ndarray, y: np.ndarray, folds: int, seed: int = 0) -> np.ndarray:
    """Each run's loss predicted by a model that never saw it (k-fold)."""
    from sklearn.model_selection import KFold

    pred = np.empty_like(y, dtype=float)
    for train, test in KFold(n_splits=min(folds, len(y)), shuffle=True, random_state=seed).split(X):
        pred[test] = make_model(name, seed).fit(X[train], y[train]).predict(X[test])
    return pred


@dataclass
class Fit:
    name: str  # the chosen model
    model: Any  # fitted on every run
    spearman: dict[str, float]  # model name → held-out Spearman
    heldout_pred: np.ndarray  # the chosen model's out-of-fold predictions
    actual: np.ndarray


def fit(X: np.ndarray, y: np.ndarray, model: str = "auto", folds: int = 5, seed: int = 0) -> Fit:
    """Fit the candidates, keep the one with the best held-out Spearman (or the one asked for)."""
    if len(y) < 3:
        raise ValueError(f"the regression needs at least 3 runs, got {len(y)}")
    names = ["loglinear", "gbm"] if model == "auto" else [model]
    preds = {n: heldout_predictions(n, X, y, folds, seed) for n in names}
    rho = {n: spearman(preds[n], y) for n in names}
    best = max(names, key=lambda n: -np.inf if np.isnan(rho[n]) else rho[n])
    return Fit(name=best, model=make_model(best, seed).fit(X, y), spearman=rho, heldout_pred=preds[best], actual=y)
