"""The shared config (de)serialiser and the atomic writer."""

from __future__ import annotations

import json
from dataclasses import dataclass, field

import pytest

from nivalis.config import ConfigDict, config_defaults
from nivalis.files import atomic_path, atomic_write_text


@dataclass
class _Cfg(ConfigDict):
    name: str = "a"
    sizes: tuple[int, ...] = (1, 2)
    split: tuple[float, float] = (0.8, 0.2)
    extra: dict[str, int] = field(default_factory=lambda: {"k": 3})


def test_config_round_trips_through_json_with_tuples_restored():
    cfg = _Cfg(name="b", sizes=(4, 5, 6))
    back = _Cfg.from_dict(json.loads(json.dumps(cfg.to_dict())))
    assert back == cfg and isinstance(back.sizes, tuple)


def test_config_from_dict_ignores_unknown_keys_and_defaults_read_from_the_class():
    assert _Cfg.from_dict({"name": "c", "unknown": 1}) == _Cfg(name="c")
    assert config_defaults(_Cfg) == {"name": "a", "sizes": (1, 2), "split": (0.8, 0.2), "extra": {"k": 3}}


def test_every_pipeline_config_round_trips():
    from nivalis.avalanche.config import AvalancheConfig
    from nivalis.engine import TrainConfig
    from nivalis.snow.config import SnowConfig

    for cls in (SnowConfig, AvalancheConfig, TrainConfig):
        assert cls.from_dict(json.loads(json.dumps(cls().to_dict()))) == cls()


def test_atomic_write_replaces_and_leaves_no_temp(tmp_path):
    path = tmp_path / "sub" / "a.txt"
    atomic_write_text(path, "one")
    atomic_write_text(path, "two")
    assert path.read_text() == "two"
    assert [p.name for p in path.parent.iterdir()] == ["a.txt"]


def test_atomic_path_removes_temp_and_keeps_old_file_on_failure(tmp_path):
    path = tmp_path / "a.txt"
    path.write_text("old")
    with pytest.raises(RuntimeError), atomic_path(path) as tmp:
        tmp.write_text("half")
        raise RuntimeError("killed")
    assert path.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["a.txt"]


@pytest.mark.parametrize("make_bad", ["existing_file", "under_a_file", "proc", "read_only"])
def test_prepare_output_dir_refuses_unwritable_places_in_one_line(tmp_path, make_bad):
    import os

    from nivalis.errors import UserError
    from nivalis.files import prepare_output_dir

    target = {"existing_file": tmp_path / "f", "under_a_file": tmp_path / "f" / "sub", "proc": "/proc/nivalis-out",
              "read_only": tmp_path / "ro" / "out"}[make_bad]
    (tmp_path / "f").write_text("x")
    (tmp_path / "ro").mkdir()
    os.chmod(tmp_path / "ro", 0o555)
    try:
        if make_bad == "read_only" and os.geteuid() == 0:
            pytest.skip("root writes into a 0555 folder; the /proc case covers an unwritable place for root")
        with pytest.raises(UserError) as info:
            prepare_output_dir(target)
        assert "\n" not in str(info.value) and str(target) in str(info.value)
    finally:
        os.chmod(tmp_path / "ro", 0o755)


def test_prepare_output_dir_checks_without_creating_and_cleans_our_stale_temps(tmp_path):
    from nivalis.files import prepare_output_dir, prepare_output_file

    out = tmp_path / "a" / "b"
    assert prepare_output_dir(out) == out.resolve() and not out.exists()   # checked, not created
    out.mkdir(parents=True)
    stale = out / ".checkpoint.pt.999999999.tmp"        # a PID that cannot be running
    stale.write_text("torn")
    kept = out / ".notes.tmp"                             # not our naming: never touched
    kept.write_text("user file")
    prepare_output_dir(out)
    assert not stale.exists() and kept.exists()
    with pytest.raises(Exception, match="existing folder"):
        prepare_output_file(out)
