"""`nivalis refine`: Neural Architecture Refinement (seed 004): search a backbone's operators, retrain the result."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from nivalis.cli.common import JsonOpt, QuietOpt, emit, setup

app = typer.Typer(help="Neural Architecture Refinement: keep a zoo backbone's skips, search which operator each "
                       "block or layer uses (ENAS controller on shared weights), then retrain the found network.",
                  no_args_is_help=True)

DataOpt = Annotated[str, typer.Option(help="digits (embedded), cifar10, svhn, gtsrb (with --data-dir), face:DIR "
                                            "(seed 004 §4.1.1's proxy: a folder per identity or RecordIO) or "
                                            "avalanche:DIR (the avalanche window classifier's task on a scene "
                                            "folder with images/ and masks/).")]
DataDirOpt = Annotated[Path | None, typer.Option(help="Directory holding the data set in its real format.")]
ImageSizeOpt = Annotated[int | None, typer.Option(min=3, help="Input side: digits resized [32], face:DIR faces "
                                                              "[112], avalanche:DIR window side [33].")]
IdentitiesOpt = Annotated[int | None, typer.Option(min=2, help="face:DIR: identities in the proxy, each with 40 "
                                                               "images (seed: 4000) [default: every identity "
                                                               "with 40+ images].")]
WindowsOpt = Annotated[int | None, typer.Option(min=16, help="avalanche:DIR: class-balanced training windows "
                                                             "(val and test a quarter each) [2048].")]
QuickOpt = Annotated[bool, typer.Option("--quick", help="Small budget: 1 + 9 epochs, one SGDR cycle.")]
EpochsOpt = Annotated[int | None, typer.Option(min=1, help="Search epochs after pre-training [full 60, quick 9].")]
SamplesOpt = Annotated[int, typer.Option(min=1, help="Sampled architectures per controller update (ENAS: 20).")]
FinetuneOpt = Annotated[int, typer.Option(min=0, help="SGD steps on each derived candidate's path alone before "
                                          "candidates are compared (0 = none).")]
PretrainOpt = Annotated[int | None, typer.Option(min=0, help="Epochs of uniformly random paths before the "
                                                             "controller samples (-PreTrain) [full 10, quick 1].")]
RewardOpt = Annotated[str, typer.Option(help="acc (the seed), acc-flops or acc-latency (accuracy x cost "
                                             "ratio^-0.07).")]
CandidatesOpt = Annotated[str, typer.Option(help="Operator codes: 0 conv3x3, 1 sep3x3, 2 max3x3, 3 avg3x3, "
                                                 "4 conv5x5, 5 sep5x5.")]
ParamRuleOpt = Annotated[bool, typer.Option("--param-rule/--no-param-rule", help="Only candidates with no more "
                                            "parameters than the original operator (the seed's rule).")]
WidthOpt = Annotated[float, typer.Option(min=0.01, help="Channel multiplier of the backbone (1.0 = original).")]
StemOpt = Annotated[str, typer.Option(help="ResNet stem: auto (cifar for inputs <= 64 px), cifar, imagenet.")]
ProxyOpt = Annotated[int | None, typer.Option(min=2, help="Proxy-task images per class (seed: 40) [60; face:DIR "
                                                          "36, all its training images].")]
ProxyValOpt = Annotated[int | None, typer.Option(min=1, help="Of those, proxy-validation images (seed: 4) [20; "
                                                             "face:DIR 4].")]
AugmentOpt = Annotated[str, typer.Option(help="Proxy training augmentation: none, shift (pad 4 + random crop, "
                                              "ENAS) or shift+flip.")]
PrecisionOpt = Annotated[str, typer.Option(help="fp32, or bf16 (CPU autocast).")]
RetrainEpochsOpt = Annotated[int, typer.Option(min=1, help="Epochs of each retraining from scratch.")]
BackboneOpt = Annotated[str, typer.Option(help="Zoo backbone: resnet18, resnet34, resnet50, lresnet50e_ir, ...")]
GranularityOpt = Annotated[str, typer.Option(help="block (one operator per residual block) or layer (one per "
                                                  "3x3 conv-bn-relu).")]


def _human_search(r: dict) -> str:
    ops = " ".join(r["operators"])
    lines = [
        f"{r['backbone']} ({r['granularity']}) on {r['data']}: arch {r['arch']}",
        f"  operators:      {ops}",
        f"  MACs:           {r['macs']:,} vs {r['baseline_macs']:,} original ({-100 * r['flops_reduction']:+.1f}%; "
        "FLOPs = 2 x MACs)",
        f"  params:         {r['params']:,} vs {r['baseline_params']:,} original",
        f"  proxy accuracy: {r['accuracy']:.4f} (original path {r['baseline_accuracy']:.4f}, shared weights)",
        f"  policy entropy: {r['entropy'][0]:.2f} -> {r['entropy'][-1]:.2f} nats over {len(r['entropy'])} epochs "
        f"({-100 * r['entropy_drop']:+.1f}%; uniform {r['entropy_max']:.2f})",
        f"  search time:    {r['seconds']:.0f} s   arch file: {r.get('arch_file', '-')}",
    ]
    if r.get("data_note"):
        lines.append(f"  data:           {r['data_note']}")
    if r.get("pretrained"):
        p = r["pretrained"]
        lines.append(f"  started from:   {p['file']} ({p['source']} names, {p['tensors']} tensors"
                     + (f"; {p['note']}" if p.get("note") else "") + ")")
    if "retrain" in r:
        lines += _human_retrain(r["retrain"])
    return "\n".join(lines)


def _human_retrain(t: dict) -> list[str]:
    from nivalis.experiments.nar import format_mean_std, format_paired

    lines = [f"  retrained from scratch, {t['seeds']} seed(s) x {t['epochs']} epochs, on {t['train_images']:,} "
             f"training images; test accuracy on {t['test_images']:,} held-out test images:"]
    for row in t["rows"]:
        lines.append(f"    {row['role']:<9} {str(row['arch']):<26} {row['macs']:>12,} MACs "
                     f"({-100 * row['flops_reduction'] + 0.0:+.1f}%)  {format_mean_std(row['acc_mean'], row['acc_std'])}")
    for name, comp in t["paired"].items():
        lines.append(f"  {name.replace('_minus_', ' - '):<17} {format_paired(comp)}")
    lines.append(f"  (test: {t['paired_test']})")
    return lines


def _retrain_part(cmp: dict) -> dict:
    """`refine_and_compare`'s retraining, roles named as `refine search` shows them (controller = found)."""
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


def _config(backbone, granularity, candidates, param_rule, width, stem, proxy_per_class, proxy_val_per_class,
            reward, strategy, augment, seed, precision, data, quick, epochs, pretrain_epochs, controller_steps,
            **extra):
    from nivalis.experiments.nar_data import data_kind, face_proxy_split
    from nivalis.nas.search import NARConfig, budget

    proxy = face_proxy_split() if data_kind(data) == "face" else {"proxy_per_class": 60, "proxy_val_per_class": 20}
    if proxy_per_class is not None:
        proxy["proxy_per_class"] = proxy_per_class
    if proxy_val_per_class is not None:
        proxy["proxy_val_per_class"] = proxy_val_per_class
    preset = budget(quick)
    for key, value in (("epochs", epochs), ("pretrain_epochs", pretrain_epochs),
                       ("controller_steps", controller_steps)):
        if value is not None:
            preset[key] = value
    return NARConfig(backbone=backbone, granularity=granularity, candidates=candidates, param_rule=param_rule,
                     width=width, stem=stem, reward=reward, strategy=strategy, augment=augment, seed=seed,
                     precision=precision, **proxy, **preset, **extra)


@app.command()
def search(
    backbone: BackboneOpt = "resnet18",
    pretrained: Annotated[Path | None, typer.Option(
        help="Start the supernet from trained backbone weights: torchvision .pth, timm .pth/.safetensors or a "
             "nivalis checkpoint of BACKBONE (local file; each slot's conv 3x3 candidate gets the file's 3x3 "
             "weights, the other candidates start fresh).")] = None,
    granularity: GranularityOpt = "block",
    data: DataOpt = "digits",
    data_dir: DataDirOpt = None,
    image_size: ImageSizeOpt = None,
    identities: IdentitiesOpt = None,
    windows: WindowsOpt = None,
    out: Annotated[Path | None, typer.Option(help="Output directory [default: runs/refine-BACKBONE-DATA].")] = None,
    quick: QuickOpt = False,
    epochs: EpochsOpt = None,
    pretrain_epochs: PretrainOpt = None,
    controller_steps: Annotated[int | None, typer.Option(min=0, help="Controller updates per epoch [5].")] = None,
    samples_per_update: SamplesOpt = 20,
    controller_lr: Annotated[float, typer.Option(min=0.0, help="Controller Adam learning rate (ENAS: 0.001).")]
    = 5e-3,
    sample_floor: Annotated[float, typer.Option(min=0.0, max=0.5, help="Least sampling probability of every "
                                                "operator in the shared-weight phase (0 = sample the policy).")]
    = 0.05,
    derive_finetune_steps: FinetuneOpt = 20,
    strategy: Annotated[str, typer.Option(help="controller (ENAS REINFORCE) or random (random search, same "
                                               "budget).")] = "controller",
    reward: RewardOpt = "acc",
    cost_target: Annotated[float, typer.Option(min=0.0, help="Target cost as a ratio of the original's (MnasNet's "
                                               "T) for acc-flops/acc-latency.")] = 1.0,
    cost_exponent_below: Annotated[float | None, typer.Option(help="Exponent at or below the target (MnasNet's "
                                                              "alpha; > 0 penalises cheaper architectures too) "
                                                              "[default: -0.07, as above].")] = None,
    candidates: CandidatesOpt = "0,1,2,3",
    param_rule: ParamRuleOpt = True,
    width: WidthOpt = 1.0,
    stem: StemOpt = "auto",
    proxy_per_class: ProxyOpt = None,
    proxy_val_per_class: ProxyValOpt = None,
    augment: AugmentOpt = "none",
    seed: Annotated[int, typer.Option(help="Seed of weights, proxy subset and sampling.")] = 0,
    seeds: Annotated[int, typer.Option(min=1, help="Searches with seeds SEED..SEED+N-1 (each in OUT/seed-S when N "
                                                   "> 1), then a summary of what they found.")] = 1,
    retrain_seeds: Annotated[int, typer.Option(min=0, help="After each search, retrain the found, the original "
                                                           "(all conv3x3) and a random search's architecture (same "
                                                           "budget) with seeds 0..K-1 and test them on the test "
                                                           "split: mean ± std and a paired comparison.")] = 0,
    retrain_epochs: RetrainEpochsOpt = 15,
    precision: PrecisionOpt = "fp32",
    resume: Annotated[bool, typer.Option("--resume", help="Continue from OUT/search.pt.")] = False,
    as_json: JsonOpt = False,
    quiet: QuietOpt = False,
) -> None:
    """Search the operators of a backbone on a class-balanced proxy task; writes OUT/arch.json."""
    setup(quiet)
    from dataclasses import replace

    from nivalis.errors import UserError
    from nivalis.experiments.nar_data import data_slug, record_data_options, resolve_data
    from nivalis.files import prepare_output_dir
    from nivalis.nas.search import search as run_search

    cfg = _config(backbone, granularity, candidates, param_rule, width, stem, proxy_per_class, proxy_val_per_class,
                  reward, strategy, augment, seed, precision, data, quick, epochs, pretrain_epochs, controller_steps,
                  samples_per_update=samples_per_update, controller_lr=controller_lr, sample_floor=sample_floor,
                  derive_finetune_steps=derive_finetune_steps, cost_target=cost_target,
                  cost_exponent_below=cost_exponent_below)
    if pretrained is not None:
        if not pretrained.is_file():
            raise UserError(f"weights file not found: {pretrained} (nivalis downloads nothing)")
        cfg = replace(cfg, pretrained=str(pretrained))
    if retrain_seeds and cfg.strategy != "controller":
        raise UserError("--retrain-seeds compares the controller's find with a random search at the same budget: "
                        "drop --strategy random")
    out = out or Path("runs") / f"refine-{backbone}-{data_slug(data)}"
    prepare_output_dir(out)  # before the search, not when its first file is written
    resolved = resolve_data(data, data_dir, image_size=image_size, identities=identities, windows=windows)
    results = []
    for s in range(seed, seed + seeds):
        out_s = out if seeds == 1 else out / f"seed-{s}"
        cfg_s = replace(cfg, seed=s)
        run = run_search(cfg_s, resolved.data, out_dir=out_s, resume=resume,
                         desc="refine" if seeds == 1 else f"refine s{s}")
        result = dict(run.result)
        result.pop("derived_from", None)
        result.pop("config", None)
        if resolved.options:
            result["data_options"] = resolved.options
        if resolved.note:
            result["data_note"] = resolved.note
        if "arch_file" in result:
            record_data_options(result["arch_file"], resolved)
        if retrain_seeds:
            from nivalis.experiments.nar import refine_and_compare

            cmp = refine_and_compare(cfg_s, resolved.data, seeds=retrain_seeds, retrain_epochs=retrain_epochs,
                                     out_dir=out_s, found=run, desc="refine" if seeds == 1 else f"refine s{s}")
            random_file = cmp["searches"]["random"].get("arch_file")
            if random_file:
                record_data_options(random_file, resolved)
            result["retrain"] = _retrain_part(cmp)
        results.append(result)
    if seeds == 1:
        emit(results[0], as_json, human=_human_search(results[0]))
        return
    from nivalis.experiments.nar import search_summary

    for s, r in zip(range(seed, seed + seeds), results):
        r["seed"] = s
    summary = search_summary(results)
    emit({"runs": results, "summary": summary}, as_json, human=_human_seeds(results, summary))


def _human_seeds(results: list[dict], summary: dict) -> str:
    from nivalis.experiments.nar import format_mean_std, format_paired

    r0 = results[0]
    lines = [f"{r0['backbone']} ({r0['granularity']}) on {r0['data']}: {len(results)} searches"]
    for r in results:
        line = (f"  seed {r['seed']:<3} arch {str(r['arch']):<26} MACs {-100 * r['flops_reduction'] + 0.0:+.1f}%  "
                f"proxy acc {r['accuracy']:.4f}")
        if "retrain" in r:
            by = {row["role"]: row for row in r["retrain"]["rows"]}
            line += "  test " + ", ".join(f"{k} {format_mean_std(v['acc_mean'], v['acc_std'])}" for k, v in by.items())
        lines.append(line)
    lines.append("  found architectures: " + "; ".join(f"{a['arch']} x{a['count']}" for a in summary["architectures"]))
    lines.append("  operators per slot:")
    for d, counts in enumerate(summary["operators_per_slot"]):
        lines.append(f"    {d:>3} " + ", ".join(f"{op} {n}" for op, n in counts.items()))
    red = summary["flops_reduction_std"]
    lines.append(f"  MACs reduction: {format_mean_std(100 * summary['flops_reduction_mean'], None if red is None else 100 * red, '.1f')}%"
                 f" (mean over searches); proxy accuracy "
                 f"{format_mean_std(summary['proxy_accuracy_mean'], summary['proxy_accuracy_std'])}")
    if "retrain" in summary:
        t = summary["retrain"]
        for name, comp in t["paired"].items():
            lines.append(f"  {name.replace('_minus_', ' - '):<17} {format_paired(comp)} ({t['paired_note']})")
    return "\n".join(lines)


ABLATION_COLUMNS = ("variant", "pretrain", "strategy", "arch", "proxy_accuracy", "test_acc_mean", "test_acc_std",
                    "macs", "macs_reduction", "params", "vs_original_mean_pt", "vs_original_t", "shared_epochs",
                    "children", "search_seconds")


def _ablation_csv(rows: list[dict]) -> str:
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


def _human_ablation(res: dict) -> str:
    from nivalis.experiments.nar import format_mean_std, format_paired

    head = (f"{'variant':<24} {'arch':<26} {'proxy acc':>9}  {'test acc (' + str(res['seeds']) + ' seed(s))':<18} "
            f"{'MACs':>8} {'epochs':>6} {'children':>8}")
    lines = [f"ablation on {res['data']}: {res['train_images']:,} training / {res['test_images']:,} test images, "
             f"retrained {res['retrain_epochs']} epochs per seed", head]
    for r in res["rows"]:
        lines.append(f"{r['variant']:<24} {str(r['arch']):<26} {r['proxy_accuracy']:>9.4f}  "
                     f"{format_mean_std(r['test_acc_mean'], r['test_acc_std']):<18} "
                     f"{-100 * r['macs_reduction'] + 0.0:>+7.1f}% {r['shared_epochs']:>6} {r['children']:>8}")
    o = res["original"]
    lines.append(f"{'original (retrained)':<24} {str(o['arch']):<26} {'':>9}  "
                 f"{format_mean_std(o['acc_mean'], o['acc_std']):<18} {0.0:>+7.1f}%")
    lines.append("test accuracy minus the original's, paired by retraining seed:")
    lines += [f"  {r['variant']:<22} {format_paired(r['vs_original'])}" for r in res["rows"]]
    lines.append(f"(test: {res['paired_test']})")
    if res.get("files"):
        lines.append(f"files: {', '.join(res['files'])}")
    return "\n".join(lines)


@app.command()
def ablate(
    backbone: BackboneOpt = "resnet18",
    granularity: GranularityOpt = "block",
    data: DataOpt = "digits",
    data_dir: DataDirOpt = None,
    image_size: ImageSizeOpt = None,
    identities: IdentitiesOpt = None,
    windows: WindowsOpt = None,
    out: Annotated[Path | None, typer.Option(help="Output directory [default: runs/ablate-BACKBONE-DATA].")] = None,
    quick: QuickOpt = False,
    epochs: EpochsOpt = None,
    pretrain_epochs: PretrainOpt = None,
    controller_steps: Annotated[int | None, typer.Option(min=1, help="Controller updates per search epoch with "
                                                                     "PreTrain; without it the same total is "
                                                                     "spread over all epochs [the budget's 10, or "
                                                                     "the nearest count that divides evenly].")]
    = None,
    reward: RewardOpt = "acc",
    candidates: CandidatesOpt = "0,1,2,3",
    param_rule: ParamRuleOpt = True,
    width: WidthOpt = 1.0,
    stem: StemOpt = "auto",
    proxy_per_class: ProxyOpt = None,
    proxy_val_per_class: ProxyValOpt = None,
    augment: AugmentOpt = "none",
    seed: Annotated[int, typer.Option(help="Seed of the four searches.")] = 0,
    samples_per_update: SamplesOpt = 20,
    derive_finetune_steps: FinetuneOpt = 20,
    retrain_seeds: Annotated[int, typer.Option(min=1, help="Retrainings (seeds 0..K-1) of each found architecture "
                                                           "and of the original.")] = 2,
    retrain_epochs: RetrainEpochsOpt = 15,
    precision: PrecisionOpt = "fp32",
    as_json: JsonOpt = False,
    quiet: QuietOpt = False,
) -> None:
    """PreTrain on/off x controller vs random search at equal budget, each find retrained: OUT/ablation.csv|json."""
    setup(quiet)
    import json

    from nivalis.errors import UserError
    from nivalis.experiments.nar import ablate as run_ablate
    from nivalis.experiments.nar import equal_budget_steps
    from nivalis.experiments.nar_data import data_slug, record_data_options, resolve_data
    from nivalis.files import atomic_write_text, prepare_output_dir
    from nivalis.nas.search import budget

    if controller_steps is None:
        preset = budget(quick)
        p = preset["pretrain_epochs"] if pretrain_epochs is None else pretrain_epochs
        e = preset["epochs"] if epochs is None else epochs
        if p < 1:
            raise UserError("ablate compares PreTrain on and off: --pretrain-epochs must be at least 1")
        controller_steps = equal_budget_steps(p, e, preset["controller_steps"])
        if controller_steps is None:
            raise UserError(f"no controller-steps count near {preset['controller_steps']} spreads evenly over "
                            f"{p} + {e} epochs; choose --epochs and --controller-steps")
    cfg = _config(backbone, granularity, candidates, param_rule, width, stem, proxy_per_class, proxy_val_per_class,
                  reward, "controller", augment, seed, precision, data, quick, epochs, pretrain_epochs,
                  controller_steps, samples_per_update=samples_per_update,
                  derive_finetune_steps=derive_finetune_steps)
    from nivalis.experiments.nar import ablation_configs

    ablation_configs(cfg)  # the budget check, before any data is read
    out = out or Path("runs") / f"ablate-{backbone}-{data_slug(data)}"
    prepare_output_dir(out)
    resolved = resolve_data(data, data_dir, image_size=image_size, identities=identities, windows=windows)
    res = run_ablate(cfg, resolved.data, seeds=retrain_seeds, retrain_epochs=retrain_epochs, out_dir=out)
    for r in res["rows"]:
        arch_file = out / f"search-{r['variant']}" / "arch.json"
        if arch_file.is_file():
            record_data_options(arch_file, resolved)
    if resolved.note:
        res["data_note"] = resolved.note
    res["data_options"] = resolved.options
    csv_file = atomic_write_text(out / "ablation.csv", _ablation_csv(res["rows"]))
    res["files"] = [str(csv_file), str(out / "ablation.json")]
    atomic_write_text(out / "ablation.json", json.dumps(res, indent=2))
    emit(res, as_json, human=_human_ablation(res))


@app.command()
def retrain(
    arch_file: Annotated[Path, typer.Argument(help="arch.json written by `nivalis refine search`.")],
    data: Annotated[str | None, typer.Option(help="Data spec [default: the one searched on, with its recorded "
                                                  "options].")] = None,
    data_dir: DataDirOpt = None,
    image_size: ImageSizeOpt = None,
    identities: IdentitiesOpt = None,
    windows: WindowsOpt = None,
    epochs: Annotated[int, typer.Option(min=1, help="Training epochs.")] = 15,
    seed: Annotated[int, typer.Option(help="Seed of weights and shuffling.")] = 0,
    lr: Annotated[float, typer.Option(min=0.0, help="Peak learning rate (SGD, cosine decay).")] = 0.1,
    precision: PrecisionOpt = "fp32",
    out: Annotated[Path | None, typer.Option(help="Output directory [default: next to ARCH_FILE, retrain-sSEED].")]
    = None,
    resume: Annotated[bool, typer.Option("--resume", help="Continue from OUT/checkpoint.pt.")] = False,
    as_json: JsonOpt = False,
    quiet: QuietOpt = False,
) -> None:
    """Train a found architecture from scratch on the full training split and test it."""
    setup(quiet)
    from nivalis.experiments.nar_data import data_kind, resolve_data
    from nivalis.nas.search import load_arch, retrain_config
    from nivalis.nas.search import retrain as run_retrain

    spec = load_arch(arch_file)
    searched = spec.get("data", "digits")
    spec_data = data or searched
    data_kind(spec_data)
    recorded = spec.get("data_options", {}) if spec_data == searched else {}
    options = {k: v for k, v in recorded.items() if k in ("image_size", "identities", "windows")}
    for key, value in (("image_size", image_size), ("identities", identities), ("windows", windows)):
        if value is not None:
            options[key] = value
    cfg = retrain_config(epochs=epochs, seed=seed, lr=lr, precision=precision)
    out = out or arch_file.parent / f"retrain-s{seed}"
    from nivalis.files import prepare_output_dir

    prepare_output_dir(out)
    resolved = resolve_data(spec_data, data_dir, **options)
    result = run_retrain(spec, resolved.data, config=cfg, out_dir=out, resume=resume)
    human = (f"{result['backbone']} arch {result['arch']} on {result['data']}: test accuracy {result['accuracy']:.4f}, "
             f"{result['macs']:,} MACs ({-100 * result['flops_reduction']:+.1f}% vs original), "
             f"{result['params']:,} params, {result['seconds']:.0f} s")
    if "arch_note" in result:
        human += f"\n  note: {result['arch_note']}"
    if resolved.note:
        result["data_note"] = resolved.note
        human += f"\n  data: {resolved.note}"
    emit(result, as_json, human=human)


@app.command()
def space(
    backbone: Annotated[str, typer.Option(help="Zoo backbone.")] = "resnet18",
    granularity: Annotated[str, typer.Option(help="block or layer.")] = "block",
    input: Annotated[str, typer.Option("--input", help="Input shape CxHxW.")] = "3x32x32",
    candidates: Annotated[str, typer.Option(help="Operator codes to consider.")] = "0,1,2,3",
    param_rule: Annotated[bool, typer.Option("--param-rule/--no-param-rule")] = True,
    width: Annotated[float, typer.Option(min=0.01, help="Channel multiplier.")] = 1.0,
    stem: Annotated[str, typer.Option(help="auto, cifar or imagenet (ResNets).")] = "auto",
    classes: Annotated[int, typer.Option(min=1, help="Classifier outputs (1000 for the seed's ImageNet counts).")]
    = 10,
    arch: Annotated[str | None, typer.Option(help="Also count this architecture, codes such as 1,0,0,0,0,0,0; one "
                                                  "code short is the seed's printing (the last keeps conv3x3).")]
    = None,
    as_json: JsonOpt = False,
) -> None:
    """Show a backbone's search space: slots, allowed operators, MACs of each choice (FLOPs = 2 x MACs)."""
    from nivalis.errors import UserError
    from nivalis.nas.operators import OPERATOR_NAMES, SHORT_VECTOR_RULE
    from nivalis.nas.search import NARConfig, model_kwargs_for
    from nivalis.nas.space import SearchSpace
    from nivalis.profile import parse_input_shape

    shape = parse_input_shape(input)
    cfg = NARConfig(backbone=backbone, granularity=granularity, candidates=candidates, width=width, stem=stem)
    sp = SearchSpace(backbone, granularity, input_shape=shape, num_classes=classes,
                     model_kwargs=model_kwargs_for(cfg, shape), candidates=cfg.candidates, param_rule=param_rule)
    base = sp.cost(sp.baseline(), "flops")
    rows = []
    for d, (slots, choices) in enumerate(zip(sp.decisions, sp.choices)):
        names = [sp.slots[i].name for i in slots]
        flops = {}
        for code in choices:
            alt = sp.baseline()
            alt[d] = code
            flops[OPERATOR_NAMES[code]] = int(sp.cost(alt, "flops") - base)
        rows.append({"decision": d, "slots": names, "choices": choices,
                     "macs_change": {k: v // 2 for k, v in flops.items()}, "flops_change": flops})
    result = {**sp.describe(), "num_classes": classes, "baseline_macs": int(base) // 2, "baseline_flops": int(base),
              "baseline_params": int(sp.cost(sp.baseline(), "params")), "short_vector_rule": SHORT_VECTOR_RULE,
              "rows": rows}
    lines = [f"{backbone} ({granularity}) at {input}: {sp.num_decisions} decisions over {len(sp.slots)} slots, "
             f"{sp.size():,} architectures; original {int(base) // 2:,} MACs"]
    for r in rows:
        change = ", ".join(f"{k} {v / base:+.1%}" for k, v in r["flops_change"].items() if k != "conv3x3")
        lines.append(f"  {r['decision']:>3} {'+'.join(r['slots']):<34} {change}")
    if arch is not None:
        try:
            given = [int(t) for t in arch.replace(" ", "").strip("[]").split(",") if t]
        except ValueError:
            raise UserError(f"bad --arch {arch!r}: expected codes such as 1,0,0,0,0,0,0") from None
        full, note = sp.complete(given)
        # any code may be counted here (the parameter rule restricts the search, not what is measured)
        free = SearchSpace(backbone, granularity, input_shape=shape, num_classes=classes,
                           model_kwargs=model_kwargs_for(cfg, shape), candidates=range(len(OPERATOR_NAMES)),
                           param_rule=False)
        flops = int(free.cost(full, "flops"))
        result["arch"] = {"given": given, "arch": full, "operators": [OPERATOR_NAMES[c] for c in full],
                          "macs": flops // 2, "flops": flops, "params": int(free.cost(full, "params")),
                          "note": note}
        lines.append(f"  arch {full}: {flops // 2:,} MACs, {result['arch']['params']:,} params"
                     + (f" ({note})" if note else ""))
    emit(result, as_json, human="\n".join(lines))
