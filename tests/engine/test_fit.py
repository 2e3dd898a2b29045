"""The training loop: learns, repeats itself exactly for a seed, resumes to the same result."""

import pytest
import torch
from torch.utils.data import TensorDataset

from nivalis.data import load_classification
from nivalis.engine import (
    TrainConfig,
    classification_task,
    evaluate,
    fit,
    load_checkpoint,
    resolve_device,
    seed_everything,
    train_one_epoch,
)
from nivalis.errors import UserError
from nivalis.models import create_model


def _small_digits():
    data = load_classification("digits")
    x, y = data.train.tensors
    return TensorDataset(x[:400], y[:400]), data.val


def _train(tmp, epochs, resume=False, seed=0, precision="fp32", device="cpu"):
    train, val = _small_digits()
    seed_everything(seed)
    model = create_model("lenet5")
    cfg = TrainConfig(epochs=epochs, batch_size=32, lr=2e-3, seed=seed, precision=precision, device=device)
    return fit(model, train, val, config=cfg, task=classification_task(10), out_dir=tmp, resume=resume)


def test_training_improves_accuracy(tmp_path):
    train, val = _small_digits()
    seed_everything(0)
    model = create_model("lenet5")
    before = evaluate(model, val, classification_task(10))["accuracy"]
    result = _train(tmp_path, epochs=4)
    assert before < 0.3
    assert result.history[-1]["val_accuracy"] > 0.8
    assert result.history[-1]["train_loss"] < result.history[0]["train_loss"]
    ckpt = load_checkpoint(result.checkpoint)
    assert ckpt["epoch"] == 4 and len(ckpt["history"]) == 4


def test_same_seed_same_numbers(tmp_path):
    a = _train(tmp_path / "a", epochs=2, seed=3)
    b = _train(tmp_path / "b", epochs=2, seed=3)
    c = _train(tmp_path / "c", epochs=2, seed=4)
    strip = lambda h: [{k: v for k, v in row.items() if k != "seconds"} for row in h]  # noqa: E731
    assert strip(a.history) == strip(b.history)
    assert strip(a.history) != strip(c.history)


def test_resume_repeats_an_uninterrupted_run(tmp_path):
    full = _train(tmp_path / "full", epochs=4)
    _train(tmp_path / "split", epochs=2)
    # a later invocation asks for 4 epochs in total and resumes after epoch 2
    resumed = _train(tmp_path / "split", epochs=4, resume=True)
    assert len(resumed.history) == 4
    for name, tensor in full.model.state_dict().items():
        assert torch.equal(tensor, resumed.model.state_dict()[name]), name


def test_bf16_autocast_trains(tmp_path):
    result = _train(tmp_path, epochs=2, precision="bf16")
    assert result.history[-1]["val_accuracy"] > 0.5


def test_device_names():
    assert resolve_device("cpu") == torch.device("cpu")
    assert resolve_device("auto").type == ("cuda" if torch.cuda.is_available() else "cpu")
    for bad in ("tpu", "gpu0", "meta"):
        with pytest.raises(UserError, match="device"):
            resolve_device(bad)
    if not torch.cuda.is_available():
        with pytest.raises(UserError, match="no CUDA GPU"):
            resolve_device("cuda")


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_cuda_training_matches_cpu_and_resumes_on_cpu(tmp_path):
    gpu = _train(tmp_path / "gpu", epochs=2, device="cuda")
    cpu = _train(tmp_path / "cpu", epochs=2)
    assert next(gpu.model.parameters()).is_cuda
    assert abs(gpu.history[-1]["val_accuracy"] - cpu.history[-1]["val_accuracy"]) < 0.05
    resumed = _train(tmp_path / "gpu", epochs=3, resume=True)  # a GPU checkpoint continues on the CPU
    assert len(resumed.history) == 3 and resumed.history[-1]["val_accuracy"] > 0.8


def test_train_one_epoch_hooks_see_every_step_in_order():
    torch.manual_seed(0)
    model = torch.nn.Linear(3, 2)
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    drawn, events = [], []

    def batches():
        for i in range(3):
            drawn.append(i)
            yield torch.randn(4, 3), torch.randint(0, 2, (4,))

    def before(step):
        events.append(("before", step, len(drawn)))  # the batch of `step` is already drawn

    def after(out, target):
        events.append(("after", out.shape[0], out.requires_grad))

    result = train_one_epoch(model, batches(), opt, loss_fn=torch.nn.functional.cross_entropy, total=3,
                             before_step=before, after_step=after)
    assert [e for e in events if e[0] == "before"] == [("before", 0, 1), ("before", 1, 2), ("before", 2, 3)]
    assert [e for e in events if e[0] == "after"] == [("after", 4, False)] * 3
    assert result["train_loss"] > 0
    with pytest.raises(UserError, match="diverged at epoch 3"):
        train_one_epoch(model, [(torch.full((2, 3), float("nan")), torch.zeros(2, dtype=torch.long))], opt,
                        loss_fn=torch.nn.functional.cross_entropy, epoch=2)


def test_channels_last_batches_reach_the_model_contiguous():
    """An HWC array permuted to CHW would make every activation channels-last, where torch 2.13's CPU weight
    gradient of a 1×1 stride-2 convolution (each ResNet stage's shortcut) corrupts the heap on one thread."""
    model = torch.nn.Sequential(torch.nn.Conv2d(3, 4, 1, stride=2, bias=False), torch.nn.Flatten(),
                                torch.nn.LazyLinear(2))
    seen = []
    model[0].register_forward_pre_hook(lambda _, args: seen.append(args[0].is_contiguous()))
    batch = torch.randn(4, 8, 8, 3).permute(0, 3, 1, 2)
    assert not batch.is_contiguous() and batch.is_contiguous(memory_format=torch.channels_last)
    model(batch.contiguous())  # materialise the lazy layer
    seen.clear()
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    train_one_epoch(model, [(batch, torch.zeros(4, dtype=torch.long))], opt, loss_fn=torch.nn.functional.cross_entropy)
    assert seen == [True]


def test_face_inputs_are_contiguous_nchw():
    import numpy as np

    from nivalis.face.train import to_input

    x = to_input(np.zeros((2, 16, 16, 3), dtype=np.uint8), 16, 3)
    assert x.shape == (2, 3, 16, 16) and x.is_contiguous()


def test_resume_with_other_data_is_refused_by_name(tmp_path):
    from nivalis.engine import TrainConfig, fit, regression_task
    from nivalis.errors import UserError

    def data(seed):
        g = torch.Generator().manual_seed(seed)
        return TensorDataset(torch.randn(32, 3, generator=g), torch.randn(32, 1, generator=g))

    cfg = TrainConfig(epochs=1, batch_size=8, lr=1e-2, optimizer="adam")
    fit(torch.nn.Linear(3, 1), data(0), None, config=cfg, task=regression_task(), out_dir=tmp_path)
    cfg2 = TrainConfig(epochs=2, batch_size=8, lr=1e-2, optimizer="adam")
    with pytest.raises(UserError, match=r"another run \(the data differs \(data_fingerprint\)\)"):
        fit(torch.nn.Linear(3, 1), data(1), None, config=cfg2, task=regression_task(), out_dir=tmp_path, resume=True)
    same = fit(torch.nn.Linear(3, 1), data(0), None, config=cfg2, task=regression_task(), out_dir=tmp_path, resume=True)
    assert same.resume == {"from_epoch": 1, "forced": False, "differences": [], "changes": ["epochs 1 -> 2"]} and len(same.history) == 2


def test_native_bf16_is_read_from_the_cpu_flags(tmp_path, monkeypatch):
    import builtins

    from nivalis.engine import cpu_has_native_bf16

    real_open = builtins.open
    for flags, expected in (("fpu avx2 fma", False), ("fpu avx512f avx512_bf16", True), ("fpu amx_bf16 amx_tile", True)):
        info = tmp_path / "cpuinfo"
        info.write_text(f"processor\t: 0\nflags\t\t: {flags}\n")
        monkeypatch.setattr(builtins, "open", lambda p, *a, _i=info, **k: real_open(_i if p == "/proc/cpuinfo" else p,
                                                                                      *a, **k))
        assert cpu_has_native_bf16() is expected
    monkeypatch.setattr(builtins, "open", lambda p, *a, **k: (_ for _ in ()).throw(OSError("no /proc")))
    assert cpu_has_native_bf16() is False


def test_batches_reach_the_model_with_nchw_strides():
    from nivalis.engine.fit import _to

    one_channel = torch.zeros(4, 8, 8, 1).permute(0, 3, 1, 2)  # counts as contiguous, channel stride 1
    rgb = torch.zeros(4, 8, 8, 3).permute(0, 3, 1, 2)
    for x in _to((one_channel, rgb), torch.device("cpu")):
        assert x.stride() == (x.shape[1] * 64, 64, 8, 1)
