"""The optimiser: score a large random sample of the bounded simplex with the regression, average the best k."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from winnow.mixing.simplex import Bounds, project, sample_dirichlet


@dataclass
class Optimum:
    weights: np.ndarray
    predicted: float  # the regression's loss at `weights`
    best_sampled: float  # the best single sampled mixture's predicted loss
    samples: int


def optimise(model: Any, bounds: Bounds, prior: np.ndarray, samples: int, top_k: int, seed: int = 0) -> Optimum:
    """RegMix's search: the mean of the top-k predicted mixtures is steadier than the argmin of a noisy fit.

    Half the sample is drawn around the prior (sparse to dense), half uniformly on the simplex, so the
    search also reaches mixtures far from the natural one; every candidate is inside the bounds, and so
    is their mean (the bounded simplex is convex).
    """
    rng = np.random.default_rng(seed)
    k = len(bounds.domains)
    half = samples // 2
    around = sample_dirichlet(rng, half, prior, (0.3, 100.0), bounds)
    flat = project(rng.dirichlet(np.ones(k), size=samples - half), bounds)
    cand = np.vstack([around, flat])
    pred = np.asarray(model.predict(cand), dtype=float)
    top = np.argsort(pred, kind="stable")[: min(top_k, len(pred))]
    w = project(cand[top].mean(axis=0), bounds)[0]
    return Optimum(weights=w, predicted=float(model.predict(w[None, :])[0]), best_sampled=float(pred[top[0]]),
                   samples=len(cand))
