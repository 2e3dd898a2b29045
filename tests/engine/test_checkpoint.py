"""Checkpoints: atomic writes, safe loading, clear errors for corrupt and malicious files."""

import os
import pickle

import pytest
import torch

from nivalis.engine import load_checkpoint, resume_training, save_checkpoint
from nivalis.errors import UserError


def test_round_trip(tmp_path):
    payload = {"model": {"w": torch.arange(6.0).reshape(2, 3)}, "epoch": 3, "meta": {"model": "lenet5"}}
    path = save_checkpoint(tmp_path / "c.pt", payload)
    loaded = load_checkpoint(path)
    assert loaded["epoch"] == 3 and loaded["meta"] == {"model": "lenet5"}
    assert torch.equal(loaded["model"]["w"], payload["model"]["w"])
    assert [p.name for p in tmp_path.iterdir()] == ["c.pt"]  # no temp file left behind


def test_truncated_file_is_a_user_error(tmp_path):
    path = save_checkpoint(tmp_path / "c.pt", {"model": {"w": torch.randn(1000)}})
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(UserError, match="corrupt checkpoint"):
        load_checkpoint(path)


def test_missing_and_non_checkpoint(tmp_path):
    with pytest.raises(UserError, match="not found"):
        load_checkpoint(tmp_path / "nope.pt")
    (tmp_path / "text.pt").write_text("hello")
    with pytest.raises(UserError):
        load_checkpoint(tmp_path / "text.pt")
    (tmp_path / "radargram.mat").write_bytes(b"MATLAB 5.0 MAT-file" + bytes(range(256)) * 4)  # a wrong file given
    with pytest.raises(UserError, match=r"radargram.mat is not a PyTorch checkpoint \(not a file written by"):
        load_checkpoint(tmp_path / "radargram.mat")
    torch.save({"weights": torch.zeros(2)}, tmp_path / "other.pt")
    with pytest.raises(UserError, match="not a nivalis checkpoint"):
        load_checkpoint(tmp_path / "other.pt")


class _Exploit:
    def __reduce__(self):
        return (os.system, (f"touch {os.environ['NIVALIS_PWNED']}",))


@pytest.mark.filterwarnings("ignore:Detected pickle protocol:UserWarning")  # the hostile file is written by plain pickle
def test_malicious_pickle_is_refused_and_never_runs(tmp_path, monkeypatch):
    marker = tmp_path / "pwned"
    monkeypatch.setenv("NIVALIS_PWNED", str(marker))
    path = tmp_path / "evil.pt"
    torch.save({"model": _Exploit()}, path)  # a zip-format torch file whose pickle calls os.system
    with pytest.raises(UserError, match=r"refusing to load .*evil.pt: it asks to build \S*system"):
        load_checkpoint(path)
    assert not marker.exists()
    raw = tmp_path / "evil.pkl"
    raw.write_bytes(pickle.dumps({"model": _Exploit()}))  # legacy raw pickle
    with pytest.raises(UserError):
        load_checkpoint(raw)
    assert not marker.exists()


def test_a_folder_given_as_checkpoint_is_named_as_such(tmp_path):
    import pytest

    from nivalis.engine import load_checkpoint, save_checkpoint
    from nivalis.errors import UserError

    save_checkpoint(tmp_path / "checkpoint.pt", {"epoch": 1})
    with pytest.raises(UserError, match=r"is a folder; give the checkpoint file \(the checkpoint.pt inside it\?\)"):
        load_checkpoint(tmp_path)


def test_resume_training_loads_every_state_and_refuses_other_runs(tmp_path):
    model = torch.nn.Linear(2, 2)
    opt = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    sched = torch.optim.lr_scheduler.StepLR(opt, step_size=1, gamma=0.5)
    model(torch.randn(4, 2)).sum().backward()
    opt.step()
    sched.step()
    path = save_checkpoint(tmp_path / "c.pt", {"model": model.state_dict(), "optimizer": opt.state_dict(),
                                               "scheduler": sched.state_dict(), "epoch": 1, "run": "a"})
    fresh = torch.nn.Linear(2, 2)
    fresh_opt = torch.optim.SGD(fresh.parameters(), lr=0.1, momentum=0.9)
    fresh_sched = torch.optim.lr_scheduler.StepLR(fresh_opt, step_size=1, gamma=0.5)
    state = resume_training(path, model=fresh, optimizer=fresh_opt, scheduler=fresh_sched)
    assert state["epoch"] == 1 and torch.equal(fresh.weight, model.weight)
    assert fresh_opt.param_groups[0]["lr"] == 0.05 and fresh_sched.last_epoch == 1

    def other_run(payload):
        if payload["run"] != "b":
            raise UserError("written by another run")

    with pytest.raises(UserError, match="another run"):
        resume_training(path, model=fresh, check=other_run)
    with pytest.raises(UserError, match="does not match"):
        resume_training(path, model=torch.nn.Linear(3, 2))
    with pytest.raises(UserError, match="nothing to resume"):
        resume_training(tmp_path / "missing.pt", model=fresh)
