"""The ablation figure: per pair and learning rate, each slice's paired difference with its interval."""

from __future__ import annotations


def _plt():
    import matplotlib

    matplotlib.use("Agg")  # no display on workers or CI
    import matplotlib.pyplot as plt

    return plt


def _panel(ax, rate: dict, title: str, holm: bool) -> None:
    names = [n for n, m in rate["metrics"].items() if not n.endswith(":acc")]
    rows = [(n, rate["metrics"][n]["estimate"], rate["metrics"][n]["ci"]) for n in names]
    ci = rate["main"]["ci_holm"] if holm else rate["main"]["ci"]
    rows.append(("MAIN" + (" (Holm)" if holm else ""), rate["main"]["estimate"], ci))
    for y, (_, est, (lo, hi)) in enumerate(rows):
        color = "tab:green" if lo > 0 else "tab:red" if hi < 0 else "tab:grey"
        ax.errorbar(est, y, xerr=[[est - lo], [hi - est]], fmt="o", color=color, capsize=3, ms=4)
    ax.axvline(0, color="black", lw=0.8)
    ax.set_yticks(range(len(rows)))
    ax.set_yticklabels([r[0] for r in rows], fontsize=7)
    ax.set_title(title, fontsize=8)
    ax.tick_params(axis="x", labelsize=7)


def differences(rep: dict, path: str) -> None:
    """Rows: pairs then the A/A control; columns: learning rates. x > 0: the first variant is better."""
    plt = _plt()
    rows = [(f"{p['a']} vs {p['b']}: {p['verdict']}", p["rates"], True) for p in rep["pairs"]]
    aa = rep["aa_control"]
    rows.append((f"A/A {aa['a']} vs {aa['b']}", aa["rates"], False))
    n_rates = len(rep["proxy"]["learning_rates"])
    height = max(2.0, 0.22 * (len(rows[0][1][0]["metrics"]) + 2))
    fig, axes = plt.subplots(len(rows), n_rates, figsize=(5.5 * n_rates, height * len(rows)), squeeze=False)
    for i, (title, rates, holm) in enumerate(rows):
        for j, rate in enumerate(rates):
            _panel(axes[i][j], rate, f"{title} (lr {rate['lr']:g})", holm)
    fig.supxlabel("paired difference (bits/byte; > 0: first variant better)", fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
