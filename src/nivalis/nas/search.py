"""Neural Architecture Refinement (Jiang et al., seed 004): search a backbone's operators on a proxy task, then retrain.

The skips of a proven backbone stay; an ENAS controller chooses one operator per block or per 3×3
slot (`nivalis.nas.space`). One search epoch alternates two phases (§3.2, after ENAS):

1. shared weights ω: one pass over the proxy training images, each SGD step on a strictly fair path
   (FairNAS, `fair_sampling`, the default: every K_d steps each operator of decision d trains once)
   or, without it, a path a ~ π_θ floored at `sample_floor` per operator (a uniform path during the
   first `pretrain_epochs`, the seed's "-PreTrain" against the controller's early sampling bias, and
   always for `strategy="random"`);
2. controller θ: `controller_steps` REINFORCE updates, each on the rewards of `samples_per_update`
   sampled children (ENAS aggregates 20) evaluated with the shared weights on one proxy-validation
   minibatch, in one pass that computes their common prefixes once (`evaluate_archs`); advantages
   are divided by the update's reward spread (`normalize_reward`).

.. math::
    \\min_\\omega \\mathbb{E}_{a\\sim\\pi_\\theta}\\big[\\mathcal{L}_{train}(a, \\omega)\\big], \\qquad
    \\max_\\theta \\mathbb{E}_{a\\sim\\pi_\\theta}\\big[R(a, \\omega)\\big], \\qquad
    R(a) = \\mathrm{ACC}_{val}(a) \\cdot \\big[\\mathrm{cost}(a) / \\mathrm{cost}(0)\\big]^{w}

with w = 0 for the seed's accuracy-only reward and w = −0.07 (MnasNet's soft constraint, Tan et al.
2019) for `reward="acc-flops"` / `"acc-latency"`; MnasNet's general form divides the cost ratio by a
target T (`cost_target`) and takes w = α (`cost_exponent_below`) at or below it, so α > 0 also
penalises architectures cheaper than T. The derived architecture is the best, by reward on the whole
proxy-validation split after the same `derive_finetune_steps` SGD steps on each candidate's path alone
(rarely sampled operators have under-trained shared weights), of the controller's greedy choice and
`derive_samples` samples (ENAS's derivation); the original architecture is scored the same way. The
random-search baseline spends the same budget (same shared-weight steps, same number of evaluated
children) with uniform paths and derives from its best-rewarded children. Every epoch records the
policy's entropy, its per-decision probabilities, how often each operator trained its weights, the
accuracy of each operator's homogeneous path (`operator_paths`) and the seconds of each phase. The result
says how well the shared weights fit the proxy task (`proxy_fit`: the original path's accuracy against chance) and
warns when they barely do: the controller's rewards are then mostly noise.

The proxy task (§4.1.1) is a class-balanced subset of the training split, `proxy_per_class` images
per class of which `proxy_val_per_class` form its own validation split; the test split is never seen.
A found architecture is retrained from scratch on the full training split with `nivalis.engine.fit`
(`nivalis.nas.retrain`). Costs are reported as `macs` (multiply-adds, the seed's count) and `flops`
(2 × MACs, PyTorch's count), each with its `baseline_` value. The settings live in `nivalis.nas.config`; both modules' public names are
re-exported here, the library's one entry point for a search.
"""

from __future__ import annotations

import functools
import json
import time
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

import numpy as np
import torch

from nivalis.data import ClassificationData, load_classification
from nivalis.engine import autocast_for, get_context, resume_training, save_checkpoint, seed_everything, wrap_ddp
from nivalis.engine.seed import epoch_seed
from nivalis.errors import UserError
from nivalis.files import atomic_write_text
from nivalis.nas.config import PROXY_FIT_SHARE, NARConfig, budget, budget_config, model_kwargs_for, proxy_fit
from nivalis.nas.controller import FairSampler, OperatorController, Reinforce
from nivalis.nas.operators import OPERATOR_NAMES
from nivalis.nas.retrain import ARCH_KEYS, load_arch, retrain, retrain_config
from nivalis.nas.space import SearchSpace
from nivalis.nas.supernet import Supernet, evaluate_arch, evaluate_archs, random_shift, train_shared_epoch
from nivalis.progress import bar

SEARCH_CHECKPOINT = "search.pt"


# --- proxy task ------------------------------------------------------------------------------------
@dataclass
class ProxyTask:
    """Class-balanced proxy subset of the training split with its own validation part (§4.1.1)."""

    train_images: torch.Tensor
    train_labels: torch.Tensor
    val_images: torch.Tensor
    val_labels: torch.Tensor
    per_class: int

    def summary(self) -> dict[str, int]:
        return {"train": len(self.train_labels), "val": len(self.val_labels), "per_class": self.per_class}


def make_proxy(data: ClassificationData, per_class: int, val_per_class: int, seed: int = 0) -> ProxyTask:
    """Draw `per_class` training images of every class (fewer if a class is smaller, then the same
    number for all), `val_per_class` of them held out as the proxy-validation split."""
    images, labels = data.train.tensors[0], data.train.tensors[1]
    counts = torch.bincount(labels, minlength=data.num_classes)
    present = counts[counts > 0]
    n = int(min(per_class, int(present.min())))
    n_val = min(val_per_class, n - 1) if n > 1 else 0
    if n_val < 1:
        raise UserError(f"data set {data.name!r} has a class with {int(present.min())} training image(s); "
                        "the proxy task needs at least 2 per class")
    rng = np.random.default_rng(seed)
    train_idx, val_idx = [], []
    for cls in torch.nonzero(counts > 0).flatten().tolist():
        idx = torch.nonzero(labels == cls).flatten().numpy()
        pick = rng.permutation(idx)[:n]
        val_idx.extend(pick[:n_val].tolist())
        train_idx.extend(pick[n_val:].tolist())
    tr, va = torch.tensor(sorted(train_idx)), torch.tensor(sorted(val_idx))
    # contiguous NCHW whatever the data's layout (`nivalis.engine.fit._to`: a torch bug with channels-last batches)
    return ProxyTask(images[tr].contiguous(), labels[tr], images[va].contiguous(), labels[va], n)


# --- reward ----------------------------------------------------------------------------------------
def reward(accuracy: float, cost_ratio: float, kind: str = "acc", exponent: float = -0.07, *, target: float = 1.0,
           exponent_below: float | None = None) -> float:
    """R = ACC for "acc"; otherwise MnasNet's R = ACC · (r / T)^w with r = cost / cost_0, the target ratio
    T = `target`, w = `exponent` (β) when r > T and `exponent_below` (α, default β) when r ≤ T.

    α = β = −0.07 is MnasNet's soft constraint; α > 0 with T = 1 (or the ratio to keep) penalises
    architectures cheaper than the target too: a cost-preserving reward against a collapse onto
    parameter-free operators."""
    if kind == "acc":
        return float(accuracy)
    ratio = float(cost_ratio) / float(target)
    w = exponent if ratio > 1.0 or exponent_below is None else exponent_below
    return float(accuracy) * ratio ** w


def _cost_metric(kind: str) -> str:
    return "latency_ms" if kind == "acc-latency" else "flops"


# --- search ----------------------------------------------------------------------------------------
@dataclass
class SearchResult:
    result: dict[str, Any]
    history: list[dict[str, Any]] = field(default_factory=list)
    steps: list[dict[str, Any]] = field(default_factory=list)
    space: SearchSpace | None = None
    supernet: Supernet | None = None
    #: π(code | greedy prefix) per decision after the search (uniform over the candidates for random search)
    policy: list[list[float]] = field(default_factory=list)


def _write_json(path: Path, payload: dict[str, Any]) -> Path:
    return atomic_write_text(path, json.dumps(payload, indent=2))

def _controller_phase(config: NARConfig, space: SearchSpace, supernet: Supernet, controller: OperatorController,
                      trainer: Reinforce, proxy: ProxyTask, steps: list[dict[str, Any]], cost_ratio, epoch: int,
                      gen: torch.Generator, desc: str) -> float:
    """`controller_steps` updates of `samples_per_update` children each, all children of one update scored
    on the same proxy-validation minibatch (REINFORCE for the controller, uniform draws for random
    search: the same number of evaluated children); appends one row per child to `steps`, returns the
    mean reward."""
    rewards = []
    progress = bar(config.controller_steps, desc=desc)
    for _ in range(config.controller_steps):
        idx = torch.randperm(len(proxy.val_labels), generator=gen)[:config.reward_batch_size]
        images, labels = proxy.val_images[idx], proxy.val_labels[idx]
        update = len({s["update"] for s in steps}) + 1 if steps else 1
        if config.strategy == "controller":
            drawn = [controller(generator=gen) for _ in range(config.samples_per_update)]
        else:
            drawn = [(space.random_arch(gen), None, None) for _ in range(config.samples_per_update)]
        accs = evaluate_archs(supernet, [d[0] for d in drawn], images, labels, precision=config.precision,
                              shared_prefix=config.shared_prefix)
        samples, rows = [], []
        for (arch, log_prob, entropy), acc in zip(drawn, accs, strict=True):
            ratio = cost_ratio(arch)
            r = reward(acc, ratio, config.reward, config.cost_exponent, target=config.cost_target,
                       exponent_below=config.cost_exponent_below)
            rows.append({"step": len(steps) + len(rows) + 1, "update": update, "epoch": epoch + 1, "arch": arch,
                         "accuracy": acc, "cost_ratio": ratio, "reward": r})
            if log_prob is not None:
                samples.append((log_prob, entropy, r))
            rewards.append(r)
        if samples:
            stats = trainer.update(samples)
            for row in rows:
                row.update(stats)
        steps.extend(rows)
        progress.update(1)
        progress.set_postfix(reward=f"{np.mean(rewards):.3f}")
    progress.close()
    return float(np.mean(rewards))


def _operator_paths(config: NARConfig, space: SearchSpace, supernet: Supernet, proxy: ProxyTask) -> dict[str, float]:
    """Proxy-validation accuracy, with the shared weights, of each operator's homogeneous path: that operator at
    every decision that allows it (the original elsewhere). Recorded every epoch, it shows which operators'
    weights fit first under weight sharing (pooling paths early: the root of the collapse)."""
    codes = sorted({c for choice in space.choices for c in choice})
    archs = [[code if code in choice else choice[0] for choice in space.choices] for code in codes]
    accs = evaluate_archs(supernet, archs, proxy.val_images, proxy.val_labels, precision=config.precision,
                          shared_prefix=config.shared_prefix)
    return {OPERATOR_NAMES[c]: round(a, 5) for c, a in zip(codes, accs, strict=True)}


def _finetuned_accuracy(supernet: Supernet, arch: list[int], proxy: ProxyTask, config: NARConfig) -> float:
    """Proxy-validation accuracy of `arch` after `derive_finetune_steps` SGD steps on that path alone.

    Every candidate starts from the same shared weights and sees the same batches (a generator seeded
    by `config.seed`), at the search's final learning rate `lr_min`; the weights are restored afterwards.
    Shared weights of an operator the controller rarely sampled are under-trained, so comparing paths
    as they are favours the often-sampled ones; a short fine-tune on equal terms removes most of that.
    """
    if config.derive_finetune_steps <= 0:
        return evaluate_arch(supernet, arch, proxy.val_images, proxy.val_labels, precision=config.precision)
    saved = {k: v.clone() for k, v in supernet.state_dict().items()}
    supernet.set_arch(arch)
    supernet.train()
    optimizer = torch.optim.SGD(supernet.parameters(), lr=config.lr_min, momentum=config.momentum, nesterov=True,
                                weight_decay=config.weight_decay)
    gen = torch.Generator().manual_seed(config.seed)
    n = len(proxy.train_labels)
    try:
        for _ in range(config.derive_finetune_steps):
            idx = torch.randperm(n, generator=gen)[:config.batch_size]
            with autocast_for(config.precision):
                loss = torch.nn.functional.cross_entropy(supernet(proxy.train_images[idx]), proxy.train_labels[idx])
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
        return evaluate_arch(supernet, arch, proxy.val_images, proxy.val_labels, precision=config.precision)
    finally:
        supernet.load_state_dict(saved)


def _policy_stats(config: NARConfig, space: SearchSpace, controller: OperatorController,
                  counts: np.ndarray) -> dict[str, Any]:
    """What the policy is at the end of an epoch: H(π) (Monte-Carlo, fixed draws; random search: the
    uniform policy's), π(code | greedy prefix) per decision, and how often each code trained its shared
    weights this epoch (`frequencies`, per decision over all codes)."""
    if config.strategy == "controller":
        entropy, probs = controller.policy_entropy(seed=config.seed), controller.probabilities()
    else:
        entropy = controller.max_entropy()
        probs = [[1.0 / len(c) if code in c else 0.0 for code in range(len(OPERATOR_NAMES))] for c in space.choices]
    freq = counts / np.maximum(counts.sum(axis=1, keepdims=True), 1)
    return {"entropy": entropy, "probabilities": [[round(v, 5) for v in row] for row in probs],
            "frequencies": [[round(float(v), 5) for v in row] for row in freq]}


def _entropy_summary(history: list[dict[str, Any]], controller: OperatorController) -> dict[str, Any]:
    """`entropy` per epoch, the uniform policy's `entropy_max` and the relative `entropy_drop` first → last."""
    entropy = [round(float(h["entropy"]), 5) for h in history]
    return {"entropy": entropy, "entropy_max": round(controller.max_entropy(), 5),
            "entropy_drop": 1.0 - entropy[-1] / entropy[0] if entropy and entropy[0] > 0 else 0.0}


def _search_frequencies(history: list[dict[str, Any]]) -> list[list[float]]:
    """Per decision, how often each code trained the shared weights over the search epochs (the
    pre-training epochs sample uniformly and are left out; all epochs if there are none)."""
    rows = [h for h in history if h["phase"] == "search"] or history
    freq = np.mean([h["frequencies"] for h in rows], axis=0)
    return [[round(float(v), 5) for v in row] for row in freq]


def _derive(config: NARConfig, space: SearchSpace, supernet: Supernet, controller: OperatorController,
            proxy: ProxyTask, steps: list[dict[str, Any]], cost_ratio, total: int,
            desc: str) -> tuple[list[tuple[float, float, list[int]]], float]:
    """ENAS's derivation: the controller's greedy choice and `derive_samples` samples (random search: its
    best-rewarded children), each scored on the whole proxy-validation split. Returns (reward, accuracy,
    arch) per candidate and the original architecture's accuracy with the same shared weights, each after
    the same short fine-tune (`_finetuned_accuracy`)."""
    if config.strategy == "controller":
        gen = torch.Generator().manual_seed(epoch_seed(config.seed, total + 1))
        with torch.no_grad():
            pool = [controller(greedy=True)[0]] + [controller(generator=gen)[0] for _ in range(config.derive_samples)]
    else:
        pool = [s["arch"] for s in sorted(steps, key=lambda s: -s["reward"])]
        pool = pool or [space.random_arch(torch.Generator().manual_seed(config.seed))]
    unique: list[list[int]] = []
    for arch in pool:
        if list(arch) not in unique:
            unique.append(list(arch))
    unique = unique[:config.derive_samples + 1]
    progress = bar(len(unique) + 1, desc=desc)
    scored = []
    for arch in unique:
        acc = _finetuned_accuracy(supernet, arch, proxy, config)
        scored.append((reward(acc, cost_ratio(arch), config.reward, config.cost_exponent, target=config.cost_target,
                              exponent_below=config.cost_exponent_below), acc, arch))
        progress.update(1)
    baseline_acc = _finetuned_accuracy(supernet, space.baseline(), proxy, config)
    progress.update(1)
    progress.close()
    return scored, baseline_acc


def search(config: NARConfig, data: ClassificationData | str = "digits", *, data_dir: str | None = None,
           out_dir: str | Path | None = None, resume: bool = False, desc: str = "refine") -> SearchResult:
    """Run a NAR search; write `arch.json`, `search_history.json` and the resumable `search.pt` to `out_dir`."""
    ctx = get_context()
    t_start = time.perf_counter()
    if isinstance(data, str):
        data = load_classification(data, data_dir)
    seed_everything(config.seed)
    kwargs = model_kwargs_for(config, data.input_shape)
    space = SearchSpace(config.backbone, config.granularity, input_shape=data.input_shape,
                        num_classes=data.num_classes, model_kwargs=kwargs, candidates=config.candidates,
                        param_rule=config.param_rule)
    if all(len(c) == 1 for c in space.choices):
        raise UserError("the parameter rule leaves no alternative operator anywhere; widen --candidates")
    proxy = make_proxy(data, config.proxy_per_class, config.proxy_val_per_class, seed=config.seed)
    metric = _cost_metric(config.reward)
    if config.reward == "acc-latency":
        space.measure_latency()
    base_cost = space.cost(space.baseline(), metric)
    supernet = Supernet(space)
    pretrained = supernet.load_backbone(config.pretrained) if config.pretrained else None  # search.pt overrides
    optimizer = torch.optim.SGD(supernet.parameters(), lr=config.lr_max, momentum=config.momentum, nesterov=True,
                                weight_decay=config.weight_decay)
    # SGDR (Loshchilov & Hutter 2017): cosine cycles of T_0 · T_mult^k epochs from lr_max down to lr_min
    scheduler = torch.optim.lr_scheduler.CosineAnnealingWarmRestarts(optimizer, T_0=config.sgdr_t0,
                                                                     T_mult=config.sgdr_t_mult, eta_min=config.lr_min)
    controller = OperatorController(space.choices, hidden=config.controller_hidden,
                                    tanh_constant=config.tanh_constant)
    trainer = Reinforce(controller, lr=config.controller_lr, entropy_weight=config.entropy_weight,
                        baseline_decay=config.baseline_decay, normalize=config.normalize_reward)
    history: list[dict[str, Any]] = []
    steps: list[dict[str, Any]] = []
    start_epoch, elapsed_before = 0, 0.0
    ckpt = Path(out_dir) / SEARCH_CHECKPOINT if out_dir is not None else None
    meta = {"task": "nar-search", "data": data.name, "space": space.describe()}

    if resume:
        def same_search(state: dict[str, Any]) -> None:
            saved = NARConfig.from_dict(state.get("config", {}))
            mismatch = [f.name for f in fields(NARConfig)
                        if f.name not in ("epochs", "controller_steps", "derive_samples", "derive_finetune_steps")
                        and getattr(saved, f.name) != getattr(config, f.name)]
            if mismatch or state.get("meta", {}).get("data") != data.name:
                what = ", ".join(mismatch) or "data"
                raise UserError(f"{ckpt} was written by a different search ({what} differ); use a new --out")

        state = resume_training(ckpt, model=supernet, optimizer=optimizer, scheduler=scheduler,
                                others={"controller": trainer}, check=same_search, what="search checkpoint")
        start_epoch = int(state["epoch"])
        history, steps = list(state["history"]), list(state["steps"])
        elapsed_before = float(state.get("seconds", 0.0))

    total = config.pretrain_epochs + config.epochs
    augment = (None if config.augment == "none" else
               functools.partial(random_shift, flip=config.augment == "shift+flip"))

    # DDP averages the gradients of the path each step trained; the other candidates get none on any rank.
    # BN running averages stay per rank as before: the supernet always evaluates with batch statistics.
    trainable = wrap_ddp(supernet, find_unused_parameters=True, broadcast_buffers=False)

    def cost_ratio(arch: list[int]) -> float:
        return space.cost(arch, metric) / base_cost

    for epoch in range(start_epoch, total):
        t0 = time.perf_counter()
        gen = torch.Generator().manual_seed(epoch_seed(config.seed, epoch))
        pretrain = epoch < config.pretrain_epochs
        uniform = pretrain or config.strategy == "random"

        counts = np.zeros((space.num_decisions, len(OPERATOR_NAMES)), dtype=np.int64)

        fair = FairSampler(space.choices, gen) if config.fair_sampling else None

        def sample_arch(uniform: bool = uniform, gen: torch.Generator = gen, counts: np.ndarray = counts,
                        fair: FairSampler | None = fair) -> list[int]:
            if fair is not None:
                arch = fair()
            elif uniform:
                arch = space.random_arch(gen)
            else:
                with torch.no_grad():
                    arch = controller(generator=gen, floor=config.sample_floor)[0]
            counts[np.arange(len(arch)), arch] += 1
            return arch

        phase = "pretrain" if pretrain else "search"
        scheduler.step(epoch)
        row: dict[str, Any] = {"epoch": epoch + 1, "phase": phase, "lr": optimizer.param_groups[0]["lr"]}
        row.update(train_shared_epoch(supernet, proxy.train_images, proxy.train_labels, sample_arch=sample_arch,
                                      optimizer=optimizer, scheduler=scheduler, model=trainable, epoch=epoch,
                                      batch_size=config.batch_size, generator=gen, precision=config.precision,
                                      augment=augment, desc=f"{desc} {phase} {epoch + 1}/{total}"))
        row["seconds_shared"] = time.perf_counter() - t0
        if not pretrain and config.controller_steps:
            row["mean_reward"] = _controller_phase(config, space, supernet, controller, trainer, proxy, steps,
                                                   cost_ratio, epoch, gen,
                                                   desc=f"{desc} controller {epoch + 1}/{total}")
        row["seconds_controller"] = time.perf_counter() - t0 - row["seconds_shared"]
        row["operator_paths"] = _operator_paths(config, space, supernet, proxy)
        row.update(_policy_stats(config, space, controller, counts))
        row["seconds"] = time.perf_counter() - t0
        history.append(row)
        if ckpt is not None and ctx.is_main:
            save_checkpoint(ckpt, {"model": supernet.state_dict(), "optimizer": optimizer.state_dict(),
                                   "scheduler": scheduler.state_dict(), "controller": trainer.state_dict(),
                                   "epoch": epoch + 1,
                                   "config": config.to_dict(), "meta": meta, "history": history, "steps": steps,
                                   "seconds": elapsed_before + time.perf_counter() - t_start})
        ctx.barrier()

    fit, warnings = proxy_fit(evaluate_arch(supernet, space.baseline(), proxy.val_images, proxy.val_labels,
                                            precision=config.precision), data.num_classes)
    t_derive = time.perf_counter()
    scored, baseline_acc = _derive(config, space, supernet, controller, proxy, steps, cost_ratio, total,
                                   desc=f"{desc} derive")
    best_reward, best_acc, best = max(scored, key=lambda t: t[0])
    seconds = elapsed_before + time.perf_counter() - t_start
    flops, base_flops = space.cost(best, "flops"), space.cost(space.baseline(), "flops")
    result = {
        "backbone": config.backbone, "granularity": config.granularity, "arch": best,
        "operators": [OPERATOR_NAMES[c] for c in best],
        "macs": int(flops) // 2, "baseline_macs": int(base_flops) // 2,
        "flops": int(flops), "baseline_flops": int(base_flops), "flops_reduction": 1.0 - flops / base_flops,
        "params": int(space.cost(best, "params")), "baseline_params": int(space.cost(space.baseline(), "params")),
        "accuracy": best_acc, "baseline_accuracy": baseline_acc, "reward": best_reward,
        "accuracy_note": "proxy-validation accuracy with the supernet's shared weights (retrain for test accuracy)",
        "strategy": config.strategy, "reward_kind": config.reward, "data": data.name,
        "input_shape": list(data.input_shape), "num_classes": data.num_classes, "model_kwargs": kwargs,
        "proxy": proxy.summary(), "proxy_fit": fit, "warnings": warnings,
        "search_space_size": space.size(), "choices": space.choices,
        "derived_from": [{"arch": a, "accuracy": acc, "reward": r} for r, acc, a in scored],
        **_entropy_summary(history, controller),
        "frequencies": _search_frequencies(history),
        "operator_paths": [h["operator_paths"] for h in history],
        "timing": {"shared": round(sum(h.get("seconds_shared", 0.0) for h in history), 2),
                   "controller": round(sum(h.get("seconds_controller", 0.0) for h in history), 2),
                   "derive": round(time.perf_counter() - t_derive, 2)},
        "config": config.to_dict(), "seconds": round(seconds, 2),
    }
    if pretrained is not None:
        result["pretrained"] = pretrained
    if out_dir is not None and ctx.is_main:
        out = Path(out_dir)
        result["arch_file"] = str(_write_json(out / "arch.json", result))
        _write_json(out / "search_history.json", {"epochs": history, "steps": steps})
    return SearchResult(result, history, steps, space, supernet, history[-1]["probabilities"])


__all__ = ["ARCH_KEYS", "PROXY_FIT_SHARE", "NARConfig", "ProxyTask", "SearchResult", "budget", "budget_config", "load_arch", "make_proxy",
           "model_kwargs_for", "proxy_fit", "retrain", "retrain_config", "reward", "search"]
