"""`--download`: checksum verification, safe unpacking, and a clean error without network."""

import hashlib
import io
import tarfile
import zipfile

import pytest

from nivalis.data import download
from nivalis.data.download import Archive, extract, fetch
from nivalis.errors import UserError


def test_fetch_verifies_md5(tmp_path):
    src = tmp_path / "src.bin"
    src.write_bytes(b"snow" * 1000)
    good = Archive(src.as_uri(), hashlib.md5(src.read_bytes()).hexdigest(), extract=False)
    dest = tmp_path / "dest"
    dest.mkdir()
    assert fetch(good, dest).read_bytes() == src.read_bytes()
    bad = Archive(src.as_uri(), "0" * 32, extract=False)
    (dest / "src.bin").unlink()
    with pytest.raises(UserError, match="checksum mismatch"):
        fetch(bad, dest)
    assert not any(dest.iterdir())  # no partial file left behind


def test_unreachable_host_is_a_user_error(tmp_path):
    archive = Archive("http://nonexistent.invalid/cifar-10-python.tar.gz", "0" * 32)
    with pytest.raises(UserError, match="cannot download"):
        fetch(archive, tmp_path, timeout=3)


def test_extract_refuses_path_traversal(tmp_path):
    evil = tmp_path / "evil.zip"
    with zipfile.ZipFile(evil, "w") as zf:
        zf.writestr("../outside.txt", "x")
    with pytest.raises(UserError, match="outside"):
        extract(evil, tmp_path / "out")
    good = tmp_path / "good.tar.gz"
    with tarfile.open(good, "w:gz") as tar:
        info = tarfile.TarInfo("cifar-10-batches-py/readme.html")
        info.size = 3
        tar.addfile(info, io.BytesIO(b"abc"))
    extract(good, tmp_path / "out")
    assert (tmp_path / "out" / "cifar-10-batches-py" / "readme.html").read_bytes() == b"abc"


def test_known_archives_are_registered():
    assert set(download._ARCHIVES) >= {"cifar10", "svhn", "gtsrb"}
    assert download._ARCHIVES["cifar10"][0].md5 == "c58f30108f718f92721af3b95e74349a"
