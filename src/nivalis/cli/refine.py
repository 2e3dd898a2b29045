"""`nivalis refine`: Neural Architecture Refinement (seed 004): search a backbone's operators, retrain the result."""

from __future__ import annotations

import inspect
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any

import typer

from nivalis.cli.common import JsonOpt, QuietOpt, emit, setup, warn

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
PrecisionOpt = Annotated[str, typer.Option(help="fp32, or bf16 (CPU autocast).")]
RetrainEpochsOpt = Annotated[int, typer.Option(min=1, help="Epochs of each retraining from scratch.")]

#: the options of `search` and `ablate` as (annotation, default), each declared once; a command names those it takes
SEARCH_OPTIONS: dict[str, tuple[Any, Any]] = {
    "backbone": (Annotated[str, typer.Option(help="Zoo backbone: resnet18, resnet34, resnet50, lresnet50e_ir, ...")],
                 "resnet18"),
    "pretrained": (Annotated[Path | None, typer.Option(
        help="Start the supernet from trained backbone weights: torchvision .pth, timm .pth/.safetensors or a "
             "nivalis checkpoint of BACKBONE (local file; each slot's conv 3x3 candidate gets the file's 3x3 "
             "weights, the other candidates start fresh).")], None),
    "granularity": (Annotated[str, typer.Option(help="block (one operator per residual block) or layer (one per "
                                                     "3x3 conv-bn-relu).")], "block"),
    "data": (DataOpt, "digits"),
    "data_dir": (DataDirOpt, None),
    "image_size": (ImageSizeOpt, None),
    "identities": (IdentitiesOpt, None),
    "windows": (WindowsOpt, None),
    "quick": (Annotated[bool, typer.Option("--quick", help="Small budget: 1 + 9 epochs, one SGDR cycle, width 0.5 "
                                                        "and 10 derive fine-tune steps unless given.")], False),
    "epochs": (Annotated[int | None, typer.Option(min=1, help="Search epochs after pre-training [full 60, quick "
                                                              "9].")], None),
    "pretrain_epochs": (Annotated[int | None, typer.Option(min=0, help="Epochs of uniformly random paths before "
                                                                       "the controller samples (-PreTrain) [full "
                                                                       "10, quick 1].")], None),
    "samples_per_update": (Annotated[int, typer.Option(min=1, help="Sampled architectures per controller update "
                                                                   "(ENAS: 20).")], 20),
    "controller_lr": (Annotated[float, typer.Option(min=0.0, help="Controller Adam learning rate (ENAS: 0.001).")],
                      5e-3),
    "sample_floor": (Annotated[float, typer.Option(min=0.0, max=0.5, help="Least sampling probability of every "
                                                   "operator in the shared-weight phase (0 = sample the "
                                                   "policy).")], 0.05),
    "derive_finetune_steps": (Annotated[int | None, typer.Option(min=0, help="SGD steps on each derived candidate's "
                                                                 "path alone before candidates are compared (0 = "
                                                                 "none) [20; quick 10].")], None),
    "fair_sampling": (Annotated[bool, typer.Option("--fair-sampling/--no-fair-sampling", help="Shared-weight "
                                                   "steps on strictly fair paths (FairNAS), else on the policy's "
                                                   "paths with --sample-floor.")], True),
    "normalize_reward": (Annotated[bool, typer.Option("--normalize-reward/--no-normalize-reward", help="Divide "
                                                      "advantages by the update's reward spread.")], True),
    "strategy": (Annotated[str, typer.Option(help="controller (ENAS REINFORCE) or random (random search, same "
                                                  "budget).")], "controller"),
    "reward": (Annotated[str, typer.Option(help="acc (the seed), acc-flops or acc-latency (accuracy x cost "
                                                "ratio^-0.07).")], "acc"),
    "cost_target": (Annotated[float, typer.Option(min=0.0, help="Target cost as a ratio of the original's "
                                                  "(MnasNet's T) for acc-flops/acc-latency.")], 1.0),
    "cost_exponent_below": (Annotated[float | None, typer.Option(help="Exponent at or below the target (MnasNet's "
                                                                 "alpha; > 0 penalises cheaper architectures "
                                                                 "too) [default: -0.07, as above].")], None),
    "candidates": (Annotated[str, typer.Option(help="Operator codes: 0 conv3x3, 1 sep3x3, 2 max3x3, 3 avg3x3, "
                                                    "4 conv5x5, 5 sep5x5.")], "0,1,2,3"),
    "param_rule": (Annotated[bool, typer.Option("--param-rule/--no-param-rule", help="Only candidates with no more "
                                                "parameters than the original operator (the seed's rule).")], True),
    "width": (Annotated[float | None, typer.Option(min=0.01, help="Channel multiplier of the backbone (1.0 = "
                                                                  "original) [1.0; quick 0.5].")], None),
    "stem": (Annotated[str, typer.Option(help="ResNet stem: auto (cifar for inputs <= 64 px), cifar, imagenet.")],
             "auto"),
    "proxy_per_class": (Annotated[int | None, typer.Option(min=2, help="Proxy-task images per class (seed: 40) [60; "
                                                           "face:DIR 36, all its training images].")], None),
    "proxy_val_per_class": (Annotated[int | None, typer.Option(min=1, help="Of those, proxy-validation images (seed: "
                                                               "4) [20; face:DIR 4].")], None),
    "augment": (Annotated[str, typer.Option(help="Proxy training augmentation: none, shift (pad 4 + random crop, "
                                                 "ENAS) or shift+flip.")], "none"),
    "seeds": (Annotated[int, typer.Option(min=1, help="Searches with seeds SEED..SEED+N-1 (each in OUT/seed-S when "
                                                      "N > 1), then a summary of what they found.")], 1),
    "retrain_epochs": (RetrainEpochsOpt, 15),
    "precision": (PrecisionOpt, "fp32"),
    "resume": (Annotated[bool, typer.Option("--resume", help="Continue from OUT/search.pt.")], False),
}


def _options(names: str, **own: tuple[Any, Any]) -> Callable[[Callable[..., None]], Callable[..., None]]:
    """Typer reads a command's options from its signature: give the command `SEARCH_OPTIONS` named in `names`, in
    that order (an `own` entry of the same name, with the command's own help, replaces the shared one), then
    --json and --quiet; the command receives them as keywords."""
    table = {**SEARCH_OPTIONS, **own, "as_json": (JsonOpt, False), "quiet": (QuietOpt, False)}

    def declare(command: Callable[..., None]) -> Callable[..., None]:
        command.__signature__ = inspect.Signature(  # type: ignore[attr-defined]
            [inspect.Parameter(name, inspect.Parameter.KEYWORD_ONLY, annotation=table[name][0],
                               default=table[name][1]) for name in [*names.split(), "as_json", "quiet"]])
        return command
    return declare


@app.command()
@_options("backbone pretrained granularity data data_dir image_size identities windows out quick epochs "
          "pretrain_epochs controller_steps samples_per_update controller_lr sample_floor fair_sampling "
          "normalize_reward derive_finetune_steps strategy reward cost_target cost_exponent_below candidates "
          "param_rule width stem proxy_per_class proxy_val_per_class augment seed seeds retrain_seeds retrain_epochs precision resume",
          out=(Annotated[Path | None, typer.Option(help="Output directory [default: "
                                                        "runs/refine-BACKBONE-DATA].")], None),
          controller_steps=(Annotated[int | None, typer.Option(min=0, help="Controller updates per epoch [5].")],
                            None),
          seed=(Annotated[int, typer.Option(help="Seed of weights, proxy subset and sampling.")], 0),
          retrain_seeds=(Annotated[int, typer.Option(min=0, help="After each search, retrain the found, the "
                                                     "original (all conv3x3) and a random search's architecture "
                                                     "(same budget) with seeds 0..K-1 and test them on the test "
                                                     "split: mean ± std and a paired comparison.")], 0))
def search(as_json: bool = False, quiet: bool = False, **options: Any) -> None:
    """Search the operators of a backbone on a class-balanced proxy task; writes OUT/arch.json."""
    setup(quiet)
    from nivalis.experiments.nar_runs import refine_search, search_text, search_warnings

    result = refine_search(**options)
    for line in search_warnings(result):
        warn(line)
    emit(result, as_json, human=search_text(result))


@app.command()
@_options("backbone granularity data data_dir image_size identities windows out quick epochs pretrain_epochs "
          "controller_steps reward candidates param_rule width stem proxy_per_class proxy_val_per_class augment seed "
          "samples_per_update derive_finetune_steps retrain_seeds retrain_epochs precision",
          out=(Annotated[Path | None, typer.Option(help="Output directory [default: "
                                                        "runs/ablate-BACKBONE-DATA].")], None),
          controller_steps=(Annotated[int | None, typer.Option(min=1, help="Controller updates per search epoch "
                                                               "with PreTrain; without it the same total is spread "
                                                               "over all epochs [the budget's 10, or the nearest "
                                                               "count that divides evenly].")], None),
          seed=(Annotated[int, typer.Option(help="Seed of the four searches.")], 0),
          retrain_seeds=(Annotated[int, typer.Option(min=1, help="Retrainings (seeds 0..K-1) of each found "
                                                     "architecture and of the original.")], 2))
def ablate(as_json: bool = False, quiet: bool = False, **options: Any) -> None:
    """PreTrain on/off x controller vs random search at equal budget, each find retrained: OUT/ablation.csv|json."""
    setup(quiet)
    from nivalis.experiments.nar_runs import ablation_study, ablation_text

    res = ablation_study(**options)
    emit(res, as_json, human=ablation_text(res))


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
    from nivalis.experiments.nar_runs import retrain_arch_file, retrain_text

    result = retrain_arch_file(arch_file, data, data_dir, image_size=image_size, identities=identities,
                               windows=windows, epochs=epochs, seed=seed, lr=lr, precision=precision, out=out,
                               resume=resume)
    emit(result, as_json, human=retrain_text(result))


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
    from nivalis.nas.cost_table import space_costs, space_costs_text

    result = space_costs(backbone, granularity, input, candidates=candidates, param_rule=param_rule, width=width,
                         stem=stem, num_classes=classes, arch=arch)
    emit(result, as_json, human=space_costs_text(result, input))
