"""Procedurally rendered faces driven by FACS action-unit intensities (no Qt, no torch; drawn with OpenCV).

The real MTCNN detects them (FACTS.md §2); `engine.simulated_patient` animates them as a live source and
`train.synth` writes a synthetic twin of UNBC-McMaster with them.

Geometry lives in "face units": origin between the eyes, x to the image right, y down, face half-width 1.
The AUs that build PSPI move what FACS says they move: AU4 lowers and knits the brows (glabellar furrows),
AU6 raises the cheeks (lower lids pushed up, crow's feet), AU7 tightens the lids, AU9 wrinkles the nose and
lifts the nostrils, AU10 raises the upper lip (upper teeth show), AU43 closes the eyes. AU12 (smile), AU25
(lips part) and AU26 (jaw drop) move the face too but do not count: a model must learn which changes matter.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache

import cv2
import numpy as np

from engine.pspi import MAX_INTENSITY, PSPI_AUS

DISTRACTOR_AUS = (12, 25, 26)
"""AUs the renderer moves that are not part of PSPI."""

BGR = tuple[int, int, int]


# --------------------------------------------------------------------------------------------- identity


@dataclass(frozen=True)
class Pose:
    """Head pose relative to the identity's framing: shift (fractions of frame width / height), scale
    factor, in-plane roll (degrees) and a small yaw (-1..1; features slide sideways by their depth)."""

    dx: float = 0.0
    dy: float = 0.0
    scale: float = 1.0
    roll: float = 0.0
    yaw: float = 0.0


NEUTRAL_POSE = Pose()


@dataclass(frozen=True)
class Identity:
    """Everything that makes one simulated person look like themselves. Lengths are in face units."""

    face_width: float  # horizontal half-width of the cheeks (1 ≈ average)
    chin: float  # chin height below the eye line
    jaw_square: float  # superellipse exponent of the jaw: 2 round … 3 square
    crown: float  # top of the skull above the eye line
    skin: BGR
    eye_dx: float  # half the distance between the eye centres
    eye_w: float  # eye half-width
    eye_h: float  # upper-lid height above the corner line
    eye_tilt: float  # outer corner raised by this much
    iris: BGR
    brow_y: float  # brow height (negative: above the eye line)
    brow_arch: float
    brow_thick: float
    brow_gap: float  # half the gap between the inner brow ends
    brow_color: BGR
    nose_len: float
    nose_w: float
    mouth_y: float
    mouth_w: float
    lip_upper: float
    lip_lower: float
    lip_color: BGR
    hair_color: BGR
    hair_style: int  # 0 short, 1 long, 2 receding, 3 fringe
    hairline: float
    wall_top: BGR
    wall_bottom: BGR
    pillow: BGR
    gown: BGR
    light_angle: float  # direction the light comes from, radians in the image plane
    light_strength: float
    brightness: float
    tint: tuple[float, float, float]  # per-channel (B, G, R) gain of the room light
    face_scale: float  # face half-width in pixels as a fraction of the frame height
    center_x: float  # framing: eye midpoint as fractions of frame width / height
    center_y: float


_SKIN_TONES = np.array(  # BGR, light to dark
    [(185, 205, 240), (150, 180, 225), (120, 155, 200), (95, 130, 180), (70, 100, 150), (45, 68, 110)],
    dtype=np.float64,
)
_HAIR_COLORS: tuple[BGR, ...] = (
    (25, 25, 30), (30, 45, 70), (40, 70, 110), (80, 140, 190), (150, 150, 155), (40, 60, 140), (15, 15, 15),
)
_IRIS_COLORS: tuple[BGR, ...] = ((30, 60, 90), (20, 40, 60), (140, 110, 60), (90, 120, 70), (60, 90, 110))
_WALLS: tuple[BGR, ...] = (
    (225, 230, 235), (210, 220, 200), (235, 225, 205), (190, 200, 205), (200, 215, 225), (160, 165, 170),
)
_GOWNS: tuple[BGR, ...] = ((190, 160, 120), (170, 190, 150), (215, 210, 205), (180, 150, 160), (140, 120, 90))


def _pick(rng: np.random.Generator, options: tuple[BGR, ...]) -> BGR:
    return options[int(rng.integers(len(options)))]


def _jitter(rng: np.random.Generator, color: BGR, amount: float) -> BGR:
    b, g, r = (int(np.clip(c + rng.normal(0, amount), 0, 255)) for c in color)
    return (b, g, r)


def random_identity(rng: np.random.Generator) -> Identity:
    """Draw a new person: face shape, skin tone, features, hair, background, lighting and framing."""
    u = rng.uniform
    tone = u(0, len(_SKIN_TONES) - 1)
    low = int(tone)
    high = min(low + 1, len(_SKIN_TONES) - 1)
    skin_f = _SKIN_TONES[low] + (tone - low) * (_SKIN_TONES[high] - _SKIN_TONES[low])
    skin = _jitter(rng, (int(skin_f[0]), int(skin_f[1]), int(skin_f[2])), 6)
    darkness = tone / (len(_SKIN_TONES) - 1)
    hair = _pick(rng, _HAIR_COLORS) if darkness < 0.5 else _pick(rng, _HAIR_COLORS[:3] + _HAIR_COLORS[-1:])
    brow = tuple(int(c * 0.8) for c in hair) if sum(hair) < 300 else (60, 80, 110)
    lip = tuple(int(c) for c in np.clip(np.array(skin) * (0.78, 0.72, 0.95) - (5, 5, 0), 0, 255))
    wall = _pick(rng, _WALLS)
    return Identity(
        face_width=u(0.92, 1.06),
        chin=u(1.25, 1.5),
        jaw_square=u(2.0, 2.9),
        crown=u(1.3, 1.5),
        skin=skin,
        eye_dx=u(0.38, 0.45),
        eye_w=u(0.15, 0.19),
        eye_h=u(0.075, 0.1),
        eye_tilt=u(-0.01, 0.04),
        iris=_pick(rng, _IRIS_COLORS) if darkness < 0.4 else _IRIS_COLORS[1],
        brow_y=u(-0.33, -0.26),
        brow_arch=u(0.03, 0.08),
        brow_thick=u(0.05, 0.08),
        brow_gap=u(0.12, 0.17),
        brow_color=(int(brow[0]), int(brow[1]), int(brow[2])),
        nose_len=u(0.48, 0.58),
        nose_w=u(0.14, 0.19),
        mouth_y=u(0.9, 1.02),
        mouth_w=u(0.3, 0.38),
        lip_upper=u(0.05, 0.08),
        lip_lower=u(0.07, 0.11),
        lip_color=(int(lip[0]), int(lip[1]), int(lip[2])),
        hair_color=hair,
        hair_style=int(rng.integers(4)),
        hairline=u(-0.85, -0.68),
        wall_top=_jitter(rng, wall, 8),
        wall_bottom=_jitter(rng, _shade(wall, 0.85), 8),
        pillow=_jitter(rng, (235, 238, 240), 6),
        gown=_jitter(rng, _pick(rng, _GOWNS), 8),
        light_angle=u(0, 2 * math.pi),
        light_strength=u(0.05, 0.25),
        brightness=u(0.85, 1.08),
        tint=(u(0.92, 1.06), u(0.96, 1.03), u(0.94, 1.08)),
        face_scale=u(0.23, 0.28),
        center_x=u(0.45, 0.55),
        center_y=u(0.42, 0.48),
    )


# --------------------------------------------------------------------------------------------- geometry


def _intensity(aus: dict[int, float], au: int) -> float:
    """AU intensity as a 0..1 fraction (AU43: degree of eye closure, present = closed)."""
    value = float(aus.get(au, 0.0))
    if au == 43:
        return min(max(value, 0.0), 1.0)
    return min(max(value / MAX_INTENSITY, 0.0), 1.0)


@dataclass
class _Face:
    """Face-unit geometry of one expression: the 66 AAM-style landmarks plus the curves drawn around them."""

    landmarks: np.ndarray  # (66, 2)
    eyes: list[tuple[np.ndarray, np.ndarray]]  # per eye: upper lid curve, lower lid curve (left→right)
    mouth_open: float  # largest vertical gap between the inner lips
    a: dict[int, float]  # 0..1 intensities


def _eye_curves(idt: Identity, side: int, a: dict[int, float]) -> tuple[np.ndarray, np.ndarray]:
    """Upper and lower lid curves (17 points each, image-left to image-right) of one eye."""
    cx = side * idt.eye_dx
    x = np.linspace(-1.0, 1.0, 17)
    base = -idt.eye_tilt * np.clip(x * side, 0, None)  # the outer corner is raised by the tilt
    upper_open = idt.eye_h * max(0.15, 1 - 0.3 * a[7] - 0.22 * a[4] - 0.12 * a[9] - 0.12 * a[6])
    lower_open = idt.eye_h * 0.55 * max(0.05, 1 - 0.75 * a[7] - 0.55 * a[6])
    lower_lift = idt.eye_h * (0.25 * a[6] + 0.2 * a[7])  # tightened / pushed-up lower lid rises
    bulge = np.clip(1 - x**2, 0, None)
    lower = base + lower_open * bulge**0.9 - lower_lift * bulge
    upper = base - upper_open * bulge**0.7
    closed = a[43]
    if closed > 0:  # the upper lid comes down onto the lower lid
        upper = upper + closed * (lower + 0.15 * idt.eye_h * bulge - upper)
    xs = cx + x * idt.eye_w
    return np.stack([xs, upper], 1), np.stack([xs, lower], 1)


def _geometry(idt: Identity, aus: dict[int, float]) -> _Face:
    a = {au: _intensity(aus, au) for au in PSPI_AUS + DISTRACTOR_AUS}
    pts = np.zeros((66, 2))
    # jaw 0..16: lower half of a superellipse from the image-left temple round the chin
    theta = np.linspace(-math.pi / 2, math.pi / 2, 17)
    top = 0.05
    depth = idt.chin - top + 0.12 * a[26]
    e = 2.0 / idt.jaw_square
    pts[0:17, 0] = idt.face_width * np.sign(np.sin(theta)) * np.abs(np.sin(theta)) ** e
    pts[0:17, 1] = top + depth * np.abs(np.cos(theta)) ** e
    # brows 17..21 (image-left, outer→inner) and 22..26 (image-right, inner→outer)
    u = np.linspace(0.0, 1.0, 5)  # 0 outer … 1 inner
    arch = idt.brow_arch * (1 - 0.6 * a[4])
    brow_y = idt.brow_y - arch * 4 * (0.05 + 0.9 * u) * (0.95 - 0.9 * u)
    drop = a[4] * (0.05 + 0.12 * u) + a[9] * 0.05 * u + a[6] * 0.025 * (1 - u) + a[7] * 0.015
    outer_x = idt.eye_dx + idt.eye_w + 0.07
    inner_x = idt.brow_gap - 0.06 * a[4]
    bx = outer_x + (inner_x - outer_x) * u
    pts[17:22] = np.stack([-bx, brow_y + drop], 1)
    pts[22:27] = np.stack([bx[::-1], (brow_y + drop)[::-1]], 1)
    # nose 27..30 bridge, 31..35 base
    nl = idt.nose_len
    pts[27:31] = [(0, -0.05), (0, nl * 0.33), (0, nl * 0.66), (0, nl - 0.02 * a[9])]
    lift = 0.07 * a[9] + 0.035 * a[10]
    nw = idt.nose_w * (1 + 0.18 * a[9] + 0.08 * a[10])
    base = nl + 0.07 - lift
    pts[31:36] = [(-nw, base - 0.05), (-nw / 2, base), (0, base + 0.02), (nw / 2, base), (nw, base - 0.05)]
    # eyes 36..41 and 42..47: corner, two upper, corner, two lower (clockwise from the image-left corner)
    eyes = [_eye_curves(idt, -1, a), _eye_curves(idt, 1, a)]
    for start, (upper, lower) in zip((36, 42), eyes, strict=True):
        pts[start] = upper[0]
        pts[start + 1] = upper[5]
        pts[start + 2] = upper[11]
        pts[start + 3] = upper[16]
        pts[start + 4] = lower[11]
        pts[start + 5] = lower[5]
    # mouth 48..59 outer lips, 60..65 inner lips (the 66-point AAM drops the two inner corners)
    mw = idt.mouth_w * (1 + 0.22 * a[12] - 0.05 * a[10])
    corner_y = idt.mouth_y - 0.11 * a[12] + 0.02 * a[26]
    xs = np.array([-1.0, -0.6, -0.25, 0.0, 0.25, 0.6, 1.0])
    taper = np.sqrt(np.clip(1 - xs**2, 0, None))
    line = corner_y + (idt.mouth_y - corner_y) * (1 - xs**2)  # smile curves the lip line up at the corners
    raise_ = (0.13 * a[10] + 0.05 * a[9]) * taper**0.5  # AU10/AU9 lift the upper lip, most in the middle
    gap = (0.07 * a[25] ** 0.7 + 0.16 * a[26]) * taper  # lips part, jaw drops
    thin = 1 - 0.35 * a[12]
    ul = idt.lip_upper * thin * np.array([0, 0.75, 1.1, 0.85, 1.1, 0.75, 0])
    ll = idt.lip_lower * thin * np.array([0, 0.8, 1.0, 1.05, 1.0, 0.8, 0])
    inner_top = line - raise_ - 0.3 * gap
    inner_bottom = line + 0.7 * gap
    outer_top = inner_top - ul
    outer_bottom = inner_bottom + ll
    mx = xs * mw
    pts[48:55] = np.stack([mx, outer_top], 1)
    pts[55:60] = np.stack([mx[5:0:-1], outer_bottom[5:0:-1]], 1)
    pts[60:63] = np.stack([mx[2:5], inner_top[2:5]], 1)
    pts[63:66] = np.stack([mx[4:1:-1], inner_bottom[4:1:-1]], 1)
    mouth_open = float(np.max(inner_bottom - inner_top))
    return _Face(landmarks=pts, eyes=eyes, mouth_open=mouth_open, a=a)


# --------------------------------------------------------------------------------------------- drawing


def _at(point: np.ndarray, dx: float, dy: float) -> np.ndarray:
    """`point` moved by (dx, dy) face units."""
    return np.add(point, (dx, dy))


class _Canvas:
    """Draws face-unit shapes onto a BGR image through the pose's similarity transform.

    depth (0 at the face outline, 1 at the nose tip) makes features slide sideways with the yaw.
    """

    SHIFT = 4  # sub-pixel bits for OpenCV drawing

    def __init__(self, img: np.ndarray, center: tuple[float, float], scale: float, pose: Pose):
        self.img = img
        self.scale = scale
        c, s = math.cos(math.radians(pose.roll)), math.sin(math.radians(pose.roll))
        self.matrix = np.array([[c * scale, -s * scale, center[0]], [s * scale, c * scale, center[1]]])
        self.yaw = pose.yaw

    def to_image(self, pts: np.ndarray, depth: float | np.ndarray = 0.0) -> np.ndarray:
        p = np.asarray(pts, dtype=np.float64).reshape(-1, 2).copy()
        p[:, 0] += _YAW_PARALLAX * self.yaw * np.asarray(depth)
        return p @ self.matrix[:, :2].T + self.matrix[:, 2]

    def _fixed(self, pts: np.ndarray, depth: float) -> np.ndarray:
        return np.round(self.to_image(pts, depth) * (1 << self.SHIFT)).astype(np.int32)

    def poly(self, pts: np.ndarray, color: BGR, depth: float = 0.0) -> None:
        cv2.fillPoly(self.img, [self._fixed(pts, depth)], color, cv2.LINE_AA, self.SHIFT)

    def line(self, pts: np.ndarray, color: BGR, width: float, depth: float = 0.0) -> None:
        thickness = max(1, round(width * self.scale))
        cv2.polylines(self.img, [self._fixed(pts, depth)], False, color, thickness, cv2.LINE_AA, self.SHIFT)

    def ellipse(self, center: tuple[float, float], axes: tuple[float, float], color: BGR, *,
                depth: float = 0.0, angle: float = 0.0) -> None:
        self.poly(_ellipse_points(center, axes, angle=angle), color, depth)


_YAW_PARALLAX = 0.2  # sideways shift (face units) of a feature at depth 1 for yaw 1


def _ellipse_points(center: tuple[float, float], axes: tuple[float, float], *, angle: float = 0.0,
                    upper_half: bool = False, n: int = 40) -> np.ndarray:
    """Points round an ellipse (or over its upper half, image-left to image-right)."""
    t = np.linspace(math.pi, 2 * math.pi, n) if upper_half else np.linspace(0, 2 * math.pi, n, endpoint=False)
    x, y = axes[0] * np.cos(t), axes[1] * np.sin(t)
    ca, sa = math.cos(angle), math.sin(angle)
    return np.stack([center[0] + ca * x - sa * y, center[1] + sa * x + ca * y], 1)


def _shade(color: BGR, factor: float) -> BGR:
    b, g, r = (int(min(255, max(0, c * factor))) for c in color)
    return (b, g, r)


def _mix(c1: BGR, c2: BGR, t: float) -> BGR:
    b, g, r = (int(x + (y - x) * t) for x, y in zip(c1, c2, strict=True))
    return (b, g, r)


@lru_cache(maxsize=64)
def _scene(idt: Identity, size: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
    """Static background (wall gradient and pillow) and the room-light gain map, per identity and size."""
    w, h = size
    t = np.linspace(0.0, 1.0, h)[:, None, None]
    bg = (np.array(idt.wall_top) * (1 - t) + np.array(idt.wall_bottom) * t).repeat(w, 1).astype(np.uint8)
    cx, cy = idt.center_x * w, idt.center_y * h
    canvas = _Canvas(bg, (cx, cy), idt.face_scale * h, NEUTRAL_POSE)
    pillow = _ellipse_points((0.0, 0.9), (2.3, 1.9))
    canvas.poly(np.clip(pillow, (-9, -9), (9, 2.4)), _shade(idt.pillow, 0.93))
    canvas.poly(np.clip(pillow * 0.95, (-9, -9), (9, 2.4)), idt.pillow)
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    ramp = ((xx - cx) * math.cos(idt.light_angle) + (yy - cy) * math.sin(idt.light_angle)) / (0.5 * max(w, h))
    vignette = 1 - 0.15 * (((xx - w / 2) / w) ** 2 + ((yy - h / 2) / h) ** 2)
    gain = (idt.brightness * (1 + idt.light_strength * np.clip(ramp, -1, 1)) * vignette)[..., None]
    return bg, (gain * np.array(idt.tint, dtype=np.float32)).astype(np.float32)


def _draw_body(cv: _Canvas, idt: Identity) -> None:
    """Long hair behind the head, neck, gown and ears."""
    w = idt.face_width
    if idt.hair_style == 1:
        back = np.concatenate([
            _ellipse_points((0.0, -0.05), (w * 1.22, idt.crown + 0.12), upper_half=True, n=30),
            [(w * 1.3, 1.2), (w * 1.05, 1.75), (-w * 1.05, 1.75), (-w * 1.3, 1.2)],
        ])
        cv.poly(back, _shade(idt.hair_color, 0.8))
    cv.poly(np.array([(-0.45, 0.6), (0.45, 0.6), (0.52, 2.4), (-0.52, 2.4)]), _shade(idt.skin, 0.72))
    cv.ellipse((0.0, 2.75), (2.1, 0.85), idt.gown)
    cv.poly(np.array([(-0.5, 2.0), (0.5, 2.0), (0.0, 2.35)]), _shade(idt.skin, 0.8))
    for side in (-1, 1):
        cv.ellipse((side * w * 0.97, 0.12), (0.12, 0.22), _shade(idt.skin, 0.88), angle=-0.3 * side)
        cv.ellipse((side * w * 0.99, 0.12), (0.06, 0.13), _shade(idt.skin, 0.7), angle=-0.3 * side)


def _draw_face(cv: _Canvas, idt: Identity, face: _Face) -> None:
    """Head with rim shading, cheeks (raised by AU6) and nasolabial folds (deepened by AU9/10/6/12)."""
    skull = _ellipse_points((0.0, 0.05), (idt.face_width, idt.crown + 0.05), upper_half=True, n=30)
    outline = np.concatenate([face.landmarks[0:17], skull[::-1][1:-1]])
    cv.poly(outline, _shade(idt.skin, 0.82))
    cv.poly(_at(outline * (0.93, 0.95), 0.03 * math.cos(idt.light_angle + math.pi), -0.02), idt.skin)
    a = face.a
    lm = face.landmarks
    for side in (-1, 1):
        cheek_y = 0.42 - 0.12 * a[6]
        cv.ellipse((side * 0.52, cheek_y), (0.22, 0.16), _mix(idt.skin, idt.lip_color, 0.18), depth=0.5)
        if a[6] > 0:  # the raised cheek bulges under the eye
            cv.ellipse((side * 0.48, cheek_y - 0.04), (0.12 + 0.08 * a[6], 0.12),
                       _shade(idt.skin, 1 + 0.07 * a[6]), depth=0.5, angle=0.5 * side)
        wing, corner = (lm[35], lm[54]) if side > 0 else (lm[31], lm[48])
        fold = np.array([_at(wing, side * 0.06, -0.02), _at(wing, side * 0.14, 0.14),
                         _at(corner, side * 0.1, 0.08)])
        deep = 0.15 + 0.45 * max(a[10], a[9]) + 0.25 * a[6] + 0.2 * a[12]
        cv.line(fold, _shade(idt.skin, 1 - 0.28 * deep), 0.018 + 0.02 * deep, depth=0.6)


def _draw_hair(cv: _Canvas, idt: Identity) -> None:
    w = idt.face_width * 1.03
    if idt.hair_style == 2:  # receding: hair only on the sides
        for side in (-1, 1):
            patch = [(w, -0.2), (w, -0.75), (0.7, -1.05), (0.8, -0.5), (0.92, -0.15)]
            cv.poly(np.array(patch) * (side, 1), idt.hair_color)
        return
    hairline = idt.hairline + (0.16 if idt.hair_style == 3 else 0.0)
    skull = _ellipse_points((0.0, 0.02), (w, idt.crown + 0.08), upper_half=True, n=30)
    x = np.linspace(w * 0.98, -w * 0.98, 24)
    edge = hairline + 0.35 * (np.abs(x) / w) ** 3
    if idt.hair_style == 3:  # a fringe with a wavy edge
        edge = edge + 0.04 * np.abs(np.sin(x * 9))
    cv.poly(np.concatenate([skull, np.stack([x, np.minimum(edge, -0.12)], 1)]), idt.hair_color)


_EYE_WHITE: BGR = (225, 232, 236)


def _draw_eyeball(cv: _Canvas, idt: Identity, upper: np.ndarray, lower: np.ndarray) -> None:
    """Eye white, iris, pupil and glint, clipped to the lids' opening."""
    aperture = cv.to_image(np.concatenate([upper, lower[::-1]]), 0.5)
    h, w = cv.img.shape[:2]
    x0, y0 = np.maximum(np.floor(aperture.min(0)).astype(int) - 1, 0)
    x1, y1 = np.minimum(np.ceil(aperture.max(0)).astype(int) + 2, (w, h))
    if x1 <= x0 or y1 <= y0:
        return
    roi = cv.img[y0:y1, x0:x1]
    mask = np.zeros(roi.shape[:2], np.uint8)
    one = 1 << _Canvas.SHIFT
    outline = np.round((aperture - (x0, y0)) * one).astype(np.int32)
    cv2.fillPoly(mask, [outline], 255, cv2.LINE_AA, _Canvas.SHIFT)
    eye = np.empty_like(roi)
    eye[:] = _EYE_WHITE
    middle = (upper[0] + upper[-1]) / 2
    iris = cv.to_image(_at(middle, 0.0, 0.005), 0.5)[0] - (x0, y0)
    radius = idt.eye_w * 0.58 * cv.scale
    glint = iris - (0.3 * radius, 0.35 * radius)
    for center, r, color in ((iris, radius, idt.iris), (iris, radius * 0.45, (15, 15, 15)),
                             (glint, max(1.0, radius * 0.18), (245, 245, 245))):
        cv2.circle(eye, tuple(np.round(center * one).astype(int)), round(r * one), color, -1, cv2.LINE_AA,
                   _Canvas.SHIFT)
    alpha = (mask.astype(np.float32) / 255.0)[..., None]
    roi[:] = (roi * (1 - alpha) + eye * alpha).astype(np.uint8)


def _draw_eye(cv: _Canvas, idt: Identity, face: _Face, side: int) -> None:
    """One eye: socket shadow, eyeball, lids and lashes, the AU6/AU7 furrow and AU6 crow's feet."""
    a = face.a
    upper, lower = face.eyes[0 if side < 0 else 1]
    middle = (upper[0] + upper[-1]) / 2
    cv.ellipse((middle[0], middle[1] - 0.07), (idt.eye_w * 1.25, idt.eye_h * 1.3 + 0.02),
               _shade(idt.skin, 0.9 - 0.08 * a[4]), depth=0.4)  # deeper as the brow comes down
    if np.max(lower[:, 1] - upper[:, 1]) > 0.012:
        _draw_eyeball(cv, idt, upper, lower)
    cv.line(upper, _shade(idt.brow_color, 0.6), 0.028 + 0.006 * a[43], depth=0.5)
    cv.line(lower, _shade(idt.skin, 0.72), 0.012, depth=0.5)
    crease = _at(upper[3:-3], 0.0, -idt.eye_h * 0.6 * (1 - 0.6 * a[4]) - 0.02)
    cv.line(crease, _shade(idt.skin, 0.78), 0.012, depth=0.45)
    tension = max(a[6], a[7])
    if tension > 0:  # furrow under the pushed-up lower lid
        furrow = _at(lower[2:-2], 0.0, 0.05 + 0.02 * (1 - tension))
        cv.line(furrow, _shade(idt.skin, 1 - 0.3 * tension), 0.015 + 0.012 * tension, depth=0.5)
    if a[6] > 0:  # crow's feet fanning out from the outer corner
        outer = upper[0] if side < 0 else upper[-1]
        for k in (-1, 0, 1):
            ray = np.array([_at(outer, side * 0.035, 0.02 * k),
                            _at(outer, side * (0.1 + 0.05 * a[6]), 0.07 * k - 0.01)])
            cv.line(ray, _shade(idt.skin, 1 - 0.35 * a[6]), 0.014 + 0.01 * a[6], depth=0.4)


def _draw_brows(cv: _Canvas, idt: Identity, face: _Face) -> None:
    """Brows, tapering outwards, and the AU4 furrows between them."""
    a = face.a
    lm = face.landmarks
    if a[4] > 0:
        furrow = _shade(idt.skin, 1 - 0.4 * a[4])
        for k, inner in ((-1, lm[21]), (1, lm[22])):
            x = k * (0.045 + 0.03 * (1 - a[4]))
            top = inner[1] - 0.08
            line = np.array([(x, top), (x * 0.8, top + 0.05 + 0.1 * a[4])])
            cv.line(line, furrow, 0.014 + 0.014 * a[4], depth=0.6)
        cv.ellipse((0.0, lm[21, 1] - 0.02), (0.12, 0.05 + 0.03 * a[4]), _shade(idt.skin, 1 - 0.08 * a[4]),
                   depth=0.6)
    half = idt.brow_thick / 2 * np.array([0.55, 0.8, 0.95, 1.0, 1.0])
    for brow in (lm[17:22], lm[22:27][::-1]):  # outer → inner
        top = brow - np.stack([np.zeros(5), half], 1)
        bottom = brow + np.stack([np.zeros(5), half], 1)
        cv.poly(np.concatenate([top, bottom[::-1]]), idt.brow_color, depth=0.55)


def _draw_nose(cv: _Canvas, idt: Identity, face: _Face) -> None:
    """Bridge shading, AU9 wrinkles, tip, wings and nostrils (lifted and flared by AU9/AU10)."""
    a = face.a
    lm = face.landmarks
    for side, wing in ((-1, lm[31]), (1, lm[35])):
        bridge = np.array([(side * 0.09, 0.02), (side * 0.1, 0.3), _at(wing, 0.0, -0.06)])
        cv.line(bridge, _shade(idt.skin, 0.84), 0.035, depth=0.75)
    if a[9] > 0:
        for k in range(3):
            y, half = 0.06 + 0.09 * k, 0.07 + 0.02 * k
            wrinkle = np.array([(-half, y + 0.02), (0.0, y), (half, y + 0.02)])
            cv.line(wrinkle, _shade(idt.skin, 1 - 0.45 * a[9]), 0.014 + 0.016 * a[9], depth=0.8)
    cv.ellipse((lm[30, 0], lm[30, 1] + 0.01), (idt.nose_w * 0.62, 0.07), _shade(idt.skin, 1.06), depth=1.0)
    for side, wing, base in ((-1, lm[31], lm[32]), (1, lm[35], lm[34])):
        cv.ellipse((wing[0] - side * 0.01, wing[1] + 0.005), (0.055, 0.05), _shade(idt.skin, 0.93),
                   depth=0.85)
        nostril = (wing + base) / 2
        cv.ellipse((nostril[0], nostril[1] - 0.005), (0.045 * (1 + 0.4 * a[9]), 0.022 + 0.008 * a[9]),
                   _shade(idt.skin, 0.45), depth=0.9, angle=side * 0.35)


def _draw_mouth(cv: _Canvas, idt: Identity, face: _Face) -> None:
    """Philtrum, chin shadow, lips; when they part, the mouth's inside and the upper teeth."""
    lm = face.landmarks
    inner_top = np.concatenate([lm[48:49], lm[60:63], lm[54:55]])
    inner_bottom = np.concatenate([lm[54:55], lm[63:66], lm[48:49]])
    philtrum = np.array([_at(lm[33], 0.0, 0.03), _at(lm[51], 0.0, -0.02)])
    cv.line(philtrum, _shade(idt.skin, 0.9), 0.05, depth=0.75)
    cv.ellipse((0.0, (lm[57, 1] + lm[8, 1]) / 2 + 0.03), (0.17, 0.06), _shade(idt.skin, 0.9), depth=0.6)
    cv.poly(lm[48:60], idt.lip_color, depth=0.7)
    if face.mouth_open > 0.01:
        cv.poly(np.concatenate([inner_top, inner_bottom[1:-1]]), (35, 30, 70), depth=0.7)
        gum_line = inner_top[1:-1]
        tooth_edge = _at(gum_line, 0.0, 0.06)[::-1]
        tooth_edge[:, 1] = np.minimum(tooth_edge[:, 1], inner_bottom[1:-1, 1] - 0.005)
        cv.poly(np.concatenate([gum_line, tooth_edge]), (215, 225, 230), depth=0.7)
        cv.line(inner_top, _shade(idt.lip_color, 0.7), 0.014, depth=0.7)
    else:
        cv.line(inner_top, _shade(idt.lip_color, 0.5), 0.02, depth=0.7)
    cv.poly(np.concatenate([lm[48:55], inner_top[::-1][1:-1]]), _shade(idt.lip_color, 0.92), depth=0.7)


_NOISE_MARGIN = 64
_NOISE_SIGMA = 2.5  # grey levels


@lru_cache(maxsize=8)
def _noise_field(w: int, h: int) -> np.ndarray:
    """Sensor noise larger than the frame; each frame takes a window of it at a random offset (much
    cheaper than fresh noise per frame, and as good for the eye and for a model)."""
    rng = np.random.default_rng(20110321)
    return rng.standard_normal((h + _NOISE_MARGIN, w + _NOISE_MARGIN), dtype=np.float32) * _NOISE_SIGMA


# Per-landmark depth for the yaw parallax: jaw, brows, nose bridge, nose base, eyes, mouth.
_LANDMARK_DEPTH = np.array([0.0] * 17 + [0.55] * 10 + [0.7, 0.8, 0.9, 1.0] + [0.85] * 5 + [0.5] * 12
                           + [0.7] * 18)


def render_face(
    identity: Identity,
    aus: dict[int, float],
    size: tuple[int, int] = (320, 240),
    pose: Pose = NEUTRAL_POSE,
    rng: np.random.Generator | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Draw `identity` showing the expression `aus` (AU → FACS intensity 0..5; AU43 0/1).

    size is (W, H). Returns the BGR uint8 frame (H, W, 3) and the 66 AAM-style landmarks (66, 2) in pixels.
    With an `rng`, sensor noise is added (placed by it); without one the render is noise-free.
    """
    w, h = int(size[0]), int(size[1])
    background, gain = _scene(identity, (w, h))
    scale = identity.face_scale * h * pose.scale
    center = ((identity.center_x + pose.dx) * w, (identity.center_y + pose.dy) * h)
    cv = _Canvas(background.copy(), center, scale, pose)
    face = _geometry(identity, aus)
    _draw_body(cv, identity)
    _draw_face(cv, identity, face)
    _draw_hair(cv, identity)
    for side in (-1, 1):
        _draw_eye(cv, identity, face, side)
    _draw_brows(cv, identity, face)
    _draw_nose(cv, identity, face)
    _draw_mouth(cv, identity, face)
    sigma = 0.006 * scale  # camera softness
    lit = (cv2.GaussianBlur(cv.img, (0, 0), sigma) if sigma > 0.3 else cv.img) * gain
    if rng is not None:
        x, y = rng.integers(0, _NOISE_MARGIN, 2)
        lit += _noise_field(w, h)[y:y + h, x:x + w, None]
    frame = np.clip(lit, 0, 255, out=lit).astype(np.uint8)
    return frame, cv.to_image(face.landmarks, _LANDMARK_DEPTH).astype(np.float32)
