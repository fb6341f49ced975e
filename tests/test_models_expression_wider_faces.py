"""models/expression/wider_faces.py: only valid, large-enough faces outside the held-out events become crops."""

from __future__ import annotations

import cv2
import numpy as np
import pytest


@pytest.fixture(scope="module")
def wider_faces(models_script):
    return models_script("expression/wider_faces.py")


def _row(x: int, y: int, w: int, h: int, invalid: int = 0) -> str:
    return f"{x} {y} {w} {h} 0 0 0 {invalid} 0 0"


def test_crops_keep_valid_large_faces_outside_held_out_events(wider_faces, tmp_path):
    img = np.full((200, 300, 3), 90, np.uint8)
    cv2.rectangle(img, (50, 40), (110, 100), (250, 250, 250), -1)  # the face kept: bright square
    for event, name in (("1--Handshaking", "a.jpg"), ("12--Group", "b.jpg"), ("2--Demonstration", "c.jpg")):
        (tmp_path / event).mkdir()
        cv2.imwrite(str(tmp_path / event / name), img)
    labels = tmp_path / "label.txt"
    labels.write_text("\n".join([
        "1--Handshaking/a.jpg", "3", _row(50, 40, 60, 60), _row(200, 20, 20, 20), _row(150, 100, 50, 50, invalid=1),
        "12--Group/b.jpg", "1", _row(50, 40, 60, 60),      # held-out event: never used
        "2--Demonstration/c.jpg", "0", "0 0 0 0 0 0 0 0 0 0",  # no faces: not even opened
    ]) + "\n")
    x, src = wider_faces.crops(tmp_path, labels, min_px=40)
    assert x.shape == (1, 48, 48) and x.dtype == np.uint8
    assert src == ["1--Handshaking/a.jpg"]
    assert x[0, 24, 24] > 200  # the crop is centred on the face


def test_a_missing_image_is_an_error_not_a_silent_gap(wider_faces, tmp_path):
    labels = tmp_path / "label.txt"
    labels.write_text("1--Handshaking/gone.jpg\n1\n" + _row(10, 10, 60, 60) + "\n")
    with pytest.raises(SystemExit, match="cannot read"):
        wider_faces.crops(tmp_path, labels, min_px=40)
