"""The demo report's refinement section: NAR on a narrow ResNet-18 over digits vs the original and random search.

The runs are `nivalis.experiments.nar.run_demo`; this module turns their results into prose, tables and figures.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from nivalis.experiments.nar import (
    DEMO_IMAGE_SIZE,
    DEMO_RETRAIN_EPOCHS,
    DEMO_WIDTH,
    demo_config,
    format_mean_std,
    run_demo,
)
from nivalis.figures import save_figure
from nivalis.nas.operators import OPERATOR_NAMES
from nivalis.nas.search import budget
from nivalis.report.build import Section


def _per_update(steps: list[dict]) -> list[dict[str, float]]:
    """Mean reward (and the controller's baseline, where recorded) of the children of every update."""
    groups: dict[int, list[dict]] = {}
    for step in steps:
        groups.setdefault(step["update"], []).append(step)
    return [{"reward": float(np.mean([s["reward"] for s in g])), "baseline": g[0].get("baseline", float("nan"))}
            for _, g in sorted(groups.items())]


def build(out_dir: Path, quick: bool) -> Section:
    """Search ResNet-18 (block granularity) on digits with the controller and randomly; retrain all three × 3 seeds."""
    import matplotlib.pyplot as plt

    out_dir = Path(out_dir)
    cfg = demo_config(quick)
    epochs = DEMO_RETRAIN_EPOCHS[quick]
    res = run_demo(out_dir, quick)
    ctrl, rand = res["searches"]["controller"], res["searches"]["random"]
    rows = {r["role"]: r for r in res["rows"]}
    sec = Section("Neural Architecture Refinement: ResNet-18 on digits")
    sec.text(
        f"NAR (seed 004) keeps ResNet-18's skip connections and chooses one operator per residual block "
        f"(granularity `block`, ResNet-18-8; codes 0 conv 3×3, 1 depthwise-separable 3×3, 2 max-pool, 3 avg-pool; "
        f"{ctrl['search_space_size']:,} architectures) with an ENAS controller trained by REINFORCE on the "
        f"shared weights of a supernet. To fit the demo's time budget the backbone is ResNet-18 at width "
        f"{DEMO_WIDTH} ({int(64 * DEMO_WIDTH)}–{int(512 * DEMO_WIDTH)} channels, CIFAR stem) on digits at "
        f"{DEMO_IMAGE_SIZE}×{DEMO_IMAGE_SIZE}. The search runs {cfg.pretrain_epochs} epoch(s) of uniformly "
        f"random paths (-PreTrain) + {cfg.epochs} search epochs (SGDR, T_0 = {cfg.sgdr_t0}, T_mult = "
        f"{cfg.sgdr_t_mult}), {cfg.controller_steps} controller updates per epoch of {cfg.samples_per_update} "
        f"sampled children each (Adam lr {cfg.controller_lr:g})"
        f"{' (the budget of `nivalis refine search --quick`)' if quick else ' (two SGDR cycles)'}, "
        + ("shared-weight paths strictly fair (FairNAS: every operator trains equally often), advantages "
           "normalised per update, " if cfg.fair_sampling else
           f"shared-weight paths sampled with a floor of {cfg.sample_floor:g} per operator, ")
        + "candidates compared "
        f"after {cfg.derive_finetune_steps} fine-tuning steps each, "
        f"on a class-balanced proxy task of {ctrl['proxy']['train']} training and "
        f"{ctrl['proxy']['val']} validation images from the training split. Random search gets the same budget "
        f"(same shared-weight steps, same number of evaluated children). Each architecture is then retrained from "
        f"scratch on the full training split ({epochs} epochs, SGD lr 0.1 + cosine, seeds 0–2) and tested on the "
        f"untouched test split. Search wall time: {ctrl['seconds']:.0f} s (controller), {rand['seconds']:.0f} s "
        f"(random).")

    runs = {"controller": res["search_runs"]["controller"], "random search": res["search_runs"]["random"]}
    fig, ax = plt.subplots(1, 2, figsize=(11, 3.6))
    for (name, run), color in zip(runs.items(), ("C0", "C1"), strict=True):
        updates = _per_update(run.steps)
        x = np.arange(1, len(updates) + 1)
        ax[0].plot(x, [u["reward"] for u in updates], color=color, lw=1.2, label=f"{name}: mean reward per update")
    baseline = [u["baseline"] for u in _per_update(runs["controller"].steps)]
    ax[0].plot(np.arange(1, len(baseline) + 1), baseline, color="C0", ls="--", lw=1, label="REINFORCE baseline b")
    ax[0].set_xlabel("controller update"), ax[0].set_ylabel("reward (proxy-validation accuracy)")
    ax[0].grid(alpha=.3), ax[0].legend(fontsize=8)
    epochs_x = np.arange(1, len(ctrl["entropy"]) + 1)
    ax[1].plot(epochs_x, ctrl["entropy"], "o-", color="C0", label="controller policy")
    ax[1].axhline(ctrl["entropy_max"], color="0.4", ls=":", label=f"uniform ({ctrl['entropy_max']:.2f} nats)")
    if cfg.pretrain_epochs:
        ax[1].axvspan(0.5, cfg.pretrain_epochs + 0.5, color="0.9", label="-PreTrain (uniform paths)")
    ax[1].set_ylim(0, ctrl["entropy_max"] * 1.08)
    ax[1].set_xlabel("search epoch (end of)"), ax[1].set_ylabel("policy entropy H(π) (nats)")
    ax[1].grid(alpha=.3), ax[1].legend(fontsize=8)
    sec.figure(save_figure(fig, out_dir / "figures" / "nar_search_curve.png"),
               f"Search curve: mean reward of the {cfg.samples_per_update} children of every controller update "
               f"(left); the controller's policy entropy at the end of every epoch, {ctrl['entropy'][0]:.2f} → "
               f"{ctrl['entropy'][-1]:.2f} nats ({-100 * ctrl['entropy_drop']:+.0f}%) (right)")

    fig, ax = plt.subplots(1, 2, figsize=(12, 3.2), layout="constrained")
    codes = sorted({c for choice in ctrl["choices"] for c in choice})
    panels = (("controller policy π after search", np.array(runs["controller"].policy)),
              ("sampling frequency while training the shared weights", np.array(ctrl["frequencies"])))
    for axis, (title, table) in zip(ax, panels, strict=True):
        im = axis.imshow(table[:, codes].T, cmap="Blues", vmin=0, vmax=1, aspect="auto")
        axis.set_yticks(range(len(codes)), [OPERATOR_NAMES[c] for c in codes])
        axis.set_xticks(range(table.shape[0]), [str(d + 1) for d in range(table.shape[0])])
        axis.set_xlabel("residual block"), axis.set_title(title, fontsize=9)
        for d, code in enumerate(ctrl["arch"]):
            axis.text(d, codes.index(code), "●", ha="center", va="center", color="C3", fontsize=9)
        fig.colorbar(im, ax=axis, fraction=0.046, label="probability")
    sec.figure(save_figure(fig, out_dir / "figures" / "nar_operators.png"),
               "Operators per block: the controller's π(operator | greedy choice of the blocks before) after the "
               "search (left) and how often each operator's shared weights were trained over the search epochs "
               "(right); the derived architecture marked ●")

    def arch_text(arch):
        return "[" + ",".join(map(str, arch)) + "] " + " ".join(OPERATOR_NAMES[c] for c in arch)

    roles = ("original", "controller", "random")

    def change(role):
        return f"{-100 * rows[role]['flops_reduction'] + 0.0:+.1f}%"

    sec.table(["architecture", "arch vector", "params", "FLOPs", "FLOPs vs original"],
              [[role, arch_text(rows[role]["arch"]), rows[role]["params"], rows[role]["flops"], change(role)]
               for role in roles],
              caption=f"Found architectures (FLOPs at 1×{DEMO_IMAGE_SIZE}×{DEMO_IMAGE_SIZE}, batch 1; "
                      "multiply-add = 2)")
    sec.table(["architecture", "test accuracy (mean ± std, 3 seeds)", "Δ vs original (pt)", "per seed",
               "FLOPs vs original"],
              [[role, format_mean_std(rows[role]["acc_mean"], rows[role]["acc_std"]),
                f"{rows[role]['acc_delta_pt']:+.2f}", ", ".join(f"{a:.3f}" for a in rows[role]["accuracies"]),
                change(role)] for role in roles],
              caption=f"Retrained from scratch ({epochs} epochs) on {res['train_images']} digits, tested on "
                      f"{res['test_images']} test digits")
    c, r = rows["controller"], rows["random"]
    verdict = "meets" if c["flops_reduction"] >= 0.10 and c["acc_delta_pt"] >= -0.5 else "misses"
    noise = 100 * max(row["acc_std"] or 0.0 for row in rows.values()) / 3 ** 0.5
    sec.text(f"Refined (controller) vs original: {-100 * c['flops_reduction']:+.1f}% FLOPs, "
             f"{c['acc_delta_pt']:+.2f} pt test accuracy (mean of 3 seeds); this run {verdict} the target of ≥ 10% "
             f"fewer FLOPs at ≤ 0.5 pt lower accuracy. Random search: {-100 * r['flops_reduction']:+.1f}% FLOPs, "
             f"{r['acc_delta_pt']:+.2f} pt. Controller minus random search: "
             f"{c['acc_delta_pt'] - r['acc_delta_pt']:+.2f} pt, against a standard error of the 3-seed means of up "
             f"to {noise:.2f} pt. With the seed's accuracy-only reward every candidate is cheaper than conv 3×3, so "
             f"FLOPs fall wherever the search leaves the original operator. `benchmarks/nar_search.py` runs the "
             f"CLI's full budget.")
    full = budget(False)
    sec.text(f"This is a short search ({cfg.pretrain_epochs} + {cfg.epochs} epochs); `nivalis refine search` "
             f"runs {full['pretrain_epochs']} + {full['epochs']} epochs with {full['controller_steps']} updates per "
             f"epoch. `benchmarks/nar_mitigations.py` shows what the sampling floor, the fine-tuned comparison, "
             f"-PreTrain and a cost-preserving reward each change.")
    pools = sum(code in (2, 3) for code in c["arch"])
    if pools > len(c["arch"]) // 2:
        sec.text(f"The controller's network pools in {pools} of {len(c['arch'])} blocks: in a search this short "
                 f"the parameter-free paths train fastest on the shared weights and win the proxy reward, the "
                 f"early bias the seed's uniform pre-training (-PreTrain) only partly removes.")
    return sec
