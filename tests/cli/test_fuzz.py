"""CLI fuzz (issue #25): every command, hostile outputs, numbers and corrupt inputs → exit 0 or 2, no traceback,
and after a failure nothing left behind.

The commands come from the typer app itself, so a new command fails `test_every_command_has_a_table_entry`
until it gets a row in TABLE. Every value here is refused at validation time: no case trains anything.
"""

from __future__ import annotations

import os
import random
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from tests.cli_helpers import CliResult, invoke


def discover() -> dict[str, object]:
    """'zoo export' → its click command, for every leaf command of `nivalis`."""
    from nivalis.cli.app import command

    found = {}

    def walk(cmd, path):
        subs = getattr(cmd, "commands", None)
        if subs:
            for name, sub in subs.items():
                walk(sub, [*path, name])
        else:
            found[" ".join(path)] = cmd

    walk(command(), [])
    return found


COMMANDS = discover()


@dataclass
class Spec:
    """How to call one command: `base` (valid, tiny budget), its output options and its corrupt-input cases.

    outs: (option, kind) with kind "dir" (a folder is meant) or a file suffix such as ".onnx".
    inputs: extra argument tuples, each reading one corrupt file of a format the command reads.
    """

    base: tuple[str, ...]
    outs: tuple[tuple[str, str], ...] = ()
    inputs: tuple[tuple[str, ...], ...] = ()
    positional: tuple[str, ...] = field(default=())  # after the options (typer takes them anywhere)


Q = ("--quiet",)
TABLE: dict[str, Spec] = {
    "train": Spec(("--model", "lenet5", "--epochs", "1", *Q), outs=(("--out", "dir"),),
                  inputs=(("--pretrained", "{pt_garbage}"), ("--pretrained", "{pt_truncated}"),
                          ("--pretrained", "{bin}"), ("--pretrained", "{onnx}"), ("--pretrained", "{json}"),
                          ("--pretrained", "{empty_pt}"), ("--data", "cifar10", "--data-dir", "{cifar_dir}"),
                          ("--data", "svhn", "--data-dir", "{svhn_dir}"))),
    "demo": Spec(("--quick", "--only", "classification", *Q), outs=(("--out", "dir"),),
                 inputs=(("--only", "nope"),)),
    "zoo list": Spec((*Q,), inputs=(("zzz-no-such-model*",),)),
    "zoo profile": Spec(("lenet5", "--runs", "1", *Q),
                        inputs=(("--pretrained", "{pt_garbage}"), ("--pretrained", "{pt_truncated}"),
                                ("--pretrained", "{bin}"), ("--pretrained", "{onnx}"),
                                ("--input", "nanxnanxnan"), ("--input", "-1x32x32"))),
    "zoo export": Spec(("lenet5", "--input", "1x32x32", *Q), outs=(("--onnx", ".onnx"),),
                       inputs=(("--onnx", "{w}/m.onnx", "--checkpoint", "{pt_garbage}"),
                               ("--onnx", "{w}/m.onnx", "--checkpoint", "{pt_truncated}"),
                               ("--onnx", "{w}/m.onnx", "--checkpoint", "{onnx}"),
                               ("--onnx", "{w}/m.onnx", "--pretrained", "{bin}"),
                               ("--onnx", "{w}/m.onnx", "--int8", "--calibrate", "{cifar_dir}"))),
    "zoo compare": Spec(("--models", "lenet5", "--runs", "1", "--epochs", "1", *Q), outs=(("--out", "dir"),),
                        inputs=(("--models", "lenet5", "--data", "cifar10", "--data-dir", "{cifar_dir}"),
                                ("--models", "no_such_net"))),
    "refine search": Spec(("--quick", "--epochs", "1", "--pretrain-epochs", "0", "--controller-steps", "0", *Q),
                          outs=(("--out", "dir"),),
                          inputs=(("--data", "svhn", "--data-dir", "{svhn_dir}"), ("--candidates", "9,x"),
                                  ("--data", "face:{face_dir}"), ("--data", "face:{rec}"),
                                  ("--data", "avalanche:{scenes}"), ("--data", "avalanche:{w}/missing"),
                                  ("--data", "imagenet:{w}"))),
    "refine ablate": Spec(("--quick", "--epochs", "1", "--pretrain-epochs", "1", "--controller-steps", "2", *Q),
                          outs=(("--out", "dir"),),
                          inputs=(("--data", "svhn", "--data-dir", "{svhn_dir}"), ("--data", "face:{face_dir}"),
                                  ("--data", "avalanche:{scenes}"), ("--data", "nope:{w}"),
                                  ("--controller-steps", "3"))),
    "refine retrain": Spec(("--epochs", "1", *Q), outs=(("--out", "dir"),), positional=("{json}",),
                           inputs=(("{json_truncated}",), ("{pt_garbage}",), ("{w}/missing.json",),
                                   ("{empty_json}",))),
    "refine space": Spec((), inputs=(("--input", "0x0x0"), ("--input", "3xnanx32"), ("--candidates", "x"))),
    "avalanche simulate": Spec(("--scenes", "1", "--size", "64", *Q), outs=(("--out", "dir"),)),
    "avalanche train": Spec(("--data", "{scenes}", "--epochs", "1", "--windows-per-epoch", "64", *Q),
                            outs=(("--out", "dir"),),
                            inputs=(("--labels", "{json}"), ("--labels", "{json_truncated}"),
                                    ("--data", "{w}/missing"))),
    "avalanche predict": Spec(("--checkpoint", "{pt_garbage}", *Q), outs=(("--out", "dir"),),
                              positional=("{png}",),
                              inputs=(("{jpg}",), ("{tif}",), ("{png}", "--checkpoint", "{pt_truncated}"),
                                      ("{empty_jpg}",), ("{empty_png}",), ("{empty_tif}",),
                                      ("{png}", "--checkpoint", "{empty_pt}"))),
    "avalanche evaluate": Spec(("--data", "{scenes}", "--checkpoint", "{pt_garbage}", *Q),
                               inputs=(("--checkpoint", "{pt_truncated}"), ("--labels", "{json}"))),
    "avalanche histogram": Spec(("--data", "{scenes}", *Q), outs=(("--out", "dir"),),
                                inputs=(("--data", "{w}/missing"),)),
    "snow simulate": Spec(("--radargrams", "1", "--format", "v5", *Q), outs=(("--out", "dir"),)),
    "snow inspect": Spec((*Q,), positional=("{mat_garbage}",),
                         inputs=(("{mat_truncated}",), ("{mat_dir}",), ("{png}",), ("{empty_mat}",))),
    "snow paper": Spec(("--data", "{mat_dir}", "--epochs", "1", "--splits", "1", *Q), outs=(("--out", "dir"),)),
    "snow train": Spec(("--data", "{mat_dir}", "--epochs", "1", *Q), outs=(("--out", "dir"),)),
    "snow predict": Spec(("--checkpoint", "{pt_garbage}", *Q), outs=(("--csv", ".csv"),),
                         positional=("{mat_garbage}",),
                         inputs=(("--checkpoint", "{pt_truncated}"), ("{mat_dir}",))),
    "face train": Spec(("--epochs", "1", *Q), outs=(("--out", "dir"),),
                       inputs=(("--data", "{rec}"), ("--data", "{face_dir}"), ("--data", "{face_dir}", "--bin", "{bin}"),
                               ("--data", "{face_dir}", "--bin", "{w}/missing.bin"))),
    "face verify": Spec(("--bin", "{bin}", "--checkpoint", "{pt_garbage}", *Q), outs=(("--roc", ".csv"),),
                        inputs=(("--checkpoint", "{pt_truncated}"), ("--bin", "{json}"), ("--bin", "{empty_bin}"))),
    "face embed": Spec(("--checkpoint", "{pt_garbage}", *Q), outs=(("--out", ".npy"),), positional=("{jpg}",),
                       inputs=(("{png}",), ("{tif}",), ("--checkpoint", "{pt_truncated}"), ("{empty_jpg}",),
                               ("{empty_png}",), ("{empty_tif}",))),
}


@pytest.fixture
def ws(tmp_path, monkeypatch) -> dict[str, str]:
    """A workspace of hostile paths and corrupt files (the cwd, so default `runs/...` outputs land here too)."""
    w = tmp_path / "ws"
    w.mkdir()
    rnd = random.Random(25)  # the same garbage every run
    monkeypatch.chdir(w)

    def put(rel: str, data: bytes) -> str:
        path = w / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
        return str(path)

    paths = {
        "w": str(w),
        "mat_garbage": put("garbage.mat", rnd.randbytes(512)),
        "mat_truncated": put("truncated.mat", b"MATLAB 5.0 MAT-file, Platform: GLNXA64".ljust(128, b" ")[:124]
                             + b"\x00\x01IM" + b"\x0e\x00\x00\x00\xff\xff"),
        "pt_garbage": put("garbage.pt", rnd.randbytes(256)),
        "pt_truncated": put("truncated.pt", b"PK\x03\x04\x14\x00\x00\x00\x00\x00 truncated zip"),
        "png": put("garbage.png", b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00"),
        "jpg": put("garbage.jpg", b"\xff\xd8\xff\xe0\x00\x10JFIF\x00" + rnd.randbytes(64)),
        "tif": put("garbage.tif", b"II*\x00\x08\x00\x00\x00\xff\xff" + rnd.randbytes(32)),
        "bin": put("garbage.bin", b"\x80\x04\x95" + rnd.randbytes(64)),
        "onnx": put("garbage.onnx", b"\x08\x07\x12\x07pytorch" + rnd.randbytes(64)),
        "json": put("garbage.json", b'{"arch": [0, 1], "backbone": 7, "type": "FeatureCollection", "features": 3}'),
        "json_truncated": put("truncated.json", b'{"backbone": "resnet18", "arch": [0, '),
        **{f"empty_{ext}": put(f"empty.{ext}", b"") for ext in ("jpg", "png", "tif", "mat", "pt", "bin", "json")},
        "rec": put("faces/train.rec", rnd.randbytes(300)),
        "cifar_dir": str(Path(put("cifar/cifar-10-batches-py/data_batch_1", rnd.randbytes(300))).parent.parent),
        "svhn_dir": str(Path(put("svhn/train_32x32.mat", rnd.randbytes(300))).parent),
    }
    put("cifar/cifar-10-batches-py/test_batch", b"\x80\x04garbage")
    put("svhn/test_32x32.mat", b"MATLAB 5.0 MAT-file" + rnd.randbytes(64))
    for name in ("a", "b"):
        put(f"mats/{name}.mat", rnd.randbytes(400))
    paths["mat_dir"] = str(w / "mats")
    put("scenes/images/s0.jpg", b"\xff\xd8\xff" + rnd.randbytes(100))
    put("scenes/masks/s0.png", b"\x89PNG\r\n" + rnd.randbytes(50))
    put("scenes/scenes.json", b"[{\"name\": 3")
    paths["scenes"] = str(w / "scenes")
    put("idents/0/a.jpg", rnd.randbytes(80))
    put("idents/1/b.jpg", b"\xff\xd8\xff" + rnd.randbytes(80))
    paths["face_dir"] = str(w / "idents")
    a_file = put("a-file", b"x")
    os.mkdir(w / "a-folder")
    read_only = w / "read-only"
    read_only.mkdir()
    read_only.chmod(0o500)
    paths.update(file=a_file, folder=str(w / "a-folder"), read_only=str(read_only))
    yield paths
    read_only.chmod(0o700)


def hostile_outputs(kind: str, p: dict[str, str]) -> list[str]:
    """Places an output cannot go: an existing file where a folder is meant (or a folder where a file is), under a
    file, under /proc, in a read-only folder (not for root, who writes there anyway)."""
    name = "out" if kind == "dir" else f"out{kind}"
    values = [f"{p['file']}/{name}", f"/proc/nivalis-fuzz/{name}", "/proc/nivalis-fuzz", "",
              f"{p['w']}/{'n' * 300}{'' if kind == 'dir' else kind}"]  # empty; a name the file system cannot hold
    values.append(p["file"] if kind == "dir" else p["folder"])
    if os.geteuid() != 0:
        values.append(f"{p['read_only']}/{name}")
    return values


def snapshot(folder: str) -> dict[str, int]:
    return {str(path.relative_to(folder)): (path.stat().st_size if path.is_file() else -1)
            for path in Path(folder).rglob("*")}


def check(args: list[str], p: dict[str, str]) -> CliResult:
    """Run one case; exit 0 or 2, no traceback, and after exit 2 one `error:` line and the workspace unchanged."""
    before = snapshot(p["w"])
    result = invoke(*args)
    shown = f"nivalis {' '.join(args)}\n-- stdout --\n{result.out[-2000:]}\n-- stderr --\n{result.err[-4000:]}"
    assert result.code in (0, 2), shown
    assert "Traceback" not in result.out and "Traceback" not in result.err, shown
    if result.code == 2:
        errors = [ln for ln in result.err.splitlines() if ln.startswith("error: ")]
        assert len(errors) == 1, shown
        assert snapshot(p["w"]) == before, shown
    return result


def fill(values, p):
    return [v.format(**p) for v in values]


def test_every_command_has_a_table_entry():
    assert len(COMMANDS) >= 20
    assert sorted(COMMANDS) == sorted(TABLE), "add the new command's row to TABLE"


@pytest.mark.parametrize("name", sorted(TABLE))
def test_hostile_outputs_and_corrupt_inputs(name, ws):
    spec = TABLE[name]
    if name not in COMMANDS:
        pytest.fail(f"{name} is in TABLE but not a command of nivalis")
    argv = name.split()
    base = fill(spec.base, ws)
    positional = fill(spec.positional, ws)
    for option, kind in spec.outs:
        for value in hostile_outputs(kind, ws):
            result = check([*argv, *base, option, value, *positional], ws)
            assert result.code == 2, (name, option, value, result.out)
    for extra in spec.inputs:
        extra = fill(extra, ws)
        # a positional case replaces the default positional argument
        takes_place = positional and not extra[0].startswith("-")
        check([*argv, *base, *extra, *([] if takes_place else positional)], ws)


def numeric_options(cmd) -> list[tuple[str, type, object, object]]:
    """(flag, int|float, min, max) of every number option of a click command."""
    found = []
    for param in cmd.params:
        desc = getattr(param, "type_descriptor", None)
        annotation = getattr(desc, "annotation", None)
        if annotation in (int, float) and getattr(param, "opts", None) and param.opts[0].startswith("--"):
            info = desc.parameter_info
            found.append((param.opts[0], annotation, info.min, info.max))
    return found


WORDS = st.sampled_from(["abc", "ten", "", "1,5", "0x10", "--", "None", "1e", "½"])
NON_FINITE = st.sampled_from(["nan", "NaN", "inf", "-inf", "Infinity", "1e400", "-1e999"])
HUGE_INT = st.integers(min_value=2**63, max_value=2**200).map(lambda v: str(v) if v % 2 else str(-v))


def hostile_number(kind: type, low, high) -> st.SearchStrategy[str]:
    """Values a number option must refuse at parse time (never a valid one, which would start work)."""
    choices = [WORDS, NON_FINITE]
    if kind is int:
        choices += [HUGE_INT, st.sampled_from(["1.5", "1e3", "-0.5", "0.1"])]
    if low is not None:
        below = st.integers(max_value=int(low) - 1) if kind is int else st.floats(max_value=low, exclude_max=True,
                                                                                  allow_nan=False, allow_infinity=False)
        choices.append(below.map(str))
    if high is not None:
        above = st.integers(min_value=int(high) + 1) if kind is int else st.floats(min_value=high, exclude_min=True,
                                                                                   allow_nan=False,
                                                                                   allow_infinity=False)
        choices.append(above.map(str))
    return st.one_of(choices)


@pytest.mark.parametrize("name", sorted(n for n in TABLE if n in COMMANDS and numeric_options(COMMANDS[n])))
@settings(max_examples=6, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(data=st.data())
def test_hostile_numbers(name, ws, data):
    spec = TABLE[name]
    flag, kind, low, high = data.draw(st.sampled_from(numeric_options(COMMANDS[name])), label="option")
    value = data.draw(hostile_number(kind, low, high), label="value")
    args = [*name.split(), *fill(spec.base, ws), f"{flag}={value}", *fill(spec.positional, ws)]
    result = check(args, ws)
    assert result.code == 2, args
    assert flag in result.err, result.err
