"""Filters, orderings and plan_stage end to end on hand-made detections."""

from __future__ import annotations

import numpy as np
import pytest

from autofix.config import StageConfig
from autofix.plan import StageRegions, plan_stage
from autofix.plan.filters import by_area_ratio, by_confidence, detection_area, order, top_k
from autofix.plan.masks import box_mask, dilate_erode, feather, invert, mask_bbox
from autofix.plan.planner import NOTE_WRIST_FALLBACK, NOTE_WRIST_LANDMARKS
from autofix.types import Detection



def D(name: str, box, score: float = 0.9, label: str = "face", **kw) -> Detection:
    """A detection tagged with ``name`` in ``source`` (the tests compare those)."""
    return Detection(box=tuple(float(v) for v in box), score=score, label=label, source=name, **kw)


def names(dets) -> list[str]:
    return [d.source for d in dets]


def stage(label: str = "face", **sections) -> StageConfig:
    base = {
        "name": "s",
        "label": label,
        "detector": {"backend": "mediapipe_face"},
        "filters": {"confidence": 0.3, "order": "left_to_right"},
        "mask": {"shape": "box", "dilate": 0, "blur": 0},
        "crop": {"padding": 0, "resolution": 512},
    }
    for key, value in sections.items():
        base[key] = {**base[key], **value} if isinstance(value, dict) else value
    return StageConfig.model_validate(base)


# --------------------------------------------------------------------------- filters

#      ┌────────── 100 × 80 image ──────────┐
DETS = [
    D("a", (60, 10, 70, 20), 0.50),  # 100 px², top right
    D("b", (10, 50, 30, 70), 0.95),  # 400 px², bottom left
    D("c", (40, 30, 56, 46), 0.70),  # 256 px², centre (48, 38) → 2.8 from (50, 40)
    D("d", (10, 5, 15, 10), 0.20),  # 25 px², top left
]


def test_by_confidence_is_inclusive():
    assert names(by_confidence(DETS, 0.5)) == ["a", "b", "c"]
    assert names(by_confidence(DETS, 0.0)) == ["a", "b", "c", "d"]
    assert by_confidence(DETS, 0.96) == []


def test_by_area_ratio_box_and_mask_area():
    assert names(by_area_ratio(DETS, 8000, 0.01, 0.04)) == ["a", "c"]
    assert names(by_area_ratio(DETS, 8000, 0.0125, 0.05)) == ["a", "b", "c"]  # bounds inclusive
    assert names(by_area_ratio(DETS, 8000, 0.0, 0.02)) == ["a", "d"]
    own = np.zeros((80, 100), bool)
    own[50:52, 10:15] = True  # 10 px inside a 400 px² box
    masked = D("m", (10, 50, 30, 70), mask=own)
    assert detection_area(masked) == 10
    assert by_area_ratio([masked], 8000, 0.01, 1.0) == []
    assert names(by_area_ratio([masked], 8000, 0.0, 0.002)) == ["m"]
    with pytest.raises(ValueError):
        by_area_ratio(DETS, 0, 0.0, 1.0)


def test_top_k_keeps_input_order():
    assert names(top_k(DETS, 0, "area")) == ["a", "b", "c", "d"]
    assert names(top_k(DETS, 2, "area")) == ["b", "c"]
    assert names(top_k(DETS, 2, "confidence")) == ["b", "c"]
    assert names(top_k(DETS, 1, "confidence")) == ["b"]
    assert names(top_k(DETS, 3, "area")) == ["a", "b", "c"]
    assert names(top_k(DETS, 10, "area")) == ["a", "b", "c", "d"]


def test_top_k_ties_broken_by_position():
    tied = [D("right", (50, 0, 60, 10)), D("left", (0, 20, 10, 30)), D("mid", (20, 0, 30, 10))]
    assert names(top_k(tied, 1, "area")) == ["left"]
    assert names(top_k(tied, 2, "confidence")) == ["left", "mid"]


@pytest.mark.parametrize(
    "how, expected",
    [
        ("left_to_right", ["d", "b", "c", "a"]),  # b and d share x0 = 10: d (y0 5) first
        ("top_to_bottom", ["d", "a", "c", "b"]),
        ("area", ["b", "c", "a", "d"]),
        ("confidence", ["b", "c", "a", "d"]),
        ("center_out", ["c", "a", "b", "d"]),  # distances 2.8, 29.2, 36.1, 49.6
    ],
)
def test_order_modes(how, expected):
    assert names(order(DETS, how, (80, 100))) == expected
    assert names(order(list(reversed(DETS)), how, (80, 100, 3))) == expected


def test_order_ties_are_stable_and_by_position():
    same = [D("p", (30, 30, 40, 40), 0.8), D("q", (10, 30, 20, 40), 0.8), D("r", (10, 30, 20, 40), 0.8)]
    assert names(order(same, "confidence", (80, 100))) == ["q", "r", "p"]
    assert names(order(same, "area", (80, 100))) == ["q", "r", "p"]
    assert names(order(same[::-1], "area", (80, 100))) == ["r", "q", "p"]
    # equal distance from the centre (50, 40): left one first
    sym = [D("R", (60, 35, 70, 45)), D("L", (30, 35, 40, 45))]
    assert names(order(sym, "center_out", (80, 100))) == ["L", "R"]
    with pytest.raises(ValueError):
        order(same, "random", (80, 100))  # type: ignore[arg-type]


# --------------------------------------------------------------------------- plan_stage

#: MediaPipe-order hand, fingers up, wrist at the origin, palm length 32 (as in test_plan_masks).
UPRIGHT = np.array(
    [(0, 0), (-12, -6), (-20, -14), (-26, -22), (-30, -30), (-10, -30), (-11, -42), (-12, -50),
     (-12, -58), (0, -32), (0, -46), (0, -55), (0, -64), (9, -30), (10, -42), (11, -50),
     (11, -57), (16, -26), (18, -35), (19, -41), (20, -46)],
    dtype=np.float32,
)

SHAPE = (80, 100)


def test_separate_regions_in_order_with_exact_masks():
    cfg = stage(mask={"dilate": 2, "blur": 3}, crop={"padding": 4})
    regions = plan_stage(DETS + [D("hand", (0, 0, 5, 5), label="hand")], SHAPE, cfg).regions
    assert [r.index for r in regions] == [0, 1, 2]
    assert [r.detections[0].source for r in regions] == ["b", "c", "a"]  # d is below confidence 0.3
    for r in regions:
        det = r.detections[0]
        hard = dilate_erode(box_mask(SHAPE, det.box), 2)
        np.testing.assert_array_equal(r.hard_mask, hard)
        np.testing.assert_array_equal(r.soft_mask, feather(hard, 3))
        sx0, sy0, sx1, sy1 = mask_bbox(r.soft_mask)
        assert r.crop.box == (max(sx0 - 4, 0), max(sy0 - 4, 0), min(sx1 + 4, 100), min(sy1 + 4, 80))
        assert r.label == "face" and r.score == det.score and r.box == det.box
        assert r.notes == ()
        assert r.hard_mask.dtype == np.uint8 and r.soft_mask.dtype == np.uint8


def test_soft_support_is_inside_the_crop():
    cfg = stage(mask={"dilate": 6, "blur": 8}, crop={"padding": 0})
    for r in plan_stage(DETS, SHAPE, cfg).regions:
        x0, y0, x1, y1 = r.crop.box
        outside = r.soft_mask.copy()
        outside[y0:y1, x0:x1] = 0
        assert not outside.any()


def test_merge_gives_one_region_of_the_union():
    cfg = stage(mask={"merge": "merge"})
    (region,) = plan_stage(DETS, SHAPE, cfg).regions
    union = np.maximum.reduce([box_mask(SHAPE, d.box) for d in DETS[:3]])
    np.testing.assert_array_equal(region.hard_mask, union)
    assert region.index == 0 and region.score == 0.95
    assert region.box == (10.0, 10.0, 70.0, 70.0)
    assert sorted(names(region.detections)) == ["a", "b", "c"]
    assert "merge: merge" in region.notes
    assert region.crop.box == (10, 10, 70, 70)


def test_merge_invert_and_invert_flag():
    union = np.maximum.reduce([box_mask(SHAPE, d.box) for d in DETS[:3]])
    (inv,) = plan_stage(DETS, SHAPE, stage(mask={"merge": "merge_invert"})).regions
    np.testing.assert_array_equal(inv.hard_mask, invert(union))
    assert inv.crop.box == (0, 0, 100, 80)
    (double,) = plan_stage(DETS, SHAPE, stage(mask={"merge": "merge_invert", "invert": True})).regions
    np.testing.assert_array_equal(double.hard_mask, union)
    # invert acts on the union (issue 14): one region, everything but every detection — never
    # "everything but face 1", then "everything but face 2" (which repaints every face again)
    (separate,) = plan_stage(DETS, SHAPE, stage(mask={"invert": True})).regions
    np.testing.assert_array_equal(separate.hard_mask, invert(union))
    assert "inverted" in separate.notes and len(separate.detections) == 3
    (one,) = plan_stage(DETS[:1], SHAPE, stage(mask={"invert": True})).regions
    np.testing.assert_array_equal(one.hard_mask, invert(box_mask(SHAPE, DETS[0].box)))


def test_no_detections_no_regions_even_when_inverting():
    for merge in ("separate", "merge", "merge_invert"):
        assert plan_stage([], SHAPE, stage(mask={"merge": merge})).regions == []
        assert plan_stage([D("x", (0, 0, 9, 9), label="hand")], SHAPE, stage(mask={"merge": merge, "invert": True})).regions == []


def test_inverting_a_full_image_mask_drops_the_region():
    plan = plan_stage([D("all", (0, 0, 100, 80))], SHAPE, stage(mask={"invert": True}))
    assert plan.regions == []
    assert any("hard mask empty" in n for n in plan.notes)


def test_top_k_then_order():
    cfg = stage(filters={"confidence": 0.0, "top_k": 2, "top_k_by": "area", "order": "top_to_bottom"})
    regions = plan_stage(DETS, SHAPE, cfg).regions
    assert [r.detections[0].source for r in regions] == ["c", "b"]
    assert [r.index for r in regions] == [0, 1]


def test_area_ratio_filter_and_notes():
    cfg = stage(filters={"confidence": 0.0, "min_area_ratio": 0.01, "max_area_ratio": 0.05})
    plan = plan_stage(DETS, SHAPE, cfg)
    assert isinstance(plan, StageRegions)
    assert [r.detections[0].source for r in plan.regions] == ["b", "c", "a"]
    assert plan.notes == ["dropped 1 detection(s): area ratio outside [0.01, 0.05]"]


def test_empty_after_erosion_is_dropped_and_noted():
    dets = [D("big", (10, 10, 40, 40)), D("small", (50, 10, 56, 16)), D("big2", (60, 40, 90, 70))]
    plan = plan_stage(dets, SHAPE, stage(mask={"dilate": -3}))
    assert [r.detections[0].source for r in plan.regions] == ["big", "big2"]
    assert [r.index for r in plan.regions] == [0, 1]
    assert any("empty after dilate -3" in n for n in plan.notes)
    expected = np.zeros(SHAPE, np.uint8)
    expected[13:37, 13:37] = 255
    np.testing.assert_array_equal(plan.regions[0].hard_mask, expected)
    (merged,) = plan_stage(dets, SHAPE, stage(mask={"dilate": -3, "merge": "merge"})).regions
    assert names(merged.detections) == ["big", "big2"]
    assert any("empty after dilate" in n for n in merged.notes)


def test_blur_too_wide_for_a_tiny_mask_drops_the_region():
    plan = plan_stage([D("dot", (50, 40, 51, 41))], SHAPE, stage(mask={"blur": 64}))
    assert plan.regions == []
    assert any("soft mask (blur 64) empty" in n for n in plan.notes)


def test_label_filter_and_auto_mask():
    own = np.zeros(SHAPE, bool)
    own[20:30, 20:25] = True
    dets = [D("obj", (15, 15, 35, 35), label="object", mask=own), D("face", (0, 0, 9, 9))]
    (region,) = plan_stage(dets, SHAPE + (3,), stage("object", mask={"shape": "auto"})).regions
    np.testing.assert_array_equal(region.hard_mask, own.astype(np.uint8) * 255)
    # the crop is the mask's own box (padding 0) grown to its aspect bucket (5x10 -> 320x768: 5x12)
    assert region.crop.box == (20, 19, 25, 31) and region.crop.size == (320, 768)
    assert region.label == "object"


def _hand_det(with_landmarks: bool) -> Detection:
    lm = (UPRIGHT + np.array([50, 80], np.float32)).astype(np.float32)  # wrist (50, 80)
    box = (float(lm[:, 0].min()), float(lm[:, 1].min()), float(lm[:, 0].max()), float(lm[:, 1].max()))
    return D("h", box, label="hand", landmarks=lm if with_landmarks else None)


@pytest.mark.parametrize("with_landmarks, note", [(True, NOTE_WRIST_LANDMARKS), (False, NOTE_WRIST_FALLBACK)])
def test_hand_stage_applies_the_wrist_rule(with_landmarks, note):
    det = _hand_det(with_landmarks)
    shape = (160, 100)
    hand_cfg = stage("hand", mask={"wrist_extension": 0.25})
    (region,) = plan_stage([det], shape, hand_cfg).regions
    assert region.notes == (note,)
    plain = box_mask(shape, det.box)
    assert region.hard_mask[int(det.box[3]) + 10, 50] == 255  # reaches past the wrist (y 80) downwards
    assert (region.hard_mask >= plain).all()
    if with_landmarks:
        assert not region.hard_mask[: int(det.box[1])].any()  # nothing above the fingertips
    (off,) = plan_stage([det], shape, stage("hand")).regions
    np.testing.assert_array_equal(off.hard_mask, plain)
    assert off.notes == ()


@pytest.mark.parametrize("bad", ["short", "nan", "degenerate"])
def test_unusable_landmarks_use_the_fallback(bad):
    det = _hand_det(True)
    lm = det.landmarks.copy()
    if bad == "short":
        lm = lm[:5]
    elif bad == "nan":
        lm[3] = np.nan
    else:
        lm[9] = lm[0]  # wrist on the middle MCP: no forearm direction
    det = D("h", det.box, label="hand", landmarks=lm)
    (region,) = plan_stage([det], (160, 100), stage("hand", mask={"wrist_extension": 0.25})).regions
    assert region.notes == (NOTE_WRIST_FALLBACK,)


def test_face_stage_ignores_wrist_extension():
    (region,) = plan_stage([D("f", (10, 10, 30, 30))], SHAPE, stage(mask={"wrist_extension": 0.5})).regions
    np.testing.assert_array_equal(region.hard_mask, box_mask(SHAPE, (10, 10, 30, 30)))
    assert region.notes == ()


def test_plan_is_deterministic_and_leaves_inputs_alone():
    own = np.zeros(SHAPE, bool)
    own[5:9, 5:9] = True
    dets = DETS + [D("m", (5, 5, 9, 9), mask=own)]
    cfg = stage(mask={"dilate": 3, "blur": 4, "shape": "auto"})
    first, second = plan_stage(dets, SHAPE, cfg).regions, plan_stage(list(dets), SHAPE, cfg).regions
    assert len(first) == len(second) == 4
    for a, b in zip(first, second):
        np.testing.assert_array_equal(a.hard_mask, b.hard_mask)
        np.testing.assert_array_equal(a.soft_mask, b.soft_mask)
        assert a.crop == b.crop and a.index == b.index
    assert own.sum() == 16


def test_auto_face_masks_by_detector():
    """``mask.shape: auto`` on faces: a MediaPipe face mesh gives the face-mesh mask (noted), a
    MediaPipe face whose mesh was not confirmed (6 keypoints) the ellipse of its box, a YOLO
    face (no landmarks) its box, and a detector's own mask is used as it is."""
    from autofix.plan.face_masks import face_mask
    from autofix.plan.masks import ellipse_mask
    from autofix.plan.planner import NOTE_FACE_MESH_MASK, NOTE_FACE_UNCONFIRMED, build_mask

    st = stage("face", mask={"shape": "auto", "dilate": 0})
    box = (10.0, 12.0, 30.0, 40.0)
    mesh = np.random.default_rng(0).uniform((12, 14), (28, 38), (468, 2)).astype(np.float32)
    own = np.zeros((50, 60), bool)
    own[15:35, 14:26] = True
    meshed = Detection(box, 0.9, "face", landmarks=mesh, source="mediapipe_face:full")
    keypoints = Detection(box, 0.9, "face", landmarks=np.zeros((6, 2), np.float32), source="mediapipe_face:full")
    yolo = Detection(box, 0.9, "face", source="yolo:face_yolov8n.pt")
    segmented = Detection(box, 0.9, "face", mask=own, source="yolo:face_yolov8n-seg.pt")
    hard, notes = build_mask(meshed, (50, 60), st)
    want = face_mask((50, 60), mesh)
    assert want.sum() > 100 and np.array_equal(hard > 0, want) and notes == (NOTE_FACE_MESH_MASK,)
    hard, notes = build_mask(keypoints, (50, 60), st)
    assert np.array_equal(hard, ellipse_mask((50, 60), box)) and notes == (NOTE_FACE_UNCONFIRMED,)
    hard, notes = build_mask(yolo, (50, 60), st)
    assert np.array_equal(hard, box_mask((50, 60), box)) and notes == ()
    hard, notes = build_mask(segmented, (50, 60), st)
    assert np.array_equal(hard > 0, own) and notes == ()


def test_unusable_face_mesh_falls_back_to_the_ellipse():
    """A collapsed or non-finite mesh gives no outline: the face gets the ellipse of its box."""
    from autofix.plan.masks import ellipse_mask
    from autofix.plan.planner import NOTE_FACE_UNCONFIRMED, build_mask

    st = stage("face", mask={"shape": "auto", "dilate": 0})
    box = (10.0, 12.0, 30.0, 40.0)
    for mesh in (np.zeros((468, 2), np.float32), np.full((468, 2), np.nan, np.float32)):
        det = Detection(box, 0.9, "face", landmarks=mesh, source="mediapipe_face:full")
        hard, notes = build_mask(det, (50, 60), st)
        assert np.array_equal(hard, ellipse_mask((50, 60), box)) and notes == (NOTE_FACE_UNCONFIRMED,)
