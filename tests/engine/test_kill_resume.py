"""A run killed with SIGKILL mid-training resumes with --resume and ends where an uninterrupted run ends."""

import json
import os
import signal
import subprocess
import sys
import time

import pytest
import torch

from nivalis.engine import load_checkpoint

EPOCHS = "12"


def _train_cmd(out, *extra):
    return [sys.executable, "-m", "nivalis", "train", "--model", "lenet5", "--epochs", EPOCHS, "--seed", "1",
            "--out", str(out), "--quiet", "--json", *extra]


@pytest.mark.slow  # three 12-epoch trainings in fresh processes
def test_sigkill_then_resume(tmp_path):
    killed = tmp_path / "killed"
    proc = subprocess.Popen(_train_cmd(killed), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    ckpt = killed / "checkpoint.pt"
    deadline = time.time() + 120
    epoch_at_kill = 0
    while time.time() < deadline:
        if ckpt.exists():
            try:
                epoch_at_kill = load_checkpoint(ckpt)["epoch"]
            except Exception:
                pass
            if epoch_at_kill >= 2:
                break
        time.sleep(0.02)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    assert proc.returncode == -signal.SIGKILL
    state = load_checkpoint(ckpt)  # never torn: written with temp file + os.replace
    assert 2 <= state["epoch"] < int(EPOCHS)
    assert not [p for p in killed.iterdir() if p.name.endswith(".tmp")]

    resumed = subprocess.run(_train_cmd(killed, "--resume"), capture_output=True, text=True, timeout=300)
    assert resumed.returncode == 0, resumed.stderr
    reference = subprocess.run(_train_cmd(tmp_path / "reference"), capture_output=True, text=True, timeout=300)
    assert reference.returncode == 0, reference.stderr

    a, b = json.loads(resumed.stdout), json.loads(reference.stdout)
    assert a["test_accuracy"] == b["test_accuracy"] and a["test_loss"] == b["test_loss"]
    wa = load_checkpoint(killed / "checkpoint.pt")["model"]
    wb = load_checkpoint(tmp_path / "reference" / "checkpoint.pt")["model"]
    assert all(torch.equal(wa[k], wb[k]) for k in wa)
