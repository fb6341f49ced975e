"""Compose the demo/test classroom video from a public-domain photo (deterministic).

Source face: scikit-image's ``astronaut`` (NASA photo of Eileen Collins, a US-government
work in the public domain). Each "student" is that head, scaled for perspective (front
row ~64 px faces, back row ~26 px in 1280×720), flipped, tinted and lit differently, on a
drawn body behind a desk. Over time some students turn away (back of the head shows),
and hands go up now and then. Run: ``python samples/make_sample_video.py`` (needs the
``dev`` extra for scikit-image). Writes samples/classroom.mp4 and samples/classroom.truth.json.
"""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
from skimage import data

OUT = Path(__file__).resolve().parent
W, H, FPS, SECONDS = 1280, 720, 4, 75
ROWS = [  # (y of face centre, face width px, seats)
    (250, 26, 9), (320, 34, 8), (420, 46, 7), (560, 64, 6),
]


def head_sprite() -> tuple[np.ndarray, np.ndarray]:
    img = cv2.cvtColor(data.astronaut(), cv2.COLOR_RGB2BGR)
    crop = img[10:215, 140:310].copy()  # hair to chin, face ~104 px wide inside
    mask = np.zeros(crop.shape[:2], np.uint8)
    cv2.ellipse(mask, (crop.shape[1] // 2 + 4, crop.shape[0] // 2 + 8), (72, 98), 0, 0, 360, 255, -1)
    mask = cv2.GaussianBlur(mask, (9, 9), 0)
    return crop, mask


def paste(frame: np.ndarray, sprite: np.ndarray, mask: np.ndarray, cx: int, cy: int) -> None:
    h, w = sprite.shape[:2]
    x0, y0 = cx - w // 2, cy - h // 2
    if x0 < 0 or y0 < 0 or x0 + w > frame.shape[1] or y0 + h > frame.shape[0]:
        return
    roi = frame[y0:y0 + h, x0:x0 + w].astype(np.float32)
    a = (mask.astype(np.float32) / 255.0)[..., None]
    frame[y0:y0 + h, x0:x0 + w] = (a * sprite + (1 - a) * roi).astype(np.uint8)


SKIN = (150, 170, 215)


def draw_body(f: np.ndarray, cx: int, cy: int, fw: int, shirt: tuple[int, int, int], raised: bool) -> tuple[int, int]:
    """Shoulders, torso and two arms under a head centred at (cx, cy); the right arm up when ``raised``.

    Proportions follow a seated person closely enough for a pose model to find
    shoulders, elbows and wrists, so the sample exercises hand-raise detection.
    """
    neck_y = cy + int(fw * 0.55)
    shw, t = int(fw * 1.9), max(3, int(fw * 0.38))
    top, bottom = neck_y + fw // 6, neck_y + int(fw * 2.6)
    torso = np.array([[cx - shw // 2, top], [cx + shw // 2, top], [cx + int(shw * 0.45), bottom],
                      [cx - int(shw * 0.45), bottom]], np.int32)
    cv2.fillPoly(f, [torso], shirt)
    for sx, side in ((cx - shw // 2 + t // 2, -1), (cx + shw // 2 - t // 2, 1)):
        cv2.circle(f, (sx, top + t // 2), t // 2 + 1, shirt, -1)
        if raised and side == 1:
            elbow, wrist = (sx + int(fw * 0.5), neck_y - int(fw * 0.3)), (sx + int(fw * 0.4), cy - int(fw * 1.5))
            cv2.line(f, (sx, neck_y + fw // 4), elbow, shirt, t)
            cv2.line(f, elbow, wrist, SKIN, int(t * 0.8))
            cv2.circle(f, wrist, int(t * 0.7), SKIN, -1)
        else:
            elbow, wrist = (sx + side * int(fw * 0.25), neck_y + int(fw * 1.5)), (cx + side * int(fw * 0.3), neck_y + int(fw * 1.9))
            cv2.line(f, (sx, neck_y + fw // 4), elbow, shirt, t)
            cv2.line(f, elbow, wrist, SKIN, int(t * 0.8))
    return shw, bottom - cy


def background() -> np.ndarray:
    bg = np.zeros((H, W, 3), np.uint8)
    for y in range(H):
        bg[y] = (200 - y // 8, 215 - y // 10, 225 - y // 12) if y < 300 else (120, 140, 160)
    cv2.rectangle(bg, (0, 290), (W, 300), (90, 100, 110), -1)
    return bg


def main() -> None:
    rng = np.random.default_rng(2026)
    head, hmask = head_sprite()
    face_frac = 104 / head.shape[1]  # face width / sprite width
    students = []
    for ry, fw, seats in ROWS:
        margin = 140 - fw
        xs = np.linspace(margin + 60, W - margin - 60, seats)
        for x in xs:
            scale = fw / (face_frac * head.shape[1])
            students.append({
                "cx": int(x + rng.integers(-8, 9)), "cy": int(ry + rng.integers(-6, 7)), "scale": scale,
                "fw": fw, "flip": bool(rng.random() < 0.5), "gain": float(rng.uniform(0.75, 1.15)),
                "shirt": tuple(int(c) for c in rng.integers(40, 220, 3)),
                "away": sorted(rng.uniform(0, SECONDS, 2).tolist()) if rng.random() < 0.35 else None,
                "hand": sorted(rng.uniform(0, SECONDS - 6, 1).tolist()) if rng.random() < 0.2 else None,
            })
    bg = background()
    writer = cv2.VideoWriter(str(OUT / "classroom.mp4"), cv2.VideoWriter_fourcc(*"mp4v"), FPS, (W, H))
    truth = []
    for i in range(FPS * SECONDS):
        t = i / FPS
        f = bg.copy()
        facing = 0
        hands = 0
        for s in sorted(students, key=lambda s: s["cy"]):
            sw = max(8, int(head.shape[1] * s["scale"]))
            sh = max(8, int(head.shape[0] * s["scale"]))
            away = s["away"] is not None and s["away"][0] <= t < s["away"][0] + 12
            raised = s["hand"] is not None and s["hand"][0] <= t < s["hand"][0] + 5
            hands += raised
            body_w, body_h = draw_body(f, s["cx"], s["cy"], s["fw"], s["shirt"], raised)
            sprite = cv2.resize(head, (sw, sh), interpolation=cv2.INTER_AREA)
            m = cv2.resize(hmask, (sw, sh), interpolation=cv2.INTER_AREA)
            if s["flip"]:
                sprite, m = sprite[:, ::-1], m[:, ::-1]
            sprite = np.clip(sprite.astype(np.float32) * s["gain"], 0, 255).astype(np.uint8)
            if away:  # back of the head: hair only
                sprite = np.full_like(sprite, (30, 35, 45))
            else:
                facing += 1
            paste(f, sprite, m, s["cx"], s["cy"])
            cv2.rectangle(f, (s["cx"] - body_w // 2 - 6, s["cy"] + body_h - 4),
                          (s["cx"] + body_w // 2 + 6, s["cy"] + body_h + 8), (60, 90, 130), -1)
        writer.write(f)
        truth.append({"t": t, "students": len(students), "facing": facing, "hands_up": hands})
    writer.release()
    (OUT / "classroom.truth.json").write_text(json.dumps({"fps": FPS, "hand_raise_episodes": sum(s["hand"] is not None for s in students),
                                                         "frames": truth}), encoding="utf-8")
    cv2.imwrite(str(OUT.parent / "test-artifacts" / "classroom_frame.png"), f) if (OUT.parent / "test-artifacts").exists() else None
    print(f"{len(students)} students, {FPS * SECONDS} frames")


if __name__ == "__main__":
    main()
