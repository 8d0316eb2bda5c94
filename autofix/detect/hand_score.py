"""How plausible a hand's 21 landmarks are as a human hand: a 0–1 score for best-of-N.

The never-worse guard (:mod:`autofix.run.never_worse`) re-detects the hand in the original
crop and in each repainted candidate; its score is the landmark model's hand presence ×
:func:`hand_plausibility` of the landmarks it finds. MediaPipe's landmark model fits a hand
skeleton to whatever it is shown, so a repaint with a warped, extra or smeared finger
usually still gets 21 landmarks, but bent the wrong way, with bones out of proportion,
chains crossing or fingers collapsed onto each other; the checks below turn those into
multiplicative penalties (each factor in (0, 1], 1 = nothing odd):

* **bone lengths** (:data:`BONE_RATIOS`): each finger bone's projected length over the palm
  scale (:func:`palm_scale`) against the anatomical ratio; a projection can shorten a bone
  (foreshortening) but not lengthen it, so only bones longer than ``LONG_BONE`` × the
  anatomical ratio are penalised (ratios between phalanges are not: a curled finger seen
  from the front shows a short proximal and a full-length tip phalanx);
* **joint angles**: the bends at MCP, PIP and DIP of one finger turn the same way (fingers
  flex towards the palm); a zigzag (PIP and DIP bent opposite ways, both beyond
  ``ZIGZAG_DEG``) or a joint folded back beyond ``FOLD_DEG`` is penalised;
* **chains**: finger chains of non-adjacent fingers (thumb excluded: it crosses the palm in
  a fist) that cross each other while the palm faces the camera, and adjacent fingers
  whose chains coincide (mean gap under ``COLLAPSED`` × palm: one finger drawn twice) or
  fingertips on top of each other;
* **palm shape**: the four MCPs in order across the palm (index → pinky), spaced within a
  factor ``MCP_SPACING`` of each other (both when the palm faces the camera), wrist → MCP
  distances within ``PALM_SPREAD`` of each other (unless foreshortened), the thumb on the
  other side of the middle finger's axis than the pinky (penalised only where its base also
  lies on the pinky's half of the knuckle row, ``THUMB_ROW``).

Ratios are MediaPipe landmark distances (joint centres), measured on the hands the shipped
detector finds in the open photos and in line with published phalanx/metacarpal lengths.
Pure NumPy; no model.
"""

from __future__ import annotations

import math

import numpy as np

from ..types import HAND_FINGER_CHAINS, HAND_WRIST, palm_scale

#: MediaPipe order: wrist 0; thumb 1-4 (CMC, MCP, IP, tip); index 5-8; middle 9-12; ring 13-16; pinky 17-20.
WRIST = HAND_WRIST
FINGERS = HAND_FINGER_CHAINS
#: Anatomical bone length / palm length (wrist → middle MCP), per finger, base → tip
#: (thumb: CMC→MCP, MCP→IP, IP→tip).
BONE_RATIOS = (
    (0.50, 0.38, 0.32),
    (0.47, 0.28, 0.24),
    (0.53, 0.33, 0.25),
    (0.49, 0.32, 0.25),
    (0.39, 0.23, 0.22),
)
#: A bone longer than this × its ratio is penalised (a projection only shortens it).
LONG_BONE = 1.7
#: Penalty width: each further 0.5 × the ratio halves the factor roughly (Gaussian).
LONG_BONE_WIDTH = 0.6
#: PIP and DIP bent opposite ways, both beyond this: a zigzag finger.
ZIGZAG_DEG = 35.0
#: A joint turning more than this (the finger folded back on itself in the image).
FOLD_DEG = 165.0
#: Adjacent chains whose mean point gap is under this × palm, or fingertips closer than
#: this × palm: one finger drawn twice / collapsed fingers.
COLLAPSED = 0.06
#: MCP gaps (index-middle, middle-ring, ring-pinky) within this factor of each other.
MCP_SPACING = 4.0
#: Wrist → MCP distances (index, middle, ring, pinky) within this factor of each other,
#: checked only when all are at least ``PALM_SPREAD_FLOOR`` × palm (a palm seen from the
#: wrist's end foreshortens them unevenly: Phoebe's cards hand in the group photo).
PALM_SPREAD = 3.0
PALM_SPREAD_FLOOR = 0.4
#: Chains are checked for crossings only when the palm faces the camera: the index↔pinky
#: MCP span at least this × palm (fingers curled in a hand seen edge-on cross in the image:
#: the hanging hand in bus.jpg).
FACE_ON_SPAN = 0.45
#: Penalty factors for one crossing of non-adjacent chains, MCPs out of order, thumb on the
#: pinky's side.
CROSSING = 0.6
MCP_ORDER = 0.5
THUMB_SIDE = 0.6
#: ... and only when the thumb's MCP also lies past this fraction of the knuckle row (index
#: MCP 0 → pinky MCP 1; the middle and ring MCPs sit at 0.28-0.39 and 0.64-0.73 on the real
#: hands, their thumbs at -0.71-0.40): where the wrist → middle-MCP axis runs along the row
#: (a palm seen from the wrist's end with the wrist bent: Phoebe's card hand in the group
#: photo, thumb hidden behind the cards, 19° between them) the side of that axis means little.
THUMB_ROW = 0.5


def _gauss_excess(value: float, limit: float, width: float) -> float:
    """1 up to ``limit``, then ``exp(-((value - limit) / width)²)``."""
    return 1.0 if value <= limit else math.exp(-(((value - limit) / width) ** 2))


def _turn(a: np.ndarray, b: np.ndarray) -> float:
    """Signed angle (degrees) turning from direction ``a`` to direction ``b``."""
    cross = float(a[0] * b[1] - a[1] * b[0])
    dot = float(a @ b)
    return math.degrees(math.atan2(cross, dot))


def _segments_cross(p: np.ndarray, q: np.ndarray, r: np.ndarray, s: np.ndarray) -> bool:
    """Proper intersection of segments ``p``–``q`` and ``r``–``s`` (touching does not count)."""

    def orient(a, b, c):
        return (b[0] - a[0]) * (c[1] - a[1]) - (b[1] - a[1]) * (c[0] - a[0])

    d1, d2 = orient(r, s, p), orient(r, s, q)
    d3, d4 = orient(p, q, r), orient(p, q, s)
    return d1 * d2 < 0 and d3 * d4 < 0


def bone_factor(lm: np.ndarray, scale: float) -> float:
    """Penalty for bones longer than anatomy allows (see module docs)."""
    factor = 1.0
    for chain, ratios in zip(FINGERS, BONE_RATIOS):
        pts = lm[list(chain)]
        bones = np.hypot(*(np.diff(pts, axis=0).T))
        for length, ratio in zip(bones, ratios):
            factor *= _gauss_excess(length / scale / ratio, LONG_BONE, LONG_BONE_WIDTH)
    return factor


def angle_factor(lm: np.ndarray) -> float:
    """Penalty for zigzag fingers and joints folded back on themselves."""
    factor = 1.0
    for chain in FINGERS[1:]:
        pts = lm[[WRIST, *chain]]
        dirs = np.diff(pts, axis=0)
        if (np.hypot(*dirs.T) < 1e-6).any():
            continue
        turns = [_turn(dirs[i], dirs[i + 1]) for i in range(3)]  # MCP, PIP, DIP
        pip, dip = turns[1], turns[2]
        if pip * dip < 0:
            factor *= _gauss_excess(min(abs(pip), abs(dip)), ZIGZAG_DEG, 25.0)
        for t in turns:
            factor *= _gauss_excess(abs(t), FOLD_DEG, 10.0)
    return factor


def chain_factor(lm: np.ndarray, scale: float) -> float:
    """Penalty for crossing non-adjacent finger chains and collapsed (duplicate) fingers."""
    factor = 1.0
    chains = [lm[list(c)] for c in FINGERS[1:]]
    face_on = float(np.hypot(*(lm[5] - lm[17]))) >= FACE_ON_SPAN * scale
    for i in range(4):
        for j in range(i + 2, 4):
            a, b = chains[i], chains[j]
            if face_on and any(_segments_cross(a[k], a[k + 1], b[m], b[m + 1]) for k in range(3) for m in range(3)):
                factor *= CROSSING
    for i in range(3):
        gap = float(np.mean(np.hypot(*(chains[i][1:] - chains[i + 1][1:]).T))) / scale
        factor *= min(1.0, gap / COLLAPSED) ** 0.5
    tips = lm[[8, 12, 16, 20]]
    for i in range(4):
        for j in range(i + 1, 4):
            gap = float(np.hypot(*(tips[i] - tips[j]))) / scale
            factor *= min(1.0, gap / COLLAPSED) ** 0.25
    return factor


def palm_factor(lm: np.ndarray, scale: float) -> float:
    """Penalty for a palm that is not a palm: MCPs out of order or unevenly spaced, wrist →
    MCP distances far apart, the thumb on the pinky's side."""
    factor = 1.0
    mcps = lm[[5, 9, 13, 17]]
    across = mcps[3] - mcps[0]
    span = float(np.hypot(*across))
    if span >= FACE_ON_SPAN * scale:  # edge-on, the MCPs' order and gaps are the projection's
        t = (mcps - mcps[0]) @ across / span
        if not (t[0] <= t[1] <= t[2] <= t[3]):
            factor *= MCP_ORDER
        gaps = np.hypot(*np.diff(mcps, axis=0).T)
        if gaps.min() > 1e-6:
            factor *= _gauss_excess(float(gaps.max() / gaps.min()), MCP_SPACING, 2.0)
        else:
            factor *= MCP_ORDER
    reach = np.hypot(*(mcps - lm[WRIST]).T)
    if reach.min() >= PALM_SPREAD_FLOOR * scale:
        factor *= _gauss_excess(float(reach.max() / reach.min()), PALM_SPREAD, 0.8)
    axis = lm[9] - lm[WRIST]
    thumb = float(axis[0] * (lm[2] - lm[WRIST])[1] - axis[1] * (lm[2] - lm[WRIST])[0])
    pinky = float(axis[0] * (lm[17] - lm[WRIST])[1] - axis[1] * (lm[17] - lm[WRIST])[0])
    clear = 0.05 * scale * float(np.hypot(*axis))
    row = mcps[3] - mcps[0]
    beyond = float((lm[2] - mcps[0]) @ row) / max(float(row @ row), 1e-12) > THUMB_ROW
    if abs(thumb) > clear and abs(pinky) > clear and thumb * pinky > 0 and beyond:
        factor *= THUMB_SIDE
    return factor


def hand_plausibility(landmarks: np.ndarray | None) -> float:
    """0–1 plausibility of 21 MediaPipe hand landmarks (``(21, 2|3)`` pixels; only x, y are
    used): the product of :func:`bone_factor`, :func:`angle_factor`, :func:`chain_factor` and
    :func:`palm_factor`. 0 for a degenerate hand (no palm, non-finite points); 0.5 when
    there are no 21 landmarks (a box-only detector: no evidence either way)."""
    if landmarks is None:
        return 0.5
    lm = np.asarray(landmarks, dtype=np.float64)
    if lm.ndim != 2 or lm.shape[0] != 21 or lm.shape[1] < 2:
        return 0.5
    lm = lm[:, :2]
    if not np.isfinite(lm).all():
        return 0.0
    scale = palm_scale(lm)
    if scale <= 1e-6:
        return 0.0
    score = bone_factor(lm, scale) * angle_factor(lm) * chain_factor(lm, scale) * palm_factor(lm, scale)
    return float(min(max(score, 0.0), 1.0))
