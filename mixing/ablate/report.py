"""ablation.json (every proxy, metric, interval and verdict) and the console summary built from it."""

from __future__ import annotations

import json
from typing import Any

from winnow.mixing.ablate import metrics as M
from winnow.mixing.ablate import verdict as V
from winnow.mixing.ablate.config import AblateConfig
from winnow.mixing.ablate.prepare import AblationData
from winnow.mixing.swarm import steps_for

SCALE_NOTE = ("filter/dedup decision: tiny proxies favour aggressive filtering and under-penalise duplication "
              "(DataDecide); confirm at a larger tier before acting on it")
FIT_NOTE = "held-out loss on a reference corpus measures fit to that corpus, not quality"


def _scale_sensitive(cfg: AblateConfig, a: str, b: str) -> bool:
    va, vb = (next(v for v in cfg.variants if v.name == n) for n in (a, b))
    return va.has_filter() or vb.has_filter() or va.documents != vb.documents


def _pair_rate(s: V.PairStats, lr: float, kinds: dict[str, str], alpha: float) -> dict:
    main = s.main.to_dict(alpha)
    if s.alpha_holm is not None:
        main.update(p_holm=s.p_holm, alpha_holm=s.alpha_holm, ci_holm=list(s.main.ci(s.alpha_holm)))
    return {"lr": lr, "main": main, "metrics": {n: e.to_dict(alpha) for n, e in s.metrics.items()},
            "disagreements": V.disagreements(s, kinds, alpha)}


def _variant(data: AblationData, v, budget: int) -> dict:
    usable = data.usable(v.name)
    return {"source": v.source, "decision": v.decision, "source_documents": v.source_docs, "selected": v.selected,
            "removed_overlapping_evaluation": v.excluded, "documents": len(v.docs), "characters": v.docs.chars(),
            "domains": v.domains_used or {d: v.docs.domains.count(d) for d in sorted(set(v.docs.domains))},
            # Above 1 epoch the variant is repeated (allowed only with allow_repetition, or for the A/A halves).
            "unique_tokens": int(len(data.pools[v.name])), "epochs_at_budget": round(budget / usable, 3),
            "repeated": budget > usable,
            "pool": data.pool_fps[v.name]}


def _proxies(cfg: AblateConfig, runs: dict, per_rate_metrics: list) -> list[dict]:
    out = []
    for r, lr in enumerate(cfg.rates()):
        values = {m.name: {a: m.per_seed(a) for a in m.arms} for m in per_rate_metrics[r]}
        for (arm, seed), rec in sorted(runs[r].items()):
            out.append({"arm": arm, "seed": seed, "lr": lr, "key": rec["key"], "cached": rec["cached"],
                        "train_loss": rec["train_loss"], "seconds": rec.get("seconds"), "steps": rec.get("steps"),
                        "metrics": {n: float(v[arm][seed]) for n, v in values.items()}})
    return out


def _metric_table(cfg: AblateConfig, data: AblationData, ms: list[M.Metric]) -> dict:
    names = [v.name for v in data.variants]
    out = {}
    for m in ms:
        snr = M.snr(m, names)
        out[m.name] = {"slice": m.slice, "kind": m.kind, "higher_is_better": m.sign > 0, "snr": snr,
                       "too_noisy": snr is not None and snr < cfg.stats.snr_min, "deciding": m.kind in M.DECIDING,
                       "arms": M.summary(m, [v.name for v in data.arms()])}
    return out


def _pairs(cfg: AblateConfig, data: AblationData, per_rate_metrics, per_rate_pairs) -> list[dict]:
    kinds = {m.name: m.kind for m in per_rate_metrics[0]}
    st, rates, out = cfg.stats, cfg.rates(), []
    mean_main = sum(m.per_seed(a).mean() for m in per_rate_metrics[0] if m.name in data.main
                    for a in m.arms) / max(1, sum(len(m.arms) for m in per_rate_metrics[0] if m.name in data.main))
    for i, (a, b) in enumerate(cfg.ordered_pairs()):
        per_rate = [per_rate_pairs[r][i] for r in range(len(rates))]
        v = V.decide(per_rate, kinds, st.alpha, st.power, len(cfg.ordered_pairs()))
        sens = _scale_sensitive(cfg, a, b)
        out.append({"a": a, "b": b, **v, "min_detectable_effect_relative": v["min_detectable_effect"] / mean_main,
                    "scale_sensitive": sens, "scale_note": SCALE_NOTE if sens else None,
                    "rates": [_pair_rate(s, lr, kinds, st.alpha) for s, lr in zip(per_rate, rates)]})
    return out


def _aa(cfg: AblateConfig, data: AblationData, per_rate_metrics, per_rate_aa) -> dict:
    kinds = {m.name: m.kind for m in per_rate_metrics[0]}
    st = cfg.stats
    for s in per_rate_aa:  # the control is judged by the verdicts' own rule, as a family of one
        V.apply_holm([s], st.alpha)
    called = V.decide(per_rate_aa, kinds, st.alpha, st.power, 1)
    nominal = [s.main.p() < st.alpha for s in per_rate_aa]
    metrics_significant = sorted({n for s in per_rate_aa for n, e in s.metrics.items()
                                  if kinds[n] in M.DECIDING and e.p() < st.alpha})
    if called["better"]:
        text = "CALLED a difference between two halves of one variant: distrust verdicts of this size"
    elif any(nominal):
        text = "not called (significant at one rate only: the halves differ by chance at about this size)"
    else:
        text = "no difference found, as expected of two halves of one variant"
    return {"variant": data.control[0].halves_of, "a": data.control[0].name, "b": data.control[1].name,
            "halves": {h.name: _variant(data, h, data.budget) for h in data.control},
            "significant": called["better"] is not None, "significant_at_a_rate": any(nominal),
            "metrics_significant": metrics_significant, "verdict": text,
            "rates": [_pair_rate(s, lr, kinds, st.alpha) for s, lr in zip(per_rate_aa, cfg.rates())]}


def build(cfg: AblateConfig, data: AblationData, runs: dict, per_rate_metrics: list, per_rate_pairs: list,
          per_rate_aa: list, runner: Any, engine: dict) -> dict[str, Any]:
    proxy = engine["proxy"]
    params = next((rec.get("params") for rec in runs[0].values() if rec.get("params")), None)
    return {
        "description": cfg.description,
        "tier": {"name": cfg.tier, "note": cfg.tier_spec().note},
        "budget": {"tokens": data.budget, "steps": steps_for(data.budget, proxy["batch_size"], proxy["seq_len"]),
                   "set_by": "config" if isinstance(cfg.tokens, int) else (cfg.tokens or "tier"),
                   "allow_repetition": cfg.allow_repetition},
        "proxy": {**proxy, "learning_rates": cfg.rates(), "params_per_proxy": params},
        "seeds": list(range(cfg.num_seeds())),
        "engine": {"device": engine["device"], "pack": engine["pack"], "executor": cfg.engine.executor,
                   "trained": runner.trained, "train_seconds": runner.train_seconds,
                   "proxies_per_hour": 3600 * runner.trained / runner.train_seconds if runner.trained else None},
        "tokenizer": {"path": data.tokenizer.path, "vocab_size": data.tokenizer.vocab_size,
                      "trained_on_union": cfg.tokenizer is None},
        "variants": {v.name: _variant(data, v, data.budget) for v in data.variants},
        "slices": [s.summary() for s in data.slices], "skipped_slices": data.skipped_slices,
        "main": data.main, "notes": [FIT_NOTE],
        "stats": cfg.stats.model_dump(),
        "metrics": [{"lr": lr, "metrics": _metric_table(cfg, data, per_rate_metrics[r])}
                    for r, lr in enumerate(cfg.rates())],
        "pairs": _pairs(cfg, data, per_rate_metrics, per_rate_pairs),
        "aa_control": _aa(cfg, data, per_rate_metrics, per_rate_aa),
        "proxies": _proxies(cfg, runs, per_rate_metrics),
        "config": json.loads(cfg.model_dump_json()),  # what `winnow ablate` compares before replacing an output
    }


def console_lines(rep: dict) -> list[str]:
    """The verdict as a reader wants it first: variants and their repetition, then each pair beside the A/A control."""
    b = rep["budget"]
    lines = [f"budget {b['tokens']:,} tokens per proxy ({b['steps']} steps), tier {rep['tier']['name']}, "
             f"{len(rep['seeds'])} seeds x rates {', '.join(f'{x:g}' for x in rep['proxy']['learning_rates'])}"]
    for name, v in rep["variants"].items():
        rep_note = "REPEATED (allow_repetition)" if v["repeated"] else "no repetition"
        lines.append(f"  {name:<14} {v['unique_tokens']:>10,} unique tokens, {v['epochs_at_budget']:.2f} epochs "
                     f"at the budget, {rep_note}  ({v['decision']}; {v['documents']} docs)")
    lines.append("main aggregate: mean of " + ", ".join(rep["main"])
                 + " (bits/byte; positive difference = first better)")
    for p in rep["pairs"]:
        ests = "; ".join(f"lr {r['lr']:g}: {r['main']['estimate']:+.4f} [{r['main']['ci_holm'][0]:+.4f}, "
                         f"{r['main']['ci_holm'][1]:+.4f}] Holm p={r['main']['p_holm']:.3g}" for r in p["rates"])
        tail = "" if p["better"] else (f" — smallest detectable effect {p['min_detectable_effect']:.4f} bits/byte "
                                       f"({100 * p['min_detectable_effect_relative']:.2f} %)")
        lines.append(f"{p['a']} vs {p['b']}: {p['verdict'].upper()}{tail}")
        lines.append(f"    {ests}")
        lines += [f"    why: {r}" for r in p["reasons"]]
        if p["scale_sensitive"]:
            lines.append("    scale-sensitive: " + p["scale_note"])
    aa = rep["aa_control"]
    ests = "; ".join(f"lr {r['lr']:g}: {r['main']['estimate']:+.4f} "
                     f"[{r['main']['ci'][0]:+.4f}, {r['main']['ci'][1]:+.4f}] p={r['main']['p']:.3g}"
                     for r in aa["rates"])
    lines.append(f"A/A control ({aa['a']} vs {aa['b']}): {aa['verdict']}  ({ests})")
    noisy = sorted({n for t in rep["metrics"] for n, m in t["metrics"].items() if m["too_noisy"]})
    if noisy:
        lines.append("too noisy to decide (signal-to-noise over seeds below "
                     f"{rep['stats']['snr_min']:g}): " + ", ".join(noisy))
    lines += [f"skipped slice {s}" for s in rep["skipped_slices"]]
    lines.append(f"note: {FIT_NOTE}")
    return lines
