import os
import pickle
import struct

import numpy as np
import pytest

from nivalis.errors import UserError
from nivalis.face.io import (
    RECORD_MAGIC,
    FaceFolder,
    RecordIO,
    _pack_record,
    encode_image,
    load_bin,
    open_face_data,
    write_bin,
    write_recordio,
)
from tests.face.conftest import digit_faces


def test_bin_in_insightface_layout_reads_back(small_bin):
    path, images, issame = small_bin
    vp = load_bin(path)
    assert vp.images.shape == (80, 112, 112, 3) and vp.images.dtype == np.uint8
    np.testing.assert_array_equal(vp.images, images)  # PNG is lossless, RGB order kept
    np.testing.assert_array_equal(vp.issame, issame)
    # exactly insightface's layout: a pickle of (list of encoded bytes, list of bools)
    with open(path, "rb") as f:
        bins, issame_list = pickle.load(f)
    assert isinstance(bins, list) and isinstance(bins[0], bytes) and bins[0][:4] == b"\x89PNG"
    assert issame_list == [bool(s) for s in issame]


@pytest.mark.parametrize("protocol", [2, 4])
def test_bin_protocols_and_numpy_issame(tmp_path, protocol):
    images, _ = digit_faces(4)
    bins = [encode_image(im, ".jpg") for im in images]
    path = tmp_path / "cfp_fp.bin"
    with open(path, "wb") as f:
        pickle.dump((bins, np.array([True, False])), f, protocol=protocol)
    vp = load_bin(path)
    assert vp.images.shape == (4, 112, 112, 3) and vp.issame.tolist() == [True, False]


@pytest.mark.parametrize("protocol", [2, 5])
def test_build_eval_pack_bin_of_imencode_arrays(tmp_path, protocol):
    """insightface's current build_eval_pack.py: images are cv2.imencode's uint8 arrays, issame NumPy or Python bools."""
    import cv2

    images, _ = digit_faces(4)
    bins = [cv2.imencode(".jpg", cv2.cvtColor(im, cv2.COLOR_RGB2BGR))[1] for im in images]
    assert isinstance(bins[0], np.ndarray) and bins[0].dtype == np.uint8
    issame = [np.bool_(True), False]
    path = tmp_path / "lfw.bin"
    path.write_bytes(pickle.dumps((bins, issame), protocol=protocol))
    vp = load_bin(path)
    assert vp.images.shape == (4, 112, 112, 3) and vp.issame.tolist() == [True, False]
    expected = cv2.cvtColor(cv2.imdecode(bins[3], cv2.IMREAD_COLOR), cv2.COLOR_BGR2RGB)
    np.testing.assert_array_equal(vp.images[3], expected)


@pytest.mark.parametrize("protocol", [2, 5])
def test_bin_arrays_other_than_uint8_images_are_refused(tmp_path, protocol):
    marker = tmp_path / "pwned"

    class Evil:
        def __reduce__(self):
            return os.system, (f"touch {marker}",)

    images, _ = digit_faces(2)
    cases = {
        "float": [np.zeros(10, np.float32), np.zeros(10, np.float32)],
        "object": [np.array([Evil()], dtype=object), np.zeros(3, np.uint8)],
        "2-D": [np.zeros((4, 4), np.uint8), np.zeros((4, 4), np.uint8)],
    }
    for name, bins in cases.items():
        path = tmp_path / f"{name}.bin"
        path.write_bytes(pickle.dumps((bins, [True]), protocol=protocol))
        with pytest.raises(UserError, match="refusing|encoded images"):
            load_bin(path)
    assert not marker.exists()


@pytest.mark.parametrize("issame", [[0.5] * 2, ["yes"] * 2, [[True, False]] * 2, None, [1, 0], []])
def test_issame_must_be_flat_booleans(tmp_path, issame):
    images, _ = digit_faces(4)
    path = tmp_path / "lfw.bin"
    path.write_bytes(pickle.dumps(([encode_image(im) for im in images], issame), protocol=4))
    with pytest.raises(UserError, match="issame_list") as err:
        load_bin(path)
    assert "\n" not in str(err.value)


def test_python2_style_bin(tmp_path):
    """Python 2's insightface wrote `str` images: SHORT_BINSTRING/BINSTRING opcodes, read with encoding='bytes'."""
    images, _ = digit_faces(2)
    blobs = [encode_image(im) for im in images]
    body = b"\x80\x02(]q\x00("  # PROTO 2, MARK, EMPTY_LIST, BINPUT, MARK
    for blob in blobs:
        body += b"T" + struct.pack("<I", len(blob)) + blob  # BINSTRING
    body += b"e]q\x01\x88at."  # APPENDS, EMPTY_LIST, BINPUT, NEWTRUE, APPEND, TUPLE, STOP
    path = tmp_path / "agedb_30.bin"
    path.write_bytes(body)
    vp = load_bin(path)
    assert vp.images.shape == (2, 112, 112, 3) and vp.issame.tolist() == [True]


def test_malicious_pickle_is_refused(tmp_path):
    marker = tmp_path / "pwned"

    class Evil:
        def __reduce__(self):
            return os.system, (f"touch {marker}",)

    path = tmp_path / "lfw.bin"
    path.write_bytes(pickle.dumps(([Evil()], [True]), protocol=2))
    with pytest.raises(UserError, match="refusing"):
        load_bin(path)
    assert not marker.exists()


def test_bad_bins_are_one_line_user_errors(tmp_path):
    images, _ = digit_faces(2)
    truncated = tmp_path / "t.bin"
    write_bin(truncated, images, [True])
    truncated.write_bytes(truncated.read_bytes()[:100])
    few = tmp_path / "few.bin"
    write_bin(few, images, [True, False])
    junk = tmp_path / "junk.bin"
    with open(junk, "wb") as f:
        pickle.dump(([b"not an image", b"x"], [True]), f)
    for path, fragment in [(truncated, "t.bin"), (few, "2 images for 2 pairs"), (junk, "junk.bin image 0"),
                           (tmp_path / "missing.bin", "not found")]:
        with pytest.raises(UserError) as err:
            load_bin(path)
        assert fragment in str(err.value) and "\n" not in str(err.value)


def test_bin_of_other_size_is_resized_with_a_warning(tmp_path):
    images, _ = digit_faces(2, size=96)
    path = tmp_path / "x.bin"
    write_bin(path, images, [False])
    with pytest.warns(UserWarning, match="not 112"):
        vp = load_bin(path)
    assert vp.images.shape == (2, 112, 112, 3)


def test_recordio_with_header_record_reads_back(tmp_path):
    images, labels = digit_faces(12, size=112)
    order = np.argsort(labels, kind="stable")
    images, labels = images[order], labels[order]
    rec = write_recordio(tmp_path / "train.rec", images, labels)
    assert (tmp_path / "train.idx").is_file()
    lines = (tmp_path / "train.idx").read_text().splitlines()
    assert lines[0] == "0\t0" and all("\t" in ln for ln in lines)
    reader = RecordIO(rec)
    assert len(reader) == 12
    np.testing.assert_array_equal(reader.labels, labels)
    for i in range(12):
        np.testing.assert_array_equal(reader.image(i), images[i])
    # record 0 is insightface's header: flag 2, labels (first identity record, end)
    raw = reader.read(0)
    flag, _, _, _ = struct.unpack_from("<IfQQ", raw)
    first, end = np.frombuffer(raw[24:32], dtype="<f4")
    assert flag == 2 and int(first) == 13 and int(end) == 13 + len(set(labels.tolist()))
    assert isinstance(open_face_data(tmp_path), RecordIO)
    # without train.idx the set is refused by name, not scanned into made-up images
    (tmp_path / "train.idx").unlink()
    with pytest.raises(UserError, match=r"train\.idx is missing"):
        open_face_data(tmp_path)


def test_recordio_without_header_and_with_the_magic_inside_a_payload(tmp_path):
    images, labels = digit_faces(3, size=112)
    rec = write_recordio(tmp_path / "plain.rec", images, labels, header=False)
    reader = RecordIO(rec)
    np.testing.assert_array_equal(reader.labels, labels)
    # a payload holding the magic at an aligned position is split into parts and joined back
    payload = b"abcd" + struct.pack("<I", RECORD_MAGIC) + b"efgh" + struct.pack("<I", RECORD_MAGIC) + b"ij"
    blob = _pack_record(payload)
    assert blob.count(struct.pack("<I", RECORD_MAGIC)) == 3  # three part heads, the magic gone from the parts
    path = tmp_path / "parts.rec"
    path.write_bytes(blob)
    fake = RecordIO.__new__(RecordIO)
    fake.path, fake.size, fake.offsets = path, len(blob), {0: 0}
    assert fake.read(0) == payload


def test_corrupt_recordio_is_one_line_user_error(tmp_path):
    images, labels = digit_faces(3, size=112)
    rec = write_recordio(tmp_path / "train.rec", images, labels)
    data = rec.read_bytes()
    rec.write_bytes(data[: len(data) // 2])
    with pytest.raises(UserError, match="train"):
        RecordIO(rec)
    rec.write_bytes(b"\x00" * 64)
    (tmp_path / "train.idx").write_text("0\t0\n")
    with pytest.raises(UserError, match="not a RecordIO record"):
        RecordIO(rec)


def test_folder_per_identity(tmp_path):
    images, _ = digit_faces(4)
    for k, name in enumerate(["bob", "alice"]):
        (tmp_path / name).mkdir()
        for j in range(2):
            (tmp_path / name / f"{j}.png").write_bytes(encode_image(images[2 * k + j]))
    (tmp_path / "alice" / "notes.txt").write_text("x")
    faces = FaceFolder(tmp_path)
    assert faces.identities == ["alice", "bob"] and faces.labels.tolist() == [0, 0, 1, 1]
    np.testing.assert_array_equal(faces.image(2), images[0])
    (tmp_path / "alice" / "2.png").write_bytes(b"broken")
    with pytest.raises(UserError, match="2.png"):
        FaceFolder(tmp_path).image(2)
    (tmp_path / "empty").mkdir()
    with pytest.raises(UserError, match="no images"):
        FaceFolder(tmp_path / "empty")
