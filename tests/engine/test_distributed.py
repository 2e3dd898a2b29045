"""torchrun with 2 CPU processes (gloo): both ranks end with identical weights; only rank 0 writes."""

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from nivalis.engine import load_checkpoint


def test_torchrun_two_processes(tmp_path):
    torchrun = Path(sys.executable).with_name("torchrun")
    if not torchrun.exists():
        torchrun = shutil.which("torchrun")
    if torchrun is None:
        pytest.fail("torchrun not found next to the interpreter")
    worker = Path(__file__).with_name("ddp_worker.py")
    proc = subprocess.run([str(torchrun), "--standalone", "--nproc_per_node", "2", str(worker), str(tmp_path)],
                          capture_output=True, text=True, timeout=300, env={**os.environ, "OMP_NUM_THREADS": "1"})
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert (tmp_path / "rank0.world").read_text() == "2" and (tmp_path / "rank1.world").read_text() == "2"
    w0 = torch.load(tmp_path / "rank0.pt", weights_only=True)
    w1 = torch.load(tmp_path / "rank1.pt", weights_only=True)
    for name in w0:
        assert torch.equal(w0[name], w1[name]), name
    ckpt = load_checkpoint(tmp_path / "run" / "checkpoint.pt")
    assert ckpt["epoch"] == 2
    assert all(torch.equal(ckpt["model"][k], w0[k]) for k in w0)
    # the weights moved away from initialisation: training happened on both ranks
    assert ckpt["history"][-1]["val_accuracy"] > 0.5
