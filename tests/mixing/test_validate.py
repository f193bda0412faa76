"""The validation verdict: a paired test over shared seeds, falling back to an unpaired one."""

from __future__ import annotations

from winnow.mixing.validate import verdict


def _summary(objs: dict[str, list[float]], seeds: list[int] | None = None) -> dict:
    import numpy as np

    return {
        name: {"objective": v, "seeds": seeds or list(range(len(v))), "mean": float(np.mean(v)),
               "std": float(np.std(v, ddof=1))}
        for name, v in objs.items()
    }


def test_paired_seeds_separate_a_consistent_small_win():
    # Seeds move every mixture by ±0.1 together; ours is 0.02 lower for every seed.
    base = [5.8, 5.9, 6.0]
    s = _summary({"optimized": [x - 0.02 for x in base], "uniform": base, "natural": [x + 0.1 for x in base]})
    v = verdict(s)
    assert v["best_baseline"] == "uniform"
    assert v["test"].startswith("paired")
    assert v["margin"] > v["noise"] and v["better_beyond_noise"]
    assert v["unpaired_noise"] > v["margin"]  # an unpaired test could not see it


def test_an_inconsistent_difference_is_not_beyond_noise():
    s = _summary({"optimized": [5.7, 6.0, 5.8], "uniform": [5.8, 5.85, 5.9], "natural": [6.2, 6.3, 6.25]})
    v = verdict(s)
    assert not v["better_beyond_noise"]
    assert v["at_least_as_good"]


def test_worse_is_reported_as_worse():
    base = [5.8, 5.9, 6.0]
    s = _summary({"optimized": [x + 0.2 for x in base], "uniform": base, "natural": [x + 0.3 for x in base]})
    v = verdict(s)
    assert v["margin"] < 0 and not v["at_least_as_good"]
