"""Our own face detector (``vision.face_detector: ours``): a small anchor-free CNN trained by
``models/faces/train.py``, run through LiteRT at the frame's own resolution.

Why our own (issue #22): MediaPipe's full-range model sees 192 px, so a back-row face in a 1080p
frame shrinks to a few pixels and the box must tile the frame; its recall on crowd photos stays
near two faces in three. A fully convolutional detector run on the whole frame keeps a 16 px face
16 px wide.

The network predicts, on three grids (strides 8, 16, 32), a face logit, the distances from each
cell centre to the box's four sides (log, in strides) and MediaPipe's six keypoints (offsets from
the cell centre, in strides), so head pose and expression crops work as with MediaPipe. The same
functions here lay out the grids and decode the outputs for training (targets) and for the agent
(detections); nothing in this module imports a model runtime beyond LiteRT.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from edge_agent.inference.tflite import Runtime, interpreter_class

#: Output grids: a cell every ``stride`` input pixels.
STRIDES: tuple[int, ...] = (8, 16, 32)
#: Faces (longer side, input pixels) each grid is taught: overlapping ranges, NMS merges.
SIZE_RANGES: dict[int, tuple[float, float]] = {8: (0.0, 40.0), 16: (28.0, 96.0), 32: (72.0, 1e9)}
N_KEYPOINTS = 6
#: Log-distances are clipped here before ``exp`` (a box at most e^6 strides from its cell).
LOG_CLIP = (-4.0, 6.0)
#: The input side is padded up to a multiple of this (the coarsest stride).
PAD_TO = 32
NMS_IOU = 0.4
#: The default operating point (``vision.min_detection_confidence`` when unset), chosen on our own
#: validation events (WIDER Group + Students_Schoolkids, never trained on): the lowest threshold on a
#: 0.01 grid with precision ≥ 0.97 there (bench/README.md, Faces).
OUR_MIN_SCORE = 0.51


def grid_centres(height: int, width: int, stride: int) -> np.ndarray:
    """(H/stride · W/stride, 2) cell centres (x, y) in input pixels, row-major."""
    gh, gw = -(-height // stride), -(-width // stride)
    ys, xs = np.meshgrid((np.arange(gh) + 0.5) * stride, (np.arange(gw) + 0.5) * stride, indexing="ij")
    return np.stack([xs.ravel(), ys.ravel()], axis=1).astype(np.float32)


def padded_size(height: int, width: int) -> tuple[int, int]:
    """The model input size for an image: each side rounded up to a multiple of ``PAD_TO``."""
    return -(-height // PAD_TO) * PAD_TO, -(-width // PAD_TO) * PAD_TO


def to_input(rgb: np.ndarray, scale: float = 1.0) -> np.ndarray:
    """(1, H', W', 3) float32 RGB in [0, 255]: ``rgb`` resized by ``scale``, zero-padded right and bottom.

    The one preprocessing function of training (crops) and the agent (frames and tiles); the
    network normalises inside.
    """
    import cv2

    img = rgb if scale == 1.0 else cv2.resize(rgb, (max(1, round(rgb.shape[1] * scale)),
                                                     max(1, round(rgb.shape[0] * scale))),
                                              interpolation=cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR)
    h, w = img.shape[:2]
    ph, pw = padded_size(h, w)
    out = np.zeros((1, ph, pw, 3), np.float32)
    out[0, :h, :w] = img
    return out


def decode_level(obj: np.ndarray, box: np.ndarray, kps: np.ndarray, stride: int,
                 min_score: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """One grid's raw outputs (H, W, 1 / 4 / 12) → boxes (K, 4: x1, y1, x2, y2), scores (K,), keypoints
    (K, 6, 2), in input pixels, for cells scoring at least ``min_score``."""
    h, w = obj.shape[:2]
    logits = obj.reshape(-1).astype(np.float32)
    with np.errstate(over="ignore"):
        scores = 1.0 / (1.0 + np.exp(-np.clip(logits, -50, 50)))
    keep = np.flatnonzero(scores >= min_score)
    c = grid_centres(h * stride, w * stride, stride)[keep]
    d = np.exp(np.clip(box.reshape(-1, 4)[keep].astype(np.float32), *LOG_CLIP)) * stride
    boxes = np.stack([c[:, 0] - d[:, 0], c[:, 1] - d[:, 1], c[:, 0] + d[:, 2], c[:, 1] + d[:, 3]], axis=1)
    k = kps.reshape(-1, N_KEYPOINTS, 2)[keep].astype(np.float32) * stride + c[:, None, :]
    return boxes, scores[keep].astype(np.float32), k


def nms(boxes: np.ndarray, scores: np.ndarray, iou_threshold: float = NMS_IOU) -> np.ndarray:
    """Indices kept by greedy NMS over (x1, y1, x2, y2) boxes, best first."""
    order = np.argsort(-scores, kind="stable")
    area = np.clip(boxes[:, 2] - boxes[:, 0], 0, None) * np.clip(boxes[:, 3] - boxes[:, 1], 0, None)
    keep = []
    while len(order):
        i, rest = order[0], order[1:]
        keep.append(i)
        xx1 = np.maximum(boxes[i, 0], boxes[rest, 0])
        yy1 = np.maximum(boxes[i, 1], boxes[rest, 1])
        xx2 = np.minimum(boxes[i, 2], boxes[rest, 2])
        yy2 = np.minimum(boxes[i, 3], boxes[rest, 3])
        inter = np.clip(xx2 - xx1, 0, None) * np.clip(yy2 - yy1, 0, None)
        iou = inter / np.maximum(area[i] + area[rest] - inter, 1e-9)
        order = rest[iou <= iou_threshold]
    return np.array(keep, np.int64)


def decode(outputs: Sequence[tuple[np.ndarray, np.ndarray, np.ndarray]], min_score: float,
           iou_threshold: float = NMS_IOU) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """All grids' raw outputs, in ``STRIDES`` order → NMS-merged boxes, scores and keypoints (input pixels)."""
    parts = [decode_level(o, b, k, s, min_score) for (o, b, k), s in zip(outputs, STRIDES, strict=True)]
    boxes = np.concatenate([p[0] for p in parts])
    scores = np.concatenate([p[1] for p in parts])
    kps = np.concatenate([p[2] for p in parts])
    keep = nms(boxes, scores, iou_threshold) if len(scores) else np.zeros(0, np.int64)
    return boxes[keep], scores[keep], kps[keep]


#: MediaPipe's keypoint order (right eye, left eye, nose tip, mouth, right ear, left ear) in a mirror image.
KEYPOINT_MIRROR = (1, 0, 2, 3, 5, 4)


def unmirror(level: tuple[np.ndarray, np.ndarray, np.ndarray]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """One grid's raw outputs for a mirrored (padded) input → as if for the input itself: cells flipped
    back, left and right box sides swapped, keypoint x offsets negated and sides swapped."""
    obj, box, kps = level
    h, w = kps.shape[:2]
    k = kps[:, ::-1].reshape(h, w, N_KEYPOINTS, 2)[:, :, list(KEYPOINT_MIRROR)] * np.array([-1.0, 1.0], np.float32)
    return obj[:, ::-1], box[:, ::-1][..., [2, 1, 0, 3]], k.reshape(h, w, 2 * N_KEYPOINTS).astype(np.float32)


@dataclass(frozen=True)
class OutputMap:
    """Which LiteRT output tensor is which (the converter does not keep the Keras order)."""

    index: dict[tuple[int, int], int]  # (stride, channels) → output tensor index

    @classmethod
    def of(cls, details: Sequence[dict], input_hw: tuple[int, int]) -> OutputMap:
        index = {}
        for d in details:
            _, h, w, ch = (int(v) for v in d["shape"])
            stride = input_hw[0] // h
            if stride not in STRIDES or ch not in (1, 4, 2 * N_KEYPOINTS) or input_hw[1] // w != stride:
                raise ValueError(f"unexpected output {tuple(d['shape'])} for input {input_hw}")
            index[(stride, ch)] = d["index"]
        if len(index) != 3 * len(STRIDES):
            raise ValueError(f"expected {3 * len(STRIDES)} outputs, found {sorted(index)}")
        return cls(index)


class OurFaceDetector:
    """Our detector on LiteRT: :meth:`detect` answers like the other backends (relative boxes, six keypoints).

    ``scale`` resizes the image before the network (e.g. 2.0 to find faces under 12 px); the input
    tensor is resized to each new image size (cached while frames keep one size). ``flip`` also runs
    the mirrored image and averages the two answers cell by cell (fewer false faces; 2× the time).
    """

    def __init__(self, model_path: Path | str, min_score: float = OUR_MIN_SCORE, scale: float = 1.0,
                 threads: int = 1, runtime: Runtime = "auto", flip: bool = True, version: str | None = None):
        cls = interpreter_class(runtime)
        self.runtime = cls.__module__.split(".")[0]
        self._interp = cls(model_path=str(model_path), num_threads=threads)
        self._inp = self._interp.get_input_details()[0]["index"]
        self._hw: tuple[int, int] | None = None
        self._map: OutputMap | None = None
        self.min_score, self.scale, self.flip = min_score, scale, flip
        self.version = version or Path(model_path).stem

    def raw(self, rgb: np.ndarray) -> list[tuple[np.ndarray, np.ndarray, np.ndarray]]:
        """The raw (obj, box, keypoint) outputs of each grid for an RGB image, in ``STRIDES`` order; with
        ``flip`` the mean of the image's and its mirror's (mirrored back)."""
        x = to_input(rgb, self.scale)
        out = self._invoke(x)
        if not self.flip:
            return out
        return [tuple((a + b) / 2 for a, b in zip(o, unmirror(m), strict=True))
                for o, m in zip(out, self._invoke(np.ascontiguousarray(x[:, :, ::-1])), strict=True)]

    def _invoke(self, x: np.ndarray) -> list[tuple[np.ndarray, np.ndarray, np.ndarray]]:
        hw = (x.shape[1], x.shape[2])
        if hw != self._hw:
            self._interp.resize_tensor_input(self._inp, [1, hw[0], hw[1], 3], strict=False)
            self._interp.allocate_tensors()
            self._map = OutputMap.of(self._interp.get_output_details(), hw)
            self._hw = hw
        assert self._map is not None
        self._interp.set_tensor(self._inp, x)
        self._interp.invoke()
        get = self._interp.get_tensor
        return [(get(self._map.index[(s, 1)])[0], get(self._map.index[(s, 4)])[0],
                 get(self._map.index[(s, 2 * N_KEYPOINTS)])[0]) for s in STRIDES]

    def detect(self, rgb: np.ndarray) -> list[tuple[tuple[float, float, float, float], float,
                                                     tuple[tuple[float, float], ...]]]:
        """Faces as (relative x, y, w, h), score, six relative keypoints."""
        h, w = rgb.shape[:2]
        boxes, scores, kps = decode(self.raw(rgb), self.min_score)
        sx, sy = 1.0 / (w * self.scale), 1.0 / (h * self.scale)
        out = []
        for b, s, k in zip(boxes, scores, kps, strict=True):
            x1, y1 = max(0.0, float(b[0])) * sx, max(0.0, float(b[1])) * sy
            x2, y2 = min(float(b[2]) * sx, 1.0), min(float(b[3]) * sy, 1.0)
            if x2 > x1 and y2 > y1:
                out.append(((x1, y1, x2 - x1, y2 - y1), float(s),
                            tuple((float(px) * sx, float(py) * sy) for px, py in k)))
        return out

    def close(self) -> None:
        self._interp = None
