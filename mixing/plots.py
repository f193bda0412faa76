"""Report figures: predicted versus actual loss (held-out), and the weights of the compared mixtures."""

from __future__ import annotations

import numpy as np


def _plt():
    import matplotlib

    matplotlib.use("Agg")  # no display on workers or CI
    import matplotlib.pyplot as plt

    return plt


def predicted_vs_actual(actual: np.ndarray, predicted: np.ndarray, rho: float, model: str, path: str) -> None:
    plt = _plt()
    fig, ax = plt.subplots(figsize=(4.5, 4.5))
    ax.scatter(actual, predicted, s=18)
    lo, hi = float(min(actual.min(), predicted.min())), float(max(actual.max(), predicted.max()))
    ax.plot([lo, hi], [lo, hi], color="grey", lw=1, ls="--")
    ax.set_xlabel("actual target loss")
    ax.set_ylabel("predicted (held-out fold)")
    ax.set_title(f"{model}: Spearman {rho:.3f} over {len(actual)} proxies")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def weights(domains: list[str], mixtures: dict[str, np.ndarray], path: str) -> None:
    plt = _plt()
    fig, ax = plt.subplots(figsize=(max(5, 0.9 * len(domains) + 2), 3.5))
    width = 0.8 / max(1, len(mixtures))
    x = np.arange(len(domains))
    for i, (name, w) in enumerate(mixtures.items()):
        ax.bar(x + i * width, w, width, label=name)
    ax.set_xticks(x + width * (len(mixtures) - 1) / 2)
    ax.set_xticklabels(domains, rotation=30, ha="right")
    ax.set_ylabel("weight")
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def spearman_curve(points: list[tuple[int, float]], ceiling: float | None, path: str) -> None:
    """Held-out Spearman against the swarm's size, round by round, under the ceiling seed noise allows."""
    plt = _plt()
    fig, ax = plt.subplots(figsize=(4.5, 3.5))
    ax.plot([n for n, _ in points], [r for _, r in points], marker="o")
    if ceiling is not None:
        ax.axhline(ceiling, color="grey", lw=1, ls="--", label=f"noise ceiling {ceiling:.3f}")
        ax.legend(loc="lower right")
    ax.set_xlabel("proxies in the swarm")
    ax.set_ylabel("held-out Spearman")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
