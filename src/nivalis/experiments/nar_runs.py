"""NAR runs from a `--data` spec to their files, as `nivalis refine` makes them, and the summaries it prints.

`refine_search` (one search per seed, optionally each retrained against the original and a random search),
`ablation_study` (`nivalis.experiments.nar.ablate` with `ablation.csv` and `ablation.json`) and
`retrain_arch_file` (an `arch.json` retrained on the data it was searched on) take the data spec and the
search settings the CLI takes (`search_config`: the CLI's budget, seed 004's proxy split on `face:DIR`)
and record in every `arch.json` the data options that rebuild its data (`nivalis.experiments.nar_data`).
The `*_text` functions are the readable summaries the CLI prints without `--json`.
"""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path
from typing import Any

from nivalis.errors import UserError
from nivalis.experiments.nar import (
    ablate,
    ablation_configs,
    ablation_csv,
    equal_budget_steps,
    format_mean_std,
    format_paired,
    found_comparison,
    refine_and_compare,
    search_summary,
)
from nivalis.experiments.nar_data import data_kind, data_slug, face_proxy_split, record_data_options, resolve_data
from nivalis.files import atomic_write_text, prepare_output_dir
from nivalis.nas.config import QUICK_DIGITS_SIZE, NARConfig, budget, budget_config
from nivalis.nas.retrain import load_arch, retrain, retrain_config
from nivalis.nas.search import search


def search_config(data: str = "digits", *, quick: bool = False, proxy_per_class: int | None = None,
                  proxy_val_per_class: int | None = None, **settings: Any) -> NARConfig:
    """`budget_config` for a data spec: on `face:DIR` the proxy is seed 004's split of each identity's 36 training
    images (`face_proxy_split`) unless `proxy_per_class` / `proxy_val_per_class` say otherwise."""
    proxy = face_proxy_split() if data_kind(data) == "face" else {}
    if proxy_per_class is not None:
        proxy["proxy_per_class"] = proxy_per_class
    if proxy_val_per_class is not None:
        proxy["proxy_val_per_class"] = proxy_val_per_class
    return budget_config(quick, **proxy, **settings)


def refine_search(data: str = "digits", data_dir: str | Path | None = None, *, out: str | Path | None = None,
                  seeds: int = 1, retrain_seeds: int = 0, retrain_epochs: int = 15, resume: bool = False,
                  pretrained: str | Path | None = None, image_size: int | None = None, identities: int | None = None,
                  windows: int | None = None, **settings: Any) -> dict[str, Any]:
    """Search with seeds `seed`..`seed`+`seeds`-1 (`settings` as `search_config`), into `out` (each in
    `out/seed-S` when `seeds` > 1; default `runs/refine-BACKBONE-DATA`). With `retrain_seeds`, each find is
    retrained against the original and a random search's find (`found_comparison`, under `retrain`).
    One seed: that search's result; several: `{"runs": [results], "summary": search_summary(results)}`."""
    cfg = search_config(data, **settings)
    quick_note = None
    quick_digits = settings.get("quick") and data == "digits" and image_size is None
    if quick_digits:
        image_size = QUICK_DIGITS_SIZE
    if settings.get("quick") and (settings.get("width") is None or settings.get("derive_finetune_steps") is None
                                  or quick_digits):
        quick_note = (f"--quick ran at width {cfg.width:g} with {cfg.derive_finetune_steps} derive fine-tune steps"
                      + (f" on {image_size}x{image_size} digits" if quick_digits else "")
                      + " (its defaults; --width 1 --derive-finetune-steps 20"
                      + (" --image-size 32" if quick_digits else "") + " for the full search)")
    if pretrained is not None:
        if not Path(pretrained).is_file():
            raise UserError(f"weights file not found: {pretrained} (nivalis downloads nothing)")
        cfg = replace(cfg, pretrained=str(pretrained))
    if retrain_seeds and cfg.strategy != "controller":
        raise UserError("--retrain-seeds compares the controller's find with a random search at the same budget: "
                        "drop --strategy random")
    out = Path(out) if out is not None else Path("runs") / f"refine-{cfg.backbone}-{data_slug(data)}"
    prepare_output_dir(out)  # before the search, not when its first file is written
    resolved = resolve_data(data, data_dir, image_size=image_size, identities=identities, windows=windows)
    first = cfg.seed
    results = []
    for s in range(first, first + seeds):
        out_s = out if seeds == 1 else out / f"seed-{s}"
        cfg_s = replace(cfg, seed=s)
        desc = "refine" if seeds == 1 else f"refine s{s}"
        run = search(cfg_s, resolved.data, out_dir=out_s, resume=resume, desc=desc)
        result = dict(run.result)
        result.pop("derived_from", None)
        result.pop("config", None)
        if resolved.options:
            result["data_options"] = resolved.options
        if resolved.note:
            result["data_note"] = resolved.note
        if quick_note:
            result["budget_note"] = quick_note
        if "arch_file" in result:
            record_data_options(result["arch_file"], resolved)
        if retrain_seeds:
            cmp = refine_and_compare(cfg_s, resolved.data, seeds=retrain_seeds, retrain_epochs=retrain_epochs,
                                     out_dir=out_s, found=run, desc=desc)
            random_file = cmp["searches"]["random"].get("arch_file")
            if random_file:
                record_data_options(random_file, resolved)
            result["retrain"] = found_comparison(cmp)
        results.append(result)
    if seeds == 1:
        return results[0]
    for s, r in zip(range(first, first + seeds), results):
        r["seed"] = s
    return {"runs": results, "summary": search_summary(results)}


def ablation_study(data: str = "digits", data_dir: str | Path | None = None, *, out: str | Path | None = None,
                   quick: bool = False, epochs: int | None = None, pretrain_epochs: int | None = None,
                   controller_steps: int | None = None, retrain_seeds: int = 2, retrain_epochs: int = 15,
                   image_size: int | None = None, identities: int | None = None, windows: int | None = None,
                   **settings: Any) -> dict[str, Any]:
    """`ablate` on a data spec into `out` (default `runs/ablate-BACKBONE-DATA`), with `ablation.csv` and
    `ablation.json` there (their paths under `files`). Without `controller_steps`, the budget's count, or the
    nearest that PreTrain off spreads evenly over all epochs (`equal_budget_steps`)."""
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
    cfg = search_config(data, quick=quick, epochs=epochs, pretrain_epochs=pretrain_epochs,
                        controller_steps=controller_steps, strategy="controller", **settings)
    ablation_configs(cfg)  # the budget check, before any data is read
    out = Path(out) if out is not None else Path("runs") / f"ablate-{cfg.backbone}-{data_slug(data)}"
    prepare_output_dir(out)
    resolved = resolve_data(data, data_dir, image_size=image_size, identities=identities, windows=windows)
    res = ablate(cfg, resolved.data, seeds=retrain_seeds, retrain_epochs=retrain_epochs, out_dir=out)
    for r in res["rows"]:
        arch_file = out / f"search-{r['variant']}" / "arch.json"
        if arch_file.is_file():
            record_data_options(arch_file, resolved)
    if resolved.note:
        res["data_note"] = resolved.note
    res["data_options"] = resolved.options
    csv_file = atomic_write_text(out / "ablation.csv", ablation_csv(res["rows"]))
    res["files"] = [str(csv_file), str(out / "ablation.json")]
    atomic_write_text(out / "ablation.json", json.dumps(res, indent=2))
    return res


def retrain_arch_file(arch_file: str | Path, data: str | None = None, data_dir: str | Path | None = None, *,
                      image_size: int | None = None, identities: int | None = None, windows: int | None = None,
                      epochs: int = 15, seed: int = 0, lr: float = 0.1, precision: str = "fp32",
                      out: str | Path | None = None, resume: bool = False) -> dict[str, Any]:
    """Retrain an `arch.json` from scratch (`nivalis.nas.retrain`) into `out` (default: beside it, `retrain-sSEED`).

    The data default to the spec searched on, rebuilt with its recorded `data_options`; options given here
    replace recorded ones."""
    arch_file = Path(arch_file)
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
    out = Path(out) if out is not None else arch_file.parent / f"retrain-s{seed}"
    prepare_output_dir(out)
    resolved = resolve_data(spec_data, data_dir, **options)
    result = retrain(spec, resolved.data, config=cfg, out_dir=out, resume=resume)
    if resolved.note:
        result["data_note"] = resolved.note
    return result


# --- what `nivalis refine` prints without --json ----------------------------------------------------------------

def search_warnings(result: dict[str, Any]) -> list[str]:
    """The warnings of `refine_search`'s result: of its one search, or of every seed's."""
    return [line for run in result.get("runs", [result]) for line in run.get("warnings", [])]


def search_text(result: dict[str, Any]) -> str:
    """A `refine_search` result: the found architecture, its costs and proxy accuracy, the retraining if any;
    for several seeds, one line per search and what they found together."""
    if "runs" in result:
        return _seeds_text(result["runs"], result["summary"])
    r = result
    lines = [
        f"{r['backbone']} ({r['granularity']}) on {r['data']}: arch {r['arch']}",
        f"  operators:      {' '.join(r['operators'])}",
        f"  MACs:           {r['macs']:,} vs {r['baseline_macs']:,} original ({-100 * r['flops_reduction']:+.1f}%; "
        "FLOPs = 2 x MACs)",
        f"  params:         {r['params']:,} vs {r['baseline_params']:,} original",
        f"  proxy accuracy: {r['accuracy']:.4f} (original path {r['baseline_accuracy']:.4f}, shared weights)",
        f"  policy entropy: {r['entropy'][0]:.2f} -> {r['entropy'][-1]:.2f} nats over {len(r['entropy'])} epochs "
        f"({-100 * r['entropy_drop']:+.1f}%; uniform {r['entropy_max']:.2f})",
        f"  search time:    {r['seconds']:.0f} s   arch file: {r.get('arch_file', '-')}",
    ]
    if r.get("operator_paths"):  # each operator everywhere, with the shared weights: who fits first
        first, last = r["operator_paths"][0], r["operator_paths"][-1]
        lines.append("  operator paths: " + ", ".join(f"{k} {first[k]:.2f}->{last[k]:.2f}" for k in first)
                     + " (proxy accuracy, epoch 1 -> last)")
    if r.get("timing"):
        t = r["timing"]
        lines.append(f"  time by phase:  shared weights {t['shared']:.0f} s, controller {t['controller']:.0f} s, "
                     f"derive {t['derive']:.0f} s")
    if r.get("data_note"):
        lines.append(f"  data:           {r['data_note']}")
    if r.get("budget_note"):
        lines.append(f"  budget:         {r['budget_note']}")
    if r.get("pretrained"):
        p = r["pretrained"]
        lines.append(f"  started from:   {p['file']} ({p['source']} names, {p['tensors']} tensors"
                     + (f"; {p['note']}" if p.get("note") else "") + ")")
    if "retrain" in r:
        lines += _retrain_lines(r["retrain"])
    return "\n".join(lines)


def _retrain_lines(t: dict[str, Any]) -> list[str]:
    lines = [f"  retrained from scratch, {t['seeds']} seed(s) x {t['epochs']} epochs, on {t['train_images']:,} "
             f"training images; test accuracy on {t['test_images']:,} held-out test images:"]
    for row in t["rows"]:
        lines.append(f"    {row['role']:<9} {str(row['arch']):<26} {row['macs']:>12,} MACs "
                     f"({-100 * row['flops_reduction'] + 0.0:+.1f}%)  {format_mean_std(row['acc_mean'], row['acc_std'])}")
    for name, comp in t["paired"].items():
        lines.append(f"  {name.replace('_minus_', ' - '):<17} {format_paired(comp)}")
    lines.append(f"  (test: {t['paired_test']})")
    return lines


def _seeds_text(results: list[dict[str, Any]], summary: dict[str, Any]) -> str:
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


def ablation_text(res: dict[str, Any]) -> str:
    """An `ablation_study` result: one line per variant, the retrained original, the paired differences."""
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


def retrain_text(result: dict[str, Any]) -> str:
    """A `retrain_arch_file` result in one line, with the notes on a short architecture and on the data."""
    text = (f"{result['backbone']} arch {result['arch']} on {result['data']}: test accuracy {result['accuracy']:.4f}, "
            f"{result['macs']:,} MACs ({-100 * result['flops_reduction']:+.1f}% vs original), "
            f"{result['params']:,} params, {result['seconds']:.0f} s")
    if "arch_note" in result:
        text += f"\n  note: {result['arch_note']}"
    if result.get("data_note"):
        text += f"\n  data: {result['data_note']}"
    return text


__all__ = ["ablation_study", "ablation_text", "refine_search", "retrain_arch_file", "retrain_text", "search_config",
           "search_text", "search_warnings"]
