"""Head pose from face-mesh landmarks with ``cv2.solvePnP`` (faces large enough for a mesh).

Six mesh points (nose tip, chin, outer eye corners, mouth corners) are fitted
to a generic 3-D face. The model is written in camera axes (x to the image's
right, y down, z away from the camera), so the identity rotation is a face
looking straight at the camera, and angles are read off the rotated forward
vector instead of Euler decompositions (no gimbal ambiguity):

* yaw > 0: the face turns toward the image's right (same sign as
  :func:`edge_agent.vision.pose.yaw_pitch_from_keypoints`);
* pitch > 0: the face tilts up;
* roll > 0: the eye line turns clockwise in the image.

Faces under ``mesh_min_face_px`` keep the coarse keypoint pose: a mesh on a
20 px face is mostly guesswork.
"""

from __future__ import annotations

import math

import cv2
import numpy as np

from edge_agent.vision.faces import Box

#: MediaPipe face-mesh indices: nose tip, chin, image-left eye outer corner, image-right eye
#: outer corner, image-left mouth corner, image-right mouth corner.
MESH_IDS = (1, 152, 33, 263, 61, 291)
#: A generic adult face in millimetres, nose tip at the origin, camera axes (y down, z away).
MODEL_3D = np.array([
    (0.0, 0.0, 0.0),
    (0.0, 63.6, 12.5),
    (-43.3, -32.7, 26.0),
    (43.3, -32.7, 26.0),
    (-28.9, 28.9, 24.1),
    (28.9, 28.9, 24.1),
], dtype=np.float64)
#: Side the face is scaled to before the mesh runs.
MESH_FACE_PX = 128


def camera_matrix(width: float, height: float) -> np.ndarray:
    """Pinhole intrinsics for an uncalibrated camera: focal length ≈ image width."""
    return np.array([[width, 0, width / 2], [0, width, height / 2], [0, 0, 1]], dtype=np.float64)


def angles_from_rotation(rot: np.ndarray) -> tuple[float, float, float]:
    """(yaw, pitch, roll) in degrees from a model-to-camera rotation matrix."""
    fx, fy, fz = rot @ np.array([0.0, 0.0, -1.0])  # where the face points
    yaw = math.degrees(math.atan2(fx, -fz))
    pitch = math.degrees(math.atan2(-fy, math.hypot(fx, fz)))
    rx, ry, _ = rot @ np.array([1.0, 0.0, 0.0])  # the eye line
    roll = math.degrees(math.atan2(ry, rx))
    return yaw, pitch, roll


def pose_from_points(points_2d: np.ndarray, width: float, height: float) -> tuple[float, float, float] | None:
    """(yaw, pitch, roll) from the six image points matching :data:`MODEL_3D`, or None if PnP fails."""
    pts = np.asarray(points_2d, dtype=np.float64).reshape(-1, 1, 2)
    ok, rvec, tvec = cv2.solvePnP(MODEL_3D, pts, camera_matrix(width, height), np.zeros(4),
                                  flags=cv2.SOLVEPNP_ITERATIVE)
    if not ok or float(tvec[2][0]) <= 0:
        return None
    rot, _ = cv2.Rodrigues(rvec)
    return angles_from_rotation(rot)


class MeshHeadPose:
    """MediaPipe face mesh (bundled model) on one face crop at a time → solvePnP angles."""

    def __init__(self) -> None:
        import mediapipe as mp

        self._mesh = mp.solutions.face_mesh.FaceMesh(static_image_mode=True, max_num_faces=1,
                                                     refine_landmarks=False, min_detection_confidence=0.4)
        self.version = f"mediapipe-facemesh-{mp.__version__}-pnp"

    def estimate(self, rgb: np.ndarray, face: Box) -> tuple[float, float, float] | None:
        """Angles for the face at ``face`` in an RGB frame, or None when no mesh was found."""
        fh, fw = rgb.shape[:2]
        x, y, w, h = face
        m = 0.45 * max(w, h)
        x0, y0 = int(max(0, x - m)), int(max(0, y - m))
        x1, y1 = int(min(fw, x + w + m)), int(min(fh, y + h + m))
        if x1 - x0 < 8 or y1 - y0 < 8:
            return None
        s = MESH_FACE_PX / max(w, h)
        crop = cv2.resize(rgb[y0:y1, x0:x1], None, fx=s, fy=s, interpolation=cv2.INTER_LINEAR)
        res = self._mesh.process(np.ascontiguousarray(crop))
        if not res.multi_face_landmarks:
            return None
        ch, cw = crop.shape[:2]
        lm = res.multi_face_landmarks[0].landmark
        # back to frame pixels so the intrinsics are the frame's, not the crop's
        pts = np.array([(x0 + lm[i].x * cw / s, y0 + lm[i].y * ch / s) for i in MESH_IDS])
        return pose_from_points(pts, fw, fh)

    def close(self) -> None:
        self._mesh.close()
