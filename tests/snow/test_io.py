"""Reader of processed Snow Radar `.mat` files: v5 and v7.3 round trips, damaged files, usability rule."""

from __future__ import annotations

import h5py
import numpy as np
import pytest
import scipy.io

from nivalis.errors import UserError
from nivalis.snow import load_radargram, load_radargram_folder, write_radargram
from nivalis.snow.readers.matfile import MAT73_HEADER_BYTES
from nivalis.snow.readers.radargram import layers_usability


def _layers(rows: int = 18, width: int = 256, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    thick = rng.integers(10, 25, size=(rows - 1, width)).astype(np.float64)
    return np.vstack([np.full((1, width), 60.0), 60.0 + np.cumsum(thick, axis=0)])


def _variables(rows: int = 18) -> dict:
    lat = np.linspace(70.0, 70.03, 256)
    lon = np.linspace(-40.0, -39.99, 256)
    layers = _layers(rows)
    layers[17, 40:60] = np.nan  # untracked deeper than row 15: still usable
    return {"layers_vector": layers, "Latitude": lat.reshape(-1, 1), "Longitude": lon.reshape(1, -1),
            "Elevation": np.linspace(2500, 2510, 256).reshape(-1, 1), "curr_smb": np.full((rows, 256), 0.3)}


def _check(r, v) -> None:
    np.testing.assert_array_equal(r.layers, v["layers_vector"])
    np.testing.assert_allclose(r.latitude, v["Latitude"].ravel())
    np.testing.assert_allclose(r.longitude, v["Longitude"].ravel())
    np.testing.assert_allclose(r.elevation, v["Elevation"].ravel())
    assert r.fields["curr_smb"].shape == (18, 256)
    assert r.columns == 256 and r.n_layers == 18
    assert r.usability() == (True, "usable")


def test_v5_written_by_scipy_round_trips(tmp_path):
    v = _variables()
    scipy.io.savemat(tmp_path / "a.mat", v)
    r = load_radargram(tmp_path / "a.mat")
    assert r.format == "v5"
    _check(r, v)


def test_v73_written_like_matlab_round_trips(tmp_path):
    """HDF5 behind a 512-byte MATLAB header, arrays stored transposed ([L × 256] appears as (256, L))."""
    v = _variables()
    path = tmp_path / "b.mat"
    with h5py.File(path, "w", userblock_size=512) as f:
        for key, value in v.items():
            f.create_dataset(key, data=np.asarray(value).T).attrs["MATLAB_class"] = np.bytes_("double")
    with path.open("r+b") as f:
        f.write(b"MATLAB 7.3 MAT-file, Platform: GLNXA64, Created on: Mon Jan  1 00:00:00 2024 HDF5 schema 1.00 .")
    r = load_radargram(path)
    assert r.format == "v7.3"
    _check(r, v)


@pytest.mark.parametrize("fmt", ["v7.3", "v5"])
def test_writer_round_trips_and_writes_matlab_layout(tmp_path, fmt):
    v = _variables()
    path = write_radargram(tmp_path / f"c_{fmt}.mat", v, fmt=fmt)
    _check(load_radargram(path), v)
    head = path.read_bytes()[:MAT73_HEADER_BYTES + 8]
    if fmt == "v7.3":
        assert head.startswith(b"MATLAB 7.3 MAT-file") and head[126:128] == b"IM"
        assert head[MAT73_HEADER_BYTES:] == b"\x89HDF\r\n\x1a\n"
        with h5py.File(path, "r") as f:
            assert f["layers_vector"].shape == (256, 18)            # MATLAB's column-major transposition
            assert f["layers_vector"].attrs["MATLAB_class"] == b"double"
    else:
        assert scipy.io.loadmat(path)["layers_vector"].shape == (18, 256)


@pytest.mark.parametrize("fmt", ["v7.3", "v5"])
def test_truncated_file_is_a_user_error_naming_it(tmp_path, fmt):
    path = write_radargram(tmp_path / "t.mat", _variables(), fmt=fmt, compress=False)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(UserError, match=r"t\.mat.*(truncated|corrupt)"):
        load_radargram(path)


def test_non_mat_empty_missing_and_wrong_fields(tmp_path):
    (tmp_path / "x.mat").write_text("these are not the layers you are looking for")
    with pytest.raises(UserError, match=r"x\.mat: not a MATLAB"):
        load_radargram(tmp_path / "x.mat")
    (tmp_path / "e.mat").write_bytes(b"")
    with pytest.raises(UserError, match="empty"):
        load_radargram(tmp_path / "e.mat")
    with pytest.raises(UserError, match="not found"):
        load_radargram(tmp_path / "nope.mat")
    v = _variables()
    del v["Latitude"]
    write_radargram(tmp_path / "m.mat", v)
    with pytest.raises(UserError, match=r"m\.mat: missing field Latitude"):
        load_radargram(tmp_path / "m.mat")
    v = _variables()
    v["Longitude"] = v["Longitude"][:, :100]
    write_radargram(tmp_path / "w.mat", v, fmt="v5")
    with pytest.raises(UserError, match="Longitude has 100 values"):
        load_radargram(tmp_path / "w.mat")


def test_usability_rule():
    layers = _layers(16)
    assert layers_usability(layers) == (True, "usable")
    assert not layers_usability(layers[:15])[0]                   # surface + 5 + 10 rows are needed
    deep = np.vstack([layers, layers[-1:] + 12])
    deep[16, :30] = np.nan                                          # untracked below row 15 is fine
    assert layers_usability(deep)[0]
    holed = layers.copy()
    holed[3, 100:110] = np.nan
    ok, reason = layers_usability(holed)
    assert not ok and "row 3 untracked in 10 of 256" in reason
    crossed = layers.copy()
    crossed[7] = crossed[8] + 1
    assert "cross" in layers_usability(crossed)[1]
    assert "columns" in layers_usability(layers[:, :200])[1]
    assert layers_usability(layers[:8], rows_needed=8)[0]          # fewer layers when fewer are asked for


def test_folder_skips_and_counts_bad_files(tmp_path):
    write_radargram(tmp_path / "good.mat", _variables())
    short = _variables()
    short["layers_vector"] = short["layers_vector"][:10]
    write_radargram(tmp_path / "short.mat", short, fmt="v5")
    (tmp_path / "junk.mat").write_bytes(b"\x00" * 64)
    good, summary = load_radargram_folder(tmp_path)
    assert [r.name for r in good] == ["good"]
    d = summary.to_dict()
    assert (d["files"], d["usable"], d["bad"], d["unusable"]) == (3, 1, 1, 1)
    assert "junk.mat" in d["bad_files"] and d["unusable_reasons"] == {"too few layers": 1}
    with pytest.raises(UserError, match="not found"):
        load_radargram_folder(tmp_path / "missing")
    (tmp_path / "empty").mkdir()
    with pytest.raises(UserError, match="no .mat files"):
        load_radargram_folder(tmp_path / "empty")
