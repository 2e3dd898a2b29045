"""Wall time of `nivalis refine search --quick` at its defaults, side by side with the previous default configuration.

    python benchmarks/nar_quick.py                      # new defaults vs the code of BASE_REV, same machine, one run
    python benchmarks/nar_quick.py --previous-timeout 600   # on a busy machine: the previous one stopped at 600 s
    python benchmarks/nar_quick.py --tiny --results /tmp/RESULTS.md   # a smoke run of the script (not a result)

Both searches run as subprocesses of the real CLI, one after the other on the same machine: the current
tree (`--quick`: width 0.5, 16 px digits, 10 derive fine-tune steps, shared-prefix rewards, FairNAS paths) and the
source of `--base-rev` (the commit before those changes; its `--quick` was width 1.0, 32 px, 20 derive steps)
unpacked with `git archive` into a temporary folder and put first on PYTHONPATH. Each run's JSON gives
the found architecture, its MACs change and proxy accuracy; the new one also its seconds per phase
(shared-weight steps, controller updates, derivation). The table is appended to benchmarks/RESULTS.md.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from results import RESULTS, machine, record

ROOT = Path(__file__).resolve().parents[1]
#: the commit before shared-prefix rewards and the new --quick defaults (issue #37)
BASE_REV = "163b0621"


def run(label: str, args: list[str], out: Path, pythonpath: str | None, timeout: float | None = None) -> dict:
    """One CLI search; its JSON result with `wall` seconds and `load`, or only those when it ran past `timeout`
    (then `stopped` is True and `wall` is the timeout)."""
    env = dict(os.environ)
    if pythonpath:
        env["PYTHONPATH"] = pythonpath + os.pathsep + env.get("PYTHONPATH", "")
    cmd = [sys.executable, "-m", "nivalis", "refine", "search", "--quick", "--json", "--quiet", "--out", str(out),
           *args]
    print(f"[{label}] {' '.join(cmd[1:])}", flush=True)
    t0 = time.perf_counter()
    try:
        proc = subprocess.run(cmd, env=env, capture_output=True, text=True, cwd=ROOT, timeout=timeout)
    except subprocess.TimeoutExpired:
        print(f"[{label}] stopped after {timeout:.0f} s", flush=True)
        return {"wall": float(timeout), "load": os.getloadavg()[1], "stopped": True}
    wall = time.perf_counter() - t0
    if proc.returncode:
        sys.exit(f"{label} failed ({proc.returncode}): {proc.stderr[-2000:]}")
    res = json.loads(proc.stdout)
    res["wall"] = wall
    res["load"] = os.getloadavg()[1]  # 5-minute mean run queue: above the core count, both runs were slowed
    print(f"[{label}] {wall:.0f} s", flush=True)
    return res


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--base-rev", default=BASE_REV)
    parser.add_argument("--out", type=Path, default=Path("/tmp/nivalis-bench-nar-quick"))
    parser.add_argument("--previous-timeout", type=float, default=None,
                        help="stop the previous configuration after this many seconds (the table then says '>')")
    parser.add_argument("--tiny", action="store_true", help="smoke run: width 1/16, 1 + 1 epochs, 12 images/class")
    parser.add_argument("--results", type=Path, default=RESULTS, help="Markdown file the table is appended to")
    args = parser.parse_args()
    extra = ["--width", "0.0625", "--epochs", "1", "--proxy-per-class", "12", "--proxy-val-per-class", "4"] \
        if args.tiny else []
    with tempfile.TemporaryDirectory() as tmp:
        archive = subprocess.run(["git", "archive", args.base_rev, "src"], cwd=ROOT, capture_output=True, check=True)
        subprocess.run(["tar", "-x", "-C", tmp], input=archive.stdout, check=True)
        rows = [("new defaults", run("new", extra, args.out / "new", None))]
        # the old CLI had width 1.0 and 20 derive steps as its defaults, which is what "previous" means here
        rows.append((f"previous ({args.base_rev})", run("previous", extra, args.out / "previous", f"{tmp}/src",
                                                           args.previous_timeout)))
    lines = ["| configuration | width | digits px | load (5 min) | wall s | search s | shared / controller / derive s | arch | MACs change "
             "| proxy acc (original path) |", "|---|---|---|---|---|---|---|---|---|---|"]
    for name, r in rows:
        if r.get("stopped"):
            lines.append(f"| {name} | - | - | {r['load']:.1f} | > {r['wall']:.0f} (stopped) | - | - | - | - | - |")
            continue
        t = r.get("timing")
        phases = f"{t['shared']:.0f} / {t['controller']:.0f} / {t['derive']:.0f}" if t else "not recorded"
        width = r.get("model_kwargs", {}).get("width_mult", 1.0)
        size = (r.get("data_options") or {}).get("image_size", 32)  # the digits reader's side when none is recorded
        lines.append(f"| {name} | {width:g} | {size} | {r['load']:.1f} | {r['wall']:.0f} | {r['seconds']:.0f} | {phases} | {r['arch']} "
                     f"| {-100 * r['flops_reduction']:+.1f}% | {r['accuracy']:.4f} ({r['baseline_accuracy']:.4f}) |")
    speed = rows[1][1]["wall"] / rows[0][1]["wall"]
    lines += ["", f"Speed-up {'> ' if rows[1][1].get('stopped') else ''}{speed:.2f}x; target (new --quick ≤ 180 s): "
                  f"{'met' if rows[0][1]['wall'] <= 180 else 'missed'} on {machine()}. Proxy accuracies are "
                  "shared-weight numbers of different widths and inputs: they compare nothing but each run with its own "
                  "original path."]
    table = "\n".join(lines)
    print()
    print(table)
    title = "`nivalis refine search --quick` at its defaults: new vs previous" + (" (tiny smoke run)" if args.tiny
                                                                                   else "")
    record(title, table, results=args.results)


if __name__ == "__main__":
    main()
