"""NAR search under torchrun (2 CPU processes, gloo): both ranks train the same paths and agree on everything."""

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import torch


def test_search_on_two_processes(tmp_path):
    torchrun = Path(sys.executable).with_name("torchrun")
    torchrun = str(torchrun) if torchrun.exists() else shutil.which("torchrun")
    if torchrun is None:
        pytest.fail("torchrun not found next to the interpreter")
    worker = Path(__file__).with_name("ddp_search_worker.py")
    proc = subprocess.run([torchrun, "--standalone", "--nproc_per_node", "2", str(worker), str(tmp_path)],
                          capture_output=True, text=True, timeout=300, env={**os.environ, "OMP_NUM_THREADS": "1"})
    assert proc.returncode == 0, proc.stderr[-3000:]
    r0, r1 = (json.loads((tmp_path / f"rank{r}.json").read_text()) for r in (0, 1))
    assert r0["world"] == r1["world"] == 2
    assert r0["arch"] == r1["arch"] and r0["steps"] == r1["steps"]  # same rewards: counts summed over ranks
    w0, w1 = torch.load(tmp_path / "rank0.pt", weights_only=True), torch.load(tmp_path / "rank1.pt", weights_only=True)
    # parameters agree exactly (averaged gradients); BN running averages are per-rank and never used by
    # the supernet, which always evaluates with batch statistics
    params = [k for k in w0 if not k.endswith(("running_mean", "running_var", "num_batches_tracked"))]
    assert len(params) > 100 and all(torch.equal(w0[k], w1[k]) for k in params)
    assert (tmp_path / "run" / "arch.json").is_file()  # written by rank 0
