"""NAR's evaluation protocol (seed 004): controller search and random search, both retrained with the original.

`refine_and_compare` is what the demo's refinement section and `benchmarks/nar_search.py` run: two
searches at the same budget (ENAS controller vs uniform random search, §3.2 and its honest baseline),
then every architecture — the original backbone (all zeros), the controller's and the random
search's — retrained from scratch with `fit` for several seeds and tested on the held-out test split.
"""

from __future__ import annotations

import statistics
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

from nivalis.data import ClassificationData, load_classification
from nivalis.errors import UserError
from nivalis.nas.operators import OPERATOR_NAMES
from nivalis.nas.search import NARConfig, SearchResult, budget, retrain, retrain_config, search

ARCH_ROLES = ("original", "controller", "random")

#: demo search budgets: the quick demo runs `refine search --quick`'s budget (one SGDR cycle, T_0 = 10) with fewer
#: derived candidates; the full demo two SGDR cycles of T_0 = 5 (1 + 14 epochs, 2 updates of 20 children per
#: epoch), which fits the demo's ten minutes where the CLI's full budget (10 + 60 epochs, 5 updates per epoch)
#: would not
DEMO_BUDGET = {
    True: {**budget(True), "derive_samples": 4},
    False: {"pretrain_epochs": 1, "epochs": 14, "sgdr_t0": 5, "controller_steps": 2, "derive_samples": 6,
            "baseline_decay": 0.9},
}
DEMO_WIDTH = 0.25
DEMO_IMAGE_SIZE = 16
DEMO_RETRAIN_EPOCHS = {True: 3, False: 4}
DEMO_SEEDS = 3


def mean_std(values: list[float]) -> tuple[float, float | None]:
    """Mean and sample standard deviation; the deviation is `None` (undefined) for a single value."""
    values = [float(v) for v in values]
    return statistics.fmean(values), (statistics.stdev(values) if len(values) > 1 else None)


def format_mean_std(mean: float, std: float | None, fmt: str = ".4f") -> str:
    """`0.9123 ± 0.0100`, or `0.9123` alone when the deviation is undefined (one run)."""
    return f"{mean:{fmt}}" if std is None else f"{mean:{fmt}} ± {std:{fmt.replace('+', '')}}"


#: how `paired_comparison` tests the per-seed differences (said in every result that carries one)
PAIRED_TEST = ("paired t: t = mean(d) / (sd(d) / sqrt(n)) over the per-seed differences d, two-sided p from "
               "Student's t with n - 1 degrees of freedom; and the sign test: seeds with d > 0 vs d < 0 "
               "(ties dropped), two-sided binomial p")


def paired_comparison(a: list[float], b: list[float]) -> dict[str, Any]:
    """Per-seed differences d = a − b (same retraining seeds), their mean ± std, the paired t statistic
    and the sign test (`PAIRED_TEST`). Undefined values (n = 1, or all d equal for t) are `None`."""
    from scipy import stats

    if len(a) != len(b) or not a:
        raise ValueError(f"paired comparison needs equally many values on both sides, got {len(a)} and {len(b)}")
    diffs = [float(x) - float(y) for x, y in zip(a, b)]
    n = len(diffs)
    mean, std = mean_std(diffs)
    t = p = None
    if std is not None and std > 0:
        t = mean / (std / n ** 0.5)
        p = float(2 * stats.t.sf(abs(t), n - 1))
    wins, losses = sum(d > 0 for d in diffs), sum(d < 0 for d in diffs)
    sign_p = float(stats.binomtest(wins, wins + losses).pvalue) if wins + losses else None
    return {"n": n, "differences": diffs, "mean": mean, "std": std, "t": t, "dof": n - 1, "p": p,
            "wins": wins, "losses": losses, "ties": n - wins - losses, "sign_p": sign_p}


def format_paired(c: dict[str, Any], scale: float = 100.0, unit: str = " pt") -> str:
    """One line: mean ± std of the differences, t (dof) and p, the sign counts."""
    std = None if c["std"] is None else scale * c["std"]
    text = f"{format_mean_std(scale * c['mean'], std, '+.2f')}{unit} (n = {c['n']} pairs)"
    text += (f", paired t({c['dof']}) = {c['t']:+.2f}, p = {c['p']:.3f}" if c["t"] is not None
             else ", paired t undefined" + (" (one seed)" if c["n"] == 1 else " (all differences equal)"))
    text += f"; sign {c['wins']}+/{c['losses']}-/{c['ties']}="
    if c["sign_p"] is not None:
        text += f", p = {c['sign_p']:.3f}"
    return text


def run_searches(configs: dict[str, NARConfig], data: ClassificationData, *, out_dir: Path | None = None,
                 desc: str = "nar", done: dict[str, SearchResult] | None = None) -> tuple[dict[str, SearchResult],
                                                                                           dict[str, float]]:
    """One search per named config, into `out_dir/search-NAME` (those in `done` are reused, not rerun)."""
    runs: dict[str, SearchResult] = dict(done or {})
    seconds: dict[str, float] = {}
    for name, config in configs.items():
        if name in runs:
            continue
        t0 = time.perf_counter()
        runs[name] = search(config, data, out_dir=out_dir / f"search-{name}" if out_dir else None,
                            desc=f"{desc} {name}")
        seconds[f"search_{name}"] = time.perf_counter() - t0
    return runs, seconds


def retrain_roles(specs: dict[str, dict[str, Any]], data: ClassificationData, *, seeds: int, retrain_epochs: int,
                  precision: str = "fp32", out_dir: Path | None = None, desc: str = "nar") -> list[dict[str, Any]]:
    """Retrain every named architecture from scratch for seeds 0..`seeds`-1 and test it on the test split."""
    rows = []
    for role, spec in specs.items():
        trained = [retrain(spec, data, config=retrain_config(epochs=retrain_epochs, seed=s, precision=precision),
                           out_dir=out_dir / f"retrain-{role}-s{s}" if out_dir else None,
                           desc=f"{desc} retrain {role} s{s}")
                   for s in range(seeds)]
        accs = [t["accuracy"] for t in trained]
        mean, std = mean_std(accs)
        rows.append({"role": role, "arch": trained[0]["arch"], "macs": trained[0]["macs"],
                     "flops": trained[0]["flops"], "params": trained[0]["params"],
                     "flops_reduction": trained[0]["flops_reduction"], "seeds": list(range(seeds)),
                     "accuracies": accs, "acc_mean": mean, "acc_std": std,
                     "seconds": statistics.fmean(t["seconds"] for t in trained)})
    return rows


def original_spec(found: dict[str, Any]) -> dict[str, Any]:
    """The backbone as published (conv 3×3 everywhere: all zeros) in the space of a search result."""
    return {**found, "arch": [0] * len(found["arch"])}


def refine_and_compare(config: NARConfig, data: ClassificationData | str = "digits", *, seeds: int = 3,
                       retrain_epochs: int = 15, out_dir: str | Path | None = None, data_dir: str | None = None,
                       desc: str = "nar", found: SearchResult | None = None) -> dict[str, Any]:
    """Search (controller and random), then retrain original/controller/random for `seeds` seeds each.

    `found`: a controller search already run with `config` (its random-search twin is run here at the same
    budget: same shared-weight steps, same number of evaluated children). Returns `{"searches": {strategy:
    result}, "rows": [{role, arch, macs, flops, params, accuracies, acc_mean, acc_std (None for one seed),
    acc_delta_pt, ...}], "paired": {"controller_minus_original" | "controller_minus_random" |
    "random_minus_original": paired_comparison}, "paired_test", "search_runs": {strategy: SearchResult},
    "seconds": {...}}`.
    """
    if isinstance(data, str):
        data = load_classification(data, data_dir)
    if config.strategy != "controller":
        raise UserError("the comparison retrains the controller's find against random search: use the controller "
                        "strategy")
    out = Path(out_dir) if out_dir is not None else None
    runs, seconds = run_searches({s: replace(config, strategy=s) for s in ("controller", "random")}, data,
                                 out_dir=out, desc=desc, done={"controller": found} if found else None)
    controller = runs["controller"].result
    specs = {"original": original_spec(controller), "controller": controller, "random": runs["random"].result}
    t0 = time.perf_counter()
    rows = retrain_roles(specs, data, seeds=seeds, retrain_epochs=retrain_epochs, precision=config.precision,
                         out_dir=out, desc=desc)
    seconds["retrain"] = time.perf_counter() - t0
    base = rows[0]
    for row in rows:
        row["acc_delta_pt"] = 100 * (row["acc_mean"] - base["acc_mean"])
    by = {r["role"]: r["accuracies"] for r in rows}
    paired = {f"{a}_minus_{b}": paired_comparison(by[a], by[b])
              for a, b in (("controller", "original"), ("controller", "random"), ("random", "original"))}
    return {"searches": {k: v.result for k, v in runs.items()}, "rows": rows, "paired": paired,
            "paired_test": PAIRED_TEST, "search_runs": runs, "seconds": seconds, "seeds": seeds,
            "retrain_epochs": retrain_epochs, "data": data.name, "train_images": len(data.train),
            "test_images": len(data.test)}


def found_comparison(cmp: dict[str, Any]) -> dict[str, Any]:
    """`refine_and_compare`'s retraining as `refine search` reports it: the controller's find is `found`, rows
    in the order found, original, random, and the random search's own result in `random_search`."""
    role = {"controller": "found", "original": "original", "random": "random"}
    rows = [{**{k: v for k, v in row.items() if k != "role"}, "role": role[row["role"]]} for row in cmp["rows"]]
    order = {"found": 0, "original": 1, "random": 2}
    rnd = cmp["searches"]["random"]
    return {"seeds": cmp["seeds"], "epochs": cmp["retrain_epochs"], "train_images": cmp["train_images"],
            "test_images": cmp["test_images"], "rows": sorted(rows, key=lambda r: order[r["role"]]),
            "paired": {"found_minus_original": cmp["paired"]["controller_minus_original"],
                       "found_minus_random": cmp["paired"]["controller_minus_random"]},
            "paired_test": cmp["paired_test"],
            "random_search": {k: rnd.get(k) for k in ("arch", "operators", "macs", "flops_reduction", "accuracy",
                                                      "arch_file")},
            "seconds": round(sum(cmp["seconds"].values()), 2)}


# --- ablation: PreTrain on/off x controller vs random, at equal budget -------------------------------
ABLATION_VARIANTS = (("pretrain", "controller"), ("pretrain", "random"), ("no-pretrain", "controller"),
                     ("no-pretrain", "random"))


def equal_budget_steps(pretrain_epochs: int, epochs: int, steps: int) -> int | None:
    """The controller-steps count nearest `steps` (within 40) for which PreTrain off, spreading S·E updates
    over P + E epochs, gets a whole number per epoch; None if there is none that close."""
    ok = [k for k in range(max(1, steps - 40), steps + 41) if (k * epochs) % (pretrain_epochs + epochs) == 0]
    return min(ok, key=lambda k: (abs(k - steps), k)) if ok else None


def search_summary(results: list[dict[str, Any]]) -> dict[str, Any]:
    """Several searches (one per seed): how often each architecture and, per decision, each operator was
    found; mean ± std of the MACs (= FLOPs) reduction and of the proxy accuracy; with retraining (each result's
    `retrain`), the per-seed differences pooled over all searches and retraining seeds."""
    from collections import Counter

    archs = Counter(tuple(r["arch"]) for r in results)
    per_slot = [Counter(OPERATOR_NAMES[r["arch"][d]] for r in results) for d in range(len(results[0]["arch"]))]
    red_mean, red_std = mean_std([r["flops_reduction"] for r in results])
    acc_mean, acc_std = mean_std([r["accuracy"] for r in results])
    summary: dict[str, Any] = {
        "searches": len(results), "seeds": [r.get("seed") for r in results],
        "architectures": [{"arch": list(a), "count": n} for a, n in archs.most_common()],
        "operators_per_slot": [dict(c.most_common()) for c in per_slot],
        "flops_reduction_mean": red_mean, "flops_reduction_std": red_std,
        "proxy_accuracy_mean": acc_mean, "proxy_accuracy_std": acc_std}
    if all("retrain" in r for r in results):
        pooled: dict[str, list[float]] = {}
        for r in results:
            for row in r["retrain"]["rows"]:
                pooled.setdefault(row["role"], []).extend(row["accuracies"])
        summary["retrain"] = {
            "roles": {role: dict(zip(("acc_mean", "acc_std"), mean_std(accs)), n=len(accs))
                      for role, accs in pooled.items()},
            "paired": {f"found_minus_{b}": paired_comparison(pooled["found"], pooled[b]) for b in ("original", "random")},
            "paired_note": "pairs pooled over search seeds x retraining seeds (same retraining seed within a pair)",
            "paired_test": PAIRED_TEST}
    return summary


def ablation_configs(config: NARConfig) -> dict[str, NARConfig]:
    """The four searches of `ablate`, each with the same shared-weight epochs and evaluated children.

    PreTrain on: `pretrain_epochs` P uniform epochs, then `epochs` E search epochs of `controller_steps` S
    updates. PreTrain off: P + E search epochs (the same shared-weight steps, the same SGDR schedule) of
    S·E / (P + E) updates each, so the same S·E updates (children) in all; that must be a whole number.
    """
    p, e, s = config.pretrain_epochs, config.epochs, config.controller_steps
    if p < 1:
        raise UserError("ablate compares PreTrain on and off: --pretrain-epochs must be at least 1")
    if (s * e) % (p + e):
        ok = equal_budget_steps(p, e, s)
        hint = f"; e.g. --controller-steps {ok}" if ok else ""
        raise UserError(f"--controller-steps {s} x --epochs {e} must be divisible by pretrain + search epochs "
                        f"({p + e}) so that PreTrain off evaluates as many children{hint}")
    off = {"pretrain_epochs": 0, "epochs": p + e, "controller_steps": s * e // (p + e)}
    return {f"{pre}-{strategy}": replace(config, strategy=strategy, **(off if pre == "no-pretrain" else {}))
            for pre, strategy in ABLATION_VARIANTS}


def ablate(config: NARConfig, data: ClassificationData, *, seeds: int = 2, retrain_epochs: int = 15,
           out_dir: str | Path | None = None, desc: str = "ablate") -> dict[str, Any]:
    """Four searches (`ablation_configs`), each found architecture and the original retrained `seeds` times.

    Rows: variant, pretrain, strategy, arch, proxy accuracy (shared weights), MACs and their reduction,
    retrained test accuracy mean ± std, per-seed accuracies, the paired comparison with the original,
    and the budget actually spent (shared-weight epochs, evaluated children) read back from each search.
    """
    out = Path(out_dir) if out_dir is not None else None
    configs = ablation_configs(config)
    runs, seconds = run_searches(configs, data, out_dir=out, desc=desc)
    first = next(iter(runs.values())).result
    specs = {"original": original_spec(first), **{name: run.result for name, run in runs.items()}}
    t0 = time.perf_counter()
    trained = {r["role"]: r for r in retrain_roles(specs, data, seeds=seeds, retrain_epochs=retrain_epochs,
                                                   precision=config.precision, out_dir=out, desc=desc)}
    seconds["retrain"] = time.perf_counter() - t0
    base = trained["original"]
    rows = []
    for (pre, strategy), (name, run) in zip(ABLATION_VARIANTS, runs.items()):
        r, t = run.result, trained[name]
        rows.append({"variant": name, "pretrain": pre == "pretrain", "strategy": strategy, "arch": r["arch"],
                     "operators": r["operators"], "proxy_accuracy": r["accuracy"],
                     "proxy_original_accuracy": r["baseline_accuracy"], "macs": r["macs"],
                     "macs_reduction": 1.0 - r["macs"] / r["baseline_macs"], "params": r["params"],
                     "test_acc_mean": t["acc_mean"], "test_acc_std": t["acc_std"], "test_accuracies": t["accuracies"],
                     "vs_original": paired_comparison(t["accuracies"], base["accuracies"]),
                     "shared_epochs": len(run.history), "children": len(run.steps),
                     "pretrain_epochs": configs[name].pretrain_epochs, "search_epochs": configs[name].epochs,
                     "controller_steps": configs[name].controller_steps, "search_seconds": r["seconds"]})
    return {"rows": rows, "original": {k: base[k] for k in ("arch", "macs", "params", "accuracies", "acc_mean",
                                                            "acc_std")},
            "paired_test": PAIRED_TEST, "seeds": seeds, "retrain_epochs": retrain_epochs, "data": data.name,
            "train_images": len(data.train), "test_images": len(data.test), "seconds": seconds,
            "config": config.to_dict()}


#: the columns of `ablation.csv`, one row per ablation variant
ABLATION_COLUMNS = ("variant", "pretrain", "strategy", "arch", "proxy_accuracy", "test_acc_mean", "test_acc_std",
                    "macs", "macs_reduction", "params", "vs_original_mean_pt", "vs_original_t", "shared_epochs",
                    "children", "search_seconds")


def ablation_csv(rows: list[dict[str, Any]]) -> str:
    """`ablate`'s rows as CSV (`ABLATION_COLUMNS`): arch codes space-separated, the difference from the original
    in percentage points, undefined values (one seed) empty."""
    import csv
    import io

    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=ABLATION_COLUMNS, lineterminator="\n")
    writer.writeheader()
    for r in rows:
        writer.writerow({**{k: r.get(k) for k in ABLATION_COLUMNS},
                         "arch": " ".join(map(str, r["arch"])),
                         "test_acc_std": "" if r["test_acc_std"] is None else r["test_acc_std"],
                         "vs_original_mean_pt": 100 * r["vs_original"]["mean"],
                         "vs_original_t": "" if r["vs_original"]["t"] is None else r["vs_original"]["t"]})
    return buf.getvalue()


def demo_config(quick: bool) -> NARConfig:
    """The demo's search: ResNet-18 at width `DEMO_WIDTH`, block granularity, the demo budget."""
    # 20 proxy-validation images per class instead of the seed's 4 (a 10-class reward needs more than 40 images)
    return NARConfig(backbone="resnet18", granularity="block", width=DEMO_WIDTH, proxy_per_class=60,
                     proxy_val_per_class=20, batch_size=32, **DEMO_BUDGET[quick])


def run_demo(out_dir: Path, quick: bool) -> dict[str, Any]:
    """`refine_and_compare` at the demo's scale; runs go to `out_dir/runs/nar-digits`."""
    # 16×16 digits (the scans are 8×8) and a quarter-width ResNet-18 keep 2 searches + 9 retrainings in budget
    data = load_classification("digits", image_size=DEMO_IMAGE_SIZE)
    return refine_and_compare(demo_config(quick), data, seeds=DEMO_SEEDS, retrain_epochs=DEMO_RETRAIN_EPOCHS[quick],
                              out_dir=Path(out_dir) / "runs" / "nar-digits", desc="nar")


__all__ = ["ABLATION_COLUMNS", "ABLATION_VARIANTS", "ARCH_ROLES", "DEMO_BUDGET", "PAIRED_TEST", "ablate",
           "ablation_configs", "ablation_csv", "demo_config", "equal_budget_steps", "format_mean_std", "format_paired",
           "found_comparison", "mean_std", "original_spec", "paired_comparison", "refine_and_compare", "retrain_roles",
           "run_demo", "run_searches", "search_summary"]
