"""Face quality per frame: is this face image fit to be scored at all?

From what the pipeline already has — the five landmarks and the aligned crop — it measures the face's size,
its head pose (yaw, pitch and roll from the landmarks), the sharpness and exposure of the aligned face, and
how well the landmarks fit the papers' template. Each measure becomes a 0–1 score on a ramp between a limit
where it is unusable (0) and one where it is fine (1); the frame's quality is the worst score, and below
QUALITY_THRESHOLD the frame is a gap (status LOW_QUALITY) with that measure's reason, never a score.

The limits come from measurements on the real clips of FACTS.md §2 (single_face.mp4,
WolfgangLanger_Pexels.mp4, face_noface.mov, noface_face.mov: 24 frames, degraded with OpenCV) and on the
simulated patient; the figures are beside each limit (`benchmarks/face_quality.py` measures them again).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import cv2
import numpy as np

from engine.align import PAPER_SIZE, PAPER_TEMPLATE, similarity_transform

QUALITY_THRESHOLD = 0.5
"""Frames whose quality is below this are not scored."""

# A generic face in units of the inter-ocular distance (IOD), x to the image right, y down, z away from the
# camera, eye midpoint at the origin: MTCNN's nose point sits 0.6 of the way from the eye line to the mouth
# line on frontal real faces (0.53–0.69 on the frontal clips, 0.55 on the simulated patient; the papers'
# template has 0.50), the mouth line 1.15 IOD below the eyes and the corners ±0.41 IOD apart (the template),
# the nose tip 0.45 IOD and the lips 0.2 IOD in front of the eyes (anthropometric depths: ~28 mm and ~13 mm at
# a 63 mm IOD).
_NOSE_DROP = 0.6
_MOUTH_DROP = 1.15
_NOSE_DEPTH = 0.45
_MOUTH_DEPTH = 0.2
_GENERIC_FACE = np.array([[-0.5, 0.0, 0.0], [0.5, 0.0, 0.0], [0.0, _NOSE_DROP * _MOUTH_DROP, -_NOSE_DEPTH],
                          [-0.41, _MOUTH_DROP, -_MOUTH_DEPTH], [0.41, _MOUTH_DROP, -_MOUTH_DEPTH]])
_CAMERA_DISTANCE = 20.0  # IODs: near-orthographic, as a face a metre from a webcam
# Nodding by φ moves the nose along the eye-to-mouth line: its share of the drop to the mouth is
# _PITCH_RATIOS[φ] (monotonic over ±60°).
_PITCHES = np.radians(np.linspace(-60.0, 60.0, 241))
_PITCH_RATIOS = ((_NOSE_DROP * _MOUTH_DROP * np.cos(_PITCHES) + _NOSE_DEPTH * np.sin(_PITCHES))
                 / (_MOUTH_DROP * np.cos(_PITCHES) + _MOUTH_DEPTH * np.sin(_PITCHES)))
_RIGID = [0, 1, 3, 4]  # eyes and mouth corners: symmetric about the nose
_TEMPLATE_IOD = float(np.linalg.norm(PAPER_TEMPLATE[1] - PAPER_TEMPLATE[0]))
_FACE_ROWS = slice(28, 101)  # the face in the papers' 112×96 crop: brows to chin, cheek to cheek
_FACE_COLS = slice(14, 83)


@dataclass(frozen=True)
class Limit:
    """One measure's ramp: `bad` (score 0, at or beyond) to `good` (score 1); `reason` names the problem."""

    reason: str
    bad: float
    good: float

    def score(self, value: float) -> float:
        """0–1: how usable a frame is by this measure."""
        if math.isnan(value):
            return 0.0
        return float(np.clip((value - self.bad) / (self.good - self.bad), 0.0, 1.0))


LIMITS: dict[str, Limit] = {
    # Inter-ocular distance in frame pixels. MTCNN's landmarks drift from where it puts them on the full-size
    # frame by 2–8 % of the IOD at 18–55 px, 2–17 % at 8.5–13 px and up to 19 % at 5.7 px (frames shrunk
    # with INTER_AREA); the papers' template itself has a 35 px IOD.
    "size": Limit("too small", bad=12.0, good=20.0),
    # Degrees from frontal. The real clips: −4.5…+3.8°, the simulated patient −4.7…+2.0°. Beyond ~35° the
    # far eye is foreshortened and MTCNN's landmarks (and the similarity alignment) stop describing the face.
    "yaw": Limit("face turned away", bad=40.0, good=30.0),
    # Frontal clips: −10…+10°; WolfgangLanger looking down +26°. A hand over the mouth pulls MTCNN's mouth
    # points up like a face looking up: WolfgangLanger's frames 96–311 (hand over nose and mouth) read
    # −35…−44°, and are no face to score either.
    "pitch": Limit("face turned away or covered", bad=40.0, good=30.0),
    # Degrees of in-plane tilt: alignment undoes it, but on frames rotated by a known angle the estimate
    # errs by ≤ 3.9° at ±20°, up to 9.4° at ±30°, 10.7° at 40° and 21–24° at 45° (MTCNN's landmarks give
    # way), and MTCNN finds only 16 of 24 faces at 90°.
    "roll": Limit("head tilted", bad=45.0, good=35.0),
    # Variance of the Laplacian over the variance of the grey face (contrast-free). Sharp real faces
    # 0.46–1.17, rendered 1.30–2.08; Gaussian blur σ = 2 px on 70–100 px IOD faces 0.07–0.21, σ = 3 px
    # 0.04–0.11, σ = 5 px 0.02–0.06; faces shrunk to 13 px IOD (then upscaled) 0.07–0.17.
    "sharpness": Limit("blurred", bad=0.06, good=0.14),
    # Mean grey level of the face, 0–255. Normal light 119–147 (rendered faces 115–118, darkest skin ~75);
    # frames × 0.4: 48–55, × 0.25: 29–34, × 0.15: 17–20 (MTCNN still finds them at × 0.1).
    "darkness": Limit("too dark", bad=30.0, good=50.0),
    # Frames × 1.5: 177–203 (still usable), × 2: 219–236, × 3: 221–249 with most of the face clipped.
    "brightness": Limit("too bright", bad=235.0, good=205.0),
    # RMS distance of the landmarks from the template after the similarity fit, in IODs: real faces
    # 0.02–0.19 (broad smiles the most), rendered 0.01–0.06; one mouth corner moved 1.1 IOD out of place
    # (a hand, a mask) 0.30 — the fit absorbs much of a single displaced point.
    "fit": Limit("face partly hidden", bad=0.34, good=0.24),
}
"""Every measure's ramp; the keys are the measures of `FaceQuality.measures`."""


@dataclass(frozen=True)
class FaceQuality:
    """A face's quality: `value` 0–1 (the worst measure's score), `reason` ("" when the face is usable) and
    the measures themselves (keys of LIMITS; yaw, pitch and roll signed, in degrees)."""

    value: float
    reason: str
    measures: dict[str, float]

    @property
    def usable(self) -> bool:
        """True when the face may be scored."""
        return self.value >= QUALITY_THRESHOLD


def head_pose(landmarks: np.ndarray) -> tuple[float, float, float]:
    """Yaw, pitch and roll in degrees from MTCNN's five landmarks (x, y in pixels, MTCNN order), each by the
    estimate that proved steadiest on real faces:

    - roll: the rotation of the least-squares similarity that brings the eyes and mouth corners onto the
      papers' template (positive: the head tilted counter-clockwise as seen, the image-right eye higher);
    - yaw: the generic face above fitted to all five points (cv2.solvePnP from a frontal start; positive:
      turned towards the image right) — it also undoes the tilt of the eye line when the head turns and
      nods at once;
    - pitch: in the upright view, how far down the nose sits between the eyes and the mouth (positive:
      looking down). (The fit's own pitch flips by 30° between frames of one frontal face: five points pin
      the nod down poorly.)
    """
    points = np.asarray(landmarks, dtype=np.float64)
    matrix = similarity_transform(points[_RIGID], PAPER_TEMPLATE[_RIGID]).astype(np.float64)
    roll = math.degrees(math.atan2(float(matrix[1, 0]), float(matrix[0, 0])))
    upright = points @ matrix[:, :2].T + matrix[:, 2]
    middle = (upright[0] + upright[1]) / 2
    nose, mouth = upright[2] - middle, (upright[3] + upright[4]) / 2 - middle
    pitch = (float(np.degrees(np.interp(float(nose[1] / mouth[1]), _PITCH_RATIOS, _PITCHES)))
             if mouth[1] > 0 else math.nan)
    return _fitted_yaw(points), pitch, roll


def _fitted_yaw(points: np.ndarray) -> float:
    """Yaw of the generic face fitted to the landmarks (degrees; NaN when the fit fails)."""
    iod = float(np.linalg.norm(points[1] - points[0]))
    if not iod > 0:
        return math.nan
    focal = _CAMERA_DISTANCE * iod
    centre = points.mean(axis=0)
    camera = np.array([[focal, 0.0, centre[0]], [0.0, focal, centre[1]], [0.0, 0.0, 1.0]])
    frontal = np.array([[0.0], [0.6], [_CAMERA_DISTANCE]])
    found, rotation, _ = cv2.solvePnP(_GENERIC_FACE, points, camera, None, np.zeros((3, 1)), frontal,
                                      useExtrinsicGuess=True, flags=cv2.SOLVEPNP_ITERATIVE)
    if not found:
        return math.nan
    matrix = cv2.Rodrigues(rotation)[0]
    return math.degrees(math.asin(float(np.clip(matrix[2, 0], -1.0, 1.0))))


def assess(landmarks: np.ndarray, paper_crop: np.ndarray) -> FaceQuality:
    """The quality of a face from its five landmarks (frame pixels) and its RGB crop aligned to the papers'
    112×96 template (`align_face(frame, landmarks, PAPER_SIZE)`: the same scale whatever the model's input,
    so that sharpness means the same for every model)."""
    if paper_crop.shape[:2] != PAPER_SIZE:
        raise ValueError(f"quality is measured on the papers' {PAPER_SIZE} crop, got {paper_crop.shape[:2]}")
    points = np.asarray(landmarks, dtype=np.float64)
    matrix = similarity_transform(points, PAPER_TEMPLATE)
    scale = float(np.hypot(matrix[0, 0], matrix[1, 0]))
    fitted = points @ matrix[:, :2].T.astype(np.float64) + matrix[:, 2]
    fit = float(np.sqrt(((fitted - PAPER_TEMPLATE) ** 2).sum(axis=1).mean()) / _TEMPLATE_IOD)
    yaw, pitch, roll = head_pose(points)
    face = cv2.cvtColor(paper_crop, cv2.COLOR_RGB2GRAY).astype(np.float32)[_FACE_ROWS, _FACE_COLS]
    laplacian = cv2.Laplacian(face, cv2.CV_32F)
    luminance = float(face.mean())
    measures = {
        "size": _TEMPLATE_IOD / scale if scale > 0 else 0.0,
        "yaw": yaw, "pitch": pitch, "roll": roll,
        "sharpness": float(laplacian.var() / (face.var() + 1e-3)),
        "darkness": luminance, "brightness": luminance,
        "fit": fit,
    }
    scores = {name: limit.score(abs(measures[name]) if name in ("yaw", "pitch", "roll") else measures[name])
              for name, limit in LIMITS.items()}
    worst = min(scores, key=lambda name: scores[name])
    value = scores[worst]
    return FaceQuality(value, LIMITS[worst].reason if value < QUALITY_THRESHOLD else "", measures)
