"""MediaPipe's full-range face detector (BlazeFace, 192 px) run directly on LiteRT, without its graph.

Why (issue #17): on aarch64 the ``mp.solutions.face_detection`` graph (model_selection=1)
found no faces in frames where x86 found 27, while the same ``.tflite`` file run by
LiteRT gave the x86 answer. Running the model ourselves gives x86 and aarch64 one code
path we can read and test. The model ships inside the pinned ``mediapipe`` wheel and is
loaded from there (never copied into this repository, never downloaded).

Every step mirrors a node of MediaPipe's ``face_detection_full_range`` graph, with its options:

* ``ImageToTensorCalculator`` (keep_aspect_ratio, BORDER_ZERO, range [-1, 1]): the image is
  letterboxed into a centred square and warped to 192×192 with bilinear sampling (:func:`letterbox`);
* ``SsdAnchorsCalculator`` (1 layer, stride 4, offset 0.5, fixed anchor size): 48×48 = 2304
  anchors of size 1 (:func:`anchors`);
* ``TensorsToDetectionsCalculator`` (16 coords = x, y, w, h + 6 keypoints, scale 192, sigmoid
  scores clipped at ±100, min score): :func:`decode`;
* ``NonMaxSuppressionCalculator`` (WEIGHTED, IoU > 0.3): :func:`weighted_nms`;
* ``DetectionProjectionCalculator``: the letterbox is removed (:func:`unletterbox`).
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from edge_agent.inference.tflite import Runtime, interpreter_class, mediapipe_model

#: The model inside the mediapipe package (the graph's ``model_path``).
MODEL = "modules/face_detection/face_detection_full_range_sparse.tflite"
INPUT_PX = 192
STRIDE = 4
ANCHOR_OFFSET = 0.5
N_KEYPOINTS = 6
#: Raw box/keypoint values are in input pixels (x_scale = y_scale = w_scale = h_scale).
COORD_SCALE = 192.0
SCORE_CLIPPING = 100.0
NMS_IOU = 0.3

Rel = tuple[float, float, float, float]  # xmin, ymin, w, h relative to the image


def anchors(input_px: int = INPUT_PX, stride: int = STRIDE, offset: float = ANCHOR_OFFSET) -> np.ndarray:
    """(N, 2) anchor centres (x, y) in [0, 1], row-major as SsdAnchorsCalculator lays them; all of size 1."""
    n = int(np.ceil(input_px / stride))
    ys, xs = np.meshgrid((np.arange(n) + offset) / n, (np.arange(n) + offset) / n, indexing="ij")
    return np.stack([xs.ravel(), ys.ravel()], axis=1).astype(np.float32)


@dataclass(frozen=True)
class Letterbox:
    """The square (image pixels) that became the model input: top-left ``x0, y0`` (≤ 0 on the padded
    side) and ``side``; the image is ``width`` × ``height``."""

    x0: float
    y0: float
    side: float
    width: int
    height: int

    @classmethod
    def of(cls, width: int, height: int) -> Letterbox:
        """The square ImageToTensorCalculator's keep_aspect_ratio pads the whole image to, centred."""
        side = float(max(width, height))
        return cls((width - side) / 2, (height - side) / 2, side, width, height)


def letterbox(rgb: np.ndarray, input_px: int = INPUT_PX) -> tuple[np.ndarray, Letterbox]:
    """(1, input_px, input_px, 3) float32 in [-1, 1] and the square it shows; padding is pixel value 0."""
    h, w = rgb.shape[:2]
    lb = Letterbox.of(w, h)
    x0, y0, s = lb.x0, lb.y0, lb.side
    # The corners of cv::boxPoints(roi) → tensor corners, as the OpenCV converter builds its warp.
    src = np.array([[x0, y0 + s], [x0, y0], [x0 + s, y0], [x0 + s, y0 + s]], np.float32)
    dst = np.array([[0, input_px], [0, 0], [input_px, 0], [input_px, input_px]], np.float32)
    m = cv2.getPerspectiveTransform(src, dst)
    warped = cv2.warpPerspective(rgb, m, (input_px, input_px), flags=cv2.INTER_LINEAR,
                                 borderMode=cv2.BORDER_CONSTANT, borderValue=(0, 0, 0))
    tensor = warped.astype(np.float32) * np.float32(2.0 / 255.0) - np.float32(1.0)
    return tensor[None], lb


def unletterbox(points: np.ndarray, lb: Letterbox) -> np.ndarray:
    """Points (..., 2) relative to the model input → relative to the image (DetectionProjectionCalculator)."""
    p = np.asarray(points, np.float32)
    x = (p[..., 0] * lb.side + lb.x0) / lb.width
    y = (p[..., 1] * lb.side + lb.y0) / lb.height
    return np.stack([x, y], axis=-1)


def to_letterbox(points: np.ndarray, lb: Letterbox) -> np.ndarray:
    """The inverse of :func:`unletterbox`: points relative to the image → relative to the model input."""
    p = np.asarray(points, np.float32)
    x = (p[..., 0] * lb.width - lb.x0) / lb.side
    y = (p[..., 1] * lb.height - lb.y0) / lb.side
    return np.stack([x, y], axis=-1)


def decode(raw_boxes: np.ndarray, raw_scores: np.ndarray, anchor_xy: np.ndarray,
           min_score: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Raw (N, 16) regressors and (N,) logits → boxes (K, 4: xmin, ymin, w, h), scores (K,), keypoints (K, 6, 2).

    Coordinates are relative to the model input. Boxes scoring below ``min_score`` and boxes of
    negative or NaN size are dropped, as TensorsToDetectionsCalculator drops them.
    """
    logits = np.clip(raw_scores.astype(np.float32).reshape(-1), -SCORE_CLIPPING, SCORE_CLIPPING)
    with np.errstate(over="ignore"):  # exp(100) is inf in float32: the score is then 0, as in MediaPipe
        scores = (np.float32(1.0) / (np.float32(1.0) + np.exp(-logits))).astype(np.float32)
    keep = np.flatnonzero(scores >= np.float32(min_score))
    raw = raw_boxes.reshape(len(logits), -1)[keep].astype(np.float32)
    a = anchor_xy[keep]
    cx = raw[:, 0] / COORD_SCALE + a[:, 0]
    cy = raw[:, 1] / COORD_SCALE + a[:, 1]
    w = raw[:, 2] / COORD_SCALE
    h = raw[:, 3] / COORD_SCALE
    boxes = np.stack([cx - w / 2, cy - h / 2, w, h], axis=1)
    kps = raw[:, 4:4 + 2 * N_KEYPOINTS].reshape(-1, N_KEYPOINTS, 2) / COORD_SCALE + a[:, None, :]
    ok = (w >= 0) & (h >= 0)  # False for NaN too
    return boxes[ok], scores[keep][ok], kps[ok]


def _iou(box: np.ndarray, boxes: np.ndarray) -> np.ndarray:
    """IoU of one (xmin, ymin, w, h) box with many; 0 where they do not overlap or the union is empty."""
    x1 = np.maximum(box[0], boxes[:, 0])
    y1 = np.maximum(box[1], boxes[:, 1])
    x2 = np.minimum(box[0] + box[2], boxes[:, 0] + boxes[:, 2])
    y2 = np.minimum(box[1] + box[3], boxes[:, 1] + boxes[:, 3])
    inter = np.clip(x2 - x1, 0, None) * np.clip(y2 - y1, 0, None)
    union = box[2] * box[3] + boxes[:, 2] * boxes[:, 3] - inter
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where((union > 0) & (inter > 0), inter / union, np.float32(0.0))


def weighted_nms(boxes: np.ndarray, scores: np.ndarray, kps: np.ndarray,
                 iou_threshold: float = NMS_IOU) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """MediaPipe's WEIGHTED suppression ("blending"): each cluster (IoU > threshold with its best box)
    becomes one detection whose corners and keypoints are the score-weighted mean of the cluster's and
    whose score is the best one's. Order: descending score."""
    order = np.argsort(-scores, kind="stable")
    out_b, out_s, out_k = [], [], []
    while len(order):
        best = order[0]
        sim = _iou(boxes[best], boxes[order])
        cand, rest = order[sim > iou_threshold], order[sim <= iou_threshold]
        box, kp = boxes[best], kps[best]
        if len(cand):
            wgt = scores[cand][:, None]
            total = float(wgt.sum())
            corners = np.concatenate([boxes[cand, :2], boxes[cand, :2] + boxes[cand, 2:]], axis=1)
            c = (corners * wgt).sum(axis=0) / total
            box = np.array([c[0], c[1], c[2] - c[0], c[3] - c[1]], np.float32)
            kp = (kps[cand] * wgt[:, :, None]).sum(axis=0) / total
        out_b.append(box)
        out_s.append(scores[best])
        out_k.append(kp)
        if len(rest) == len(order):  # the best box overlapped nothing, not even itself (empty box)
            break
        order = rest
    if not out_b:
        return np.zeros((0, 4), np.float32), np.zeros(0, np.float32), np.zeros((0, N_KEYPOINTS, 2), np.float32)
    return np.array(out_b, np.float32), np.array(out_s, np.float32), np.array(out_k, np.float32)


class FullRangeFaceDetector:
    """One interpreter of the full-range model; :meth:`detect` answers as the MediaPipe graph does."""

    def __init__(self, min_score: float = 0.5, threads: int = 1, runtime: Runtime = "auto"):
        import mediapipe as mp

        cls = interpreter_class(runtime)
        self.runtime = cls.__module__.split(".")[0]
        self._interp = cls(model_path=str(mediapipe_model(MODEL)), num_threads=threads)
        self._interp.allocate_tensors()
        inp = self._interp.get_input_details()[0]
        if tuple(inp["shape"]) != (1, INPUT_PX, INPUT_PX, 3):
            raise ValueError(f"unexpected input {tuple(inp['shape'])} in {MODEL}")
        self._inp = inp["index"]
        # Output order is not part of the model's contract: pick by shape (regressors 16 wide, scores 1).
        outs = {int(d["shape"][-1]): d["index"] for d in self._interp.get_output_details()}
        n_coords = 4 + 2 * N_KEYPOINTS
        if set(outs) != {n_coords, 1}:
            raise ValueError(f"unexpected outputs {sorted(outs)} in {MODEL}")
        self._boxes, self._scores = outs[n_coords], outs[1]
        self._anchors = anchors()
        self.min_score = min_score
        self.version = f"{mp.__version__}-litert" + ("" if self.runtime == "ai_edge_litert" else f"-{self.runtime}")

    def raw(self, rgb: np.ndarray) -> tuple[np.ndarray, np.ndarray, Letterbox]:
        """The model's raw (2304, 16) regressors and (2304,) logits for an RGB image, and its letterbox."""
        tensor, lb = letterbox(rgb)
        self._interp.set_tensor(self._inp, tensor)
        self._interp.invoke()
        raw_boxes = self._interp.get_tensor(self._boxes)[0]
        raw_scores = self._interp.get_tensor(self._scores)[0, :, 0]
        if len(raw_boxes) != len(self._anchors):
            raise ValueError(f"{len(raw_boxes)} boxes for {len(self._anchors)} anchors")
        return raw_boxes, raw_scores, lb

    def detect(self, rgb: np.ndarray) -> list[tuple[Rel, float, tuple[tuple[float, float], ...]]]:
        """Faces as (relative box, score, six relative keypoints), like MediaPipe's ``relative_bounding_box``."""
        raw_boxes, raw_scores, lb = self.raw(rgb)
        boxes, scores, kps = weighted_nms(*decode(raw_boxes, raw_scores, self._anchors, self.min_score))
        tl = unletterbox(boxes[:, :2], lb)
        br = unletterbox(boxes[:, :2] + boxes[:, 2:], lb)
        kp = unletterbox(kps, lb)
        return [((float(a[0]), float(a[1]), float(b[0] - a[0]), float(b[1] - a[1])), float(s),
                 tuple((float(x), float(y)) for x, y in k))
                for a, b, s, k in zip(tl, br, scores, kp, strict=True)]

    def close(self) -> None:
        self._interp = None
