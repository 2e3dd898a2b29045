"""Runs that share a folder, signals, --json on failure, and progress in a log (issue #36)."""

import json
import os
import signal
import subprocess
import sys
import time

import pytest
import torch
from tests.cli_helpers import assert_user_error, invoke

from nivalis.engine import load_checkpoint
from nivalis.files import acquire_lock, lock_path, release_locks

TRAIN = ("train", "--model", "lenet5", "--data", "digits", "--seed", "1", "--json")


def _cmd(*args):
    return [sys.executable, "-m", "nivalis", *args]


def _hold_lock(target):
    """A process that holds the run lock of `target` until killed (a concurrent run)."""
    code = (f"import time; from nivalis.files import acquire_lock; acquire_lock({str(target)!r}); "
            "print('held', flush=True); time.sleep(120)")
    proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    assert proc.stdout.readline().strip() == "held"
    proc.stdout.close()
    return proc


def _kill(proc):
    proc.kill()  # kill -9: its lock file stays behind, stale
    proc.wait()


def test_a_second_run_into_a_held_folder_is_refused_and_a_stale_lock_is_taken_over(tmp_path):
    out = tmp_path / "conc"
    holder = _hold_lock(out)
    try:
        result = invoke(*TRAIN, "--epochs", "1", "--quiet", "--out", str(out))
        assert_user_error(result, "in use by another nivalis run")
        assert f"pid {holder.pid}" in result.err
        assert json.loads(result.out) == {"error": result.err.strip()[len("error: "):], "code": 2}
        assert not out.exists()
    finally:
        _kill(holder)
    assert lock_path(out).exists()
    result = invoke(*TRAIN, "--epochs", "1", "--quiet", "--out", str(out))
    assert result.code == 0, result.err
    assert (out / "checkpoint.pt").is_file() and not lock_path(out).exists()


def test_an_output_file_is_locked_too(tmp_path):
    target = tmp_path / "m.onnx"
    holder = _hold_lock(target)
    try:
        assert_user_error(invoke("zoo", "export", "lenet5", "--onnx", str(target)), "in use")
    finally:
        _kill(holder)
    assert not target.exists()


def test_the_lock_is_reentrant_and_released(tmp_path):
    out = tmp_path / "a" / "b"
    assert acquire_lock(out) == acquire_lock(out) == lock_path(out)
    assert lock_path(out).read_text().split()[0] == str(os.getpid())
    release_locks()
    assert not lock_path(out).exists() and not (tmp_path / "a").exists()  # the folders made for it go too


def test_json_errors_are_one_object_on_stdout(tmp_path):
    for args in (("train", "--model", "nope", "--json"), ("train", "--model", "lenet5", "--epochs", "0", "--json"),
                 ("zoo", "profile", "lenet5", "--input", "1x32", "--json")):
        result = invoke(*args)
        assert_user_error(result)
        payload = json.loads(result.out)
        assert payload["code"] == 2 and payload["error"] and "\n" not in payload["error"]


def test_a_log_gets_progress_lines_and_quiet_silences_them(tmp_path):
    env = {**os.environ, "NIVALIS_LOG_SECONDS": "0"}
    run = subprocess.run(_cmd(*TRAIN, "--epochs", "2", "--out", str(tmp_path / "a")), capture_output=True, text=True,
                         env=env, timeout=300)
    assert run.returncode == 0, run.stderr
    lines = [ln for ln in run.stderr.splitlines() if ln.startswith("[nivalis ")]
    assert any(" 1/2: " in ln and "elapsed" in ln for ln in lines), run.stderr
    assert any(" 2/2: " in ln and "left" in ln for ln in lines), run.stderr
    quiet = subprocess.run(_cmd(*TRAIN, "--epochs", "2", "--quiet", "--out", str(tmp_path / "b")),
                           capture_output=True, text=True, env=env, timeout=300)
    assert quiet.returncode == 0 and quiet.stderr == "", quiet.stderr


def _interrupt_after_first_checkpoint(out, sig, *extra):
    proc = subprocess.Popen(_cmd(*TRAIN, "--epochs", "12", "--quiet", "--out", str(out), *extra),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    ckpt, deadline = out / "checkpoint.pt", time.time() + 120
    while time.time() < deadline and not ckpt.exists():
        time.sleep(0.02)
    proc.send_signal(sig)
    stdout, stderr = proc.communicate(timeout=120)
    return proc.returncode, stdout, stderr


@pytest.mark.slow  # three trainings in fresh processes
def test_ctrl_c_says_where_the_checkpoint_is_and_resume_is_bit_identical(tmp_path):
    code, _, stderr = _interrupt_after_first_checkpoint(tmp_path / "run", signal.SIGINT)
    lines = stderr.strip().splitlines()
    assert code == 130 and len(lines) == 1, stderr
    epoch = load_checkpoint(tmp_path / "run" / "checkpoint.pt")["epoch"]
    assert lines[0].startswith("interrupted (SIGINT): checkpoint at ") and f"(epoch {epoch})" in lines[0]
    assert lines[0].endswith("--resume continues") and epoch < 12
    assert not lock_path(tmp_path / "run").exists()
    resumed = subprocess.run(_cmd(*TRAIN, "--epochs", "12", "--quiet", "--out", str(tmp_path / "run"), "--resume"),
                             capture_output=True, text=True, timeout=300)
    reference = subprocess.run(_cmd(*TRAIN, "--epochs", "12", "--quiet", "--out", str(tmp_path / "ref")),
                               capture_output=True, text=True, timeout=300)
    assert resumed.returncode == 0 and reference.returncode == 0, resumed.stderr + reference.stderr
    assert json.loads(resumed.stdout)["test_accuracy"] == json.loads(reference.stdout)["test_accuracy"]
    wa = load_checkpoint(tmp_path / "run" / "checkpoint.pt")["model"]
    wb = load_checkpoint(tmp_path / "ref" / "checkpoint.pt")["model"]
    assert all(torch.equal(wa[k], wb[k]) for k in wa)


def test_sigterm_exits_143_with_one_line(tmp_path):
    code, stdout, stderr = _interrupt_after_first_checkpoint(tmp_path / "run", signal.SIGTERM)
    assert code == 143 and len(stderr.strip().splitlines()) == 1, stderr
    assert stderr.startswith("interrupted (SIGTERM): checkpoint at ")
    assert json.loads(stdout)["code"] == 143


def test_force_without_resume_is_refused_and_a_longer_resume_is_recorded(tmp_path):
    out = str(tmp_path / "run")
    assert_user_error(invoke(*TRAIN, "--epochs", "1", "--quiet", "--out", out, "--force"), "--force only applies")
    assert not (tmp_path / "run").exists()
    assert invoke(*TRAIN, "--epochs", "1", "--quiet", "--out", out).code == 0
    longer = invoke(*TRAIN, "--epochs", "2", "--quiet", "--out", out, "--resume")
    assert longer.code == 0, longer.err
    assert json.loads(longer.out)["resumed"]["changes"] == ["epochs 1 -> 2"]


def test_a_run_that_diverges_saves_no_checkpoint_and_warnings_are_one_line(tmp_path):
    result = invoke(*TRAIN, "--epochs", "1", "--quiet", "--lr", "1e30", "--out", str(tmp_path / "run"))
    assert_user_error(result, "training diverged")
    assert not (tmp_path / "run" / "checkpoint.pt").exists()
    from nivalis.cli.app import _warning_line

    assert _warning_line(UserWarning("a\nb"), UserWarning, "x.py", 3) == "warning: a b\n"


def test_sizes_no_machine_holds_are_refused_before_allocating(tmp_path):
    assert_user_error(invoke("zoo", "profile", "lenet5", "--num-classes", "1000000000000"), "GiB")
    assert_user_error(invoke("zoo", "profile", "resnet18", "--input", "3x100000x100000"), "more than this machine")
    assert_user_error(invoke("zoo", "export", "lenet5", "--onnx", str(tmp_path / "m.onnx"), "--num-classes",
                             "100000000000"), "GiB")
    assert_user_error(invoke("zoo", "compare", "--models", "lenet5,lenet5", "--threads", "100000"), "per CPU core")
    assert sorted(tmp_path.iterdir()) == []
