"""`nivalis refine`: Neural Architecture Refinement (seed 004): search a backbone's operators, retrain the result."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from nivalis.cli.common import JsonOpt, QuietOpt, emit, setup

app = typer.Typer(help="Neural Architecture Refinement: keep a zoo backbone's skips, search which operator each "
                       "block or layer uses (ENAS controller on shared weights), then retrain the found network.",
                  no_args_is_help=True)

DataOpt = Annotated[str, typer.Option(help="digits (embedded), cifar10, svhn or gtsrb.")]
DataDirOpt = Annotated[Path | None, typer.Option(help="Directory holding the data set in its real format.")]


def _human_search(r: dict) -> str:
    ops = " ".join(r["operators"])
    return "\n".join([
        f"{r['backbone']} ({r['granularity']}) on {r['data']}: arch {r['arch']}",
        f"  operators:      {ops}",
        f"  MACs:           {r['macs']:,} vs {r['baseline_macs']:,} original ({-100 * r['flops_reduction']:+.1f}%; "
        "FLOPs = 2 x MACs)",
        f"  params:         {r['params']:,} vs {r['baseline_params']:,} original",
        f"  proxy accuracy: {r['accuracy']:.4f} (original path {r['baseline_accuracy']:.4f}, shared weights)",
        f"  policy entropy: {r['entropy'][0]:.2f} -> {r['entropy'][-1]:.2f} nats over {len(r['entropy'])} epochs "
        f"({-100 * r['entropy_drop']:+.1f}%; uniform {r['entropy_max']:.2f})",
        f"  search time:    {r['seconds']:.0f} s   arch file: {r.get('arch_file', '-')}",
    ])


@app.command()
def search(
    backbone: Annotated[str, typer.Option(help="Zoo backbone: resnet18, resnet34, resnet50, lresnet50e_ir, ...")]
    = "resnet18",
    granularity: Annotated[str, typer.Option(help="block (one operator per residual block) or layer (one per "
                                                  "3x3 conv-bn-relu).")] = "block",
    data: DataOpt = "digits",
    data_dir: DataDirOpt = None,
    out: Annotated[Path | None, typer.Option(help="Output directory [default: runs/refine-BACKBONE-DATA].")] = None,
    quick: Annotated[bool, typer.Option("--quick", help="Small budget: 1 + 9 epochs, one SGDR cycle (a few "
                                                          "minutes here).")] = False,
    epochs: Annotated[int | None, typer.Option(min=1, help="Search epochs after pre-training [full 60, quick 9].")]
    = None,
    pretrain_epochs: Annotated[int | None, typer.Option(min=0, help="Epochs of uniformly random paths before the "
                                                                    "controller samples (-PreTrain) [full 10, quick 1]."
                                                        )] = None,
    controller_steps: Annotated[int | None, typer.Option(min=0, help="Controller updates per epoch [5].")] = None,
    samples_per_update: Annotated[int, typer.Option(min=1, help="Sampled architectures per controller update "
                                                                "(ENAS: 20).")] = 20,
    controller_lr: Annotated[float, typer.Option(min=0.0, help="Controller Adam learning rate (ENAS: 0.001).")]
    = 5e-3,
    sample_floor: Annotated[float, typer.Option(min=0.0, max=0.5, help="Least sampling probability of every "
                                                "operator in the shared-weight phase (0 = sample the policy).")]
    = 0.05,
    derive_finetune_steps: Annotated[int, typer.Option(min=0, help="SGD steps on each derived candidate's path "
                                                       "alone before candidates are compared (0 = none).")] = 20,
    strategy: Annotated[str, typer.Option(help="controller (ENAS REINFORCE) or random (random search, same "
                                               "budget).")] = "controller",
    reward: Annotated[str, typer.Option(help="acc (the seed), acc-flops or acc-latency (accuracy x cost "
                                             "ratio^-0.07).")] = "acc",
    cost_target: Annotated[float, typer.Option(min=0.0, help="Target cost as a ratio of the original's (MnasNet's "
                                               "T) for acc-flops/acc-latency.")] = 1.0,
    cost_exponent_below: Annotated[float | None, typer.Option(help="Exponent at or below the target (MnasNet's "
                                                              "alpha; > 0 penalises cheaper architectures too) "
                                                              "[default: -0.07, as above].")] = None,
    candidates: Annotated[str, typer.Option(help="Operator codes: 0 conv3x3, 1 sep3x3, 2 max3x3, 3 avg3x3, "
                                                 "4 conv5x5, 5 sep5x5.")] = "0,1,2,3",
    param_rule: Annotated[bool, typer.Option("--param-rule/--no-param-rule", help="Only candidates with no more "
                                             "parameters than the original operator (the seed's rule).")] = True,
    width: Annotated[float, typer.Option(min=0.01, help="Channel multiplier of the backbone (1.0 = original).")]
    = 1.0,
    stem: Annotated[str, typer.Option(help="ResNet stem: auto (cifar for inputs <= 64 px), cifar, imagenet.")]
    = "auto",
    proxy_per_class: Annotated[int, typer.Option(min=2, help="Proxy-task images per class (seed: 40).")] = 60,
    proxy_val_per_class: Annotated[int, typer.Option(min=1, help="Of those, proxy-validation images (seed: 4).")]
    = 20,
    augment: Annotated[str, typer.Option(help="Proxy training augmentation: none, shift (pad 4 + random crop, "
                                              "ENAS) or shift+flip.")] = "none",
    seed: Annotated[int, typer.Option(help="Seed of weights, proxy subset and sampling.")] = 0,
    precision: Annotated[str, typer.Option(help="fp32, or bf16 (CPU autocast).")] = "fp32",
    resume: Annotated[bool, typer.Option("--resume", help="Continue from OUT/search.pt.")] = False,
    as_json: JsonOpt = False,
    quiet: QuietOpt = False,
) -> None:
    """Search the operators of a backbone on a class-balanced proxy task; writes OUT/arch.json."""
    setup(quiet)
    from nivalis.nas.search import NARConfig, budget
    from nivalis.nas.search import search as run_search

    preset = budget(quick)
    for key, value in (("epochs", epochs), ("pretrain_epochs", pretrain_epochs),
                       ("controller_steps", controller_steps)):
        if value is not None:
            preset[key] = value
    cfg = NARConfig(backbone=backbone, granularity=granularity, candidates=candidates, param_rule=param_rule,
                    width=width, stem=stem, proxy_per_class=proxy_per_class, proxy_val_per_class=proxy_val_per_class,
                    reward=reward, strategy=strategy, augment=augment, seed=seed, precision=precision,
                    samples_per_update=samples_per_update, controller_lr=controller_lr, sample_floor=sample_floor,
                    derive_finetune_steps=derive_finetune_steps, cost_target=cost_target,
                    cost_exponent_below=cost_exponent_below, **preset)
    out = out or Path("runs") / f"refine-{backbone}-{data}"
    from nivalis.files import prepare_output_dir

    prepare_output_dir(out)  # before the search, not when its first file is written
    result = run_search(cfg, data, data_dir=str(data_dir) if data_dir else None, out_dir=out, resume=resume).result
    result.pop("derived_from", None)
    result.pop("config", None)
    emit(result, as_json, human=_human_search(result))


@app.command()
def retrain(
    arch_file: Annotated[Path, typer.Argument(help="arch.json written by `nivalis refine search`.")],
    data: Annotated[str | None, typer.Option(help="Data set [default: the one searched on].")] = None,
    data_dir: DataDirOpt = None,
    epochs: Annotated[int, typer.Option(min=1, help="Training epochs.")] = 15,
    seed: Annotated[int, typer.Option(help="Seed of weights and shuffling.")] = 0,
    lr: Annotated[float, typer.Option(min=0.0, help="Peak learning rate (SGD, cosine decay).")] = 0.1,
    precision: Annotated[str, typer.Option(help="fp32, or bf16 (CPU autocast).")] = "fp32",
    out: Annotated[Path | None, typer.Option(help="Output directory [default: next to ARCH_FILE, retrain-sSEED].")]
    = None,
    resume: Annotated[bool, typer.Option("--resume", help="Continue from OUT/checkpoint.pt.")] = False,
    as_json: JsonOpt = False,
    quiet: QuietOpt = False,
) -> None:
    """Train a found architecture from scratch on the full training split and test it."""
    setup(quiet)
    from nivalis.nas.search import load_arch, retrain_config
    from nivalis.nas.search import retrain as run_retrain

    spec = load_arch(arch_file)
    cfg = retrain_config(epochs=epochs, seed=seed, lr=lr, precision=precision)
    out = out or arch_file.parent / f"retrain-s{seed}"
    from nivalis.files import prepare_output_dir

    prepare_output_dir(out)
    result = run_retrain(spec, data, data_dir=str(data_dir) if data_dir else None, config=cfg, out_dir=out,
                         resume=resume)
    human = (f"{result['backbone']} arch {result['arch']} on {result['data']}: test accuracy {result['accuracy']:.4f}, "
             f"{result['macs']:,} MACs ({-100 * result['flops_reduction']:+.1f}% vs original), "
             f"{result['params']:,} params, {result['seconds']:.0f} s")
    if "arch_note" in result:
        human += f"\n  note: {result['arch_note']}"
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
