"""Box/click prompts, prompts files, GrabCut refinement and the prompt detector (no torch needed)."""

from __future__ import annotations

import importlib.util
import json

import numpy as np
import pytest

from autofix.config import DetectorConfig
from autofix.detect.base import DETECTORS
from autofix.detect.grabcut import GrabCutRefiner
from autofix.detect.user_prompts import (
    ImagePrompts,
    PromptDetector,
    PromptError,
    group_prompts,
    load_prompts_file,
    parse_box,
    parse_point,
    prompts_for,
    prompts_from_args,
    validate_prompts,
)
from autofix.detect.refine import RefinedDetector, build_refiner, refine_detections, with_refinement
from autofix.detect.sam import margin_box
from autofix.errors import BackendUnavailable, ConfigError, ModelNotFound
from autofix.types import Detection

ASTRONAUT_FACE = (171, 76, 281, 179)  # tests/data ground truth
ZIDANE_FACE = (505, 245, 662, 450)


def _inside(mask: np.ndarray, box) -> float:
    x0, y0, x1, y1 = (int(v) for v in box)
    return float(mask[y0:y1, x0:x1].sum()) / max(1, int(mask.sum()))


def _fill(mask: np.ndarray, box) -> float:
    x0, y0, x1, y1 = (int(v) for v in box)
    return float(mask[y0:y1, x0:x1].sum()) / ((x1 - x0) * (y1 - y0))


# ---------------------------------------------------------------- CLI strings


def test_parse_box_and_point():
    assert parse_box("10, 20,30.5,40") == (10.0, 20.0, 30.5, 40.0)
    assert parse_point("5,6") == (5.0, 6.0, 1)
    assert parse_point("5,6:neg") == (5.0, 6.0, 0)
    assert parse_point("5,6:pos") == (5.0, 6.0, 1)
    p = prompts_from_args(["0,0,4,4"], ["1,1", "2,2:neg"])
    assert p == ImagePrompts(((0.0, 0.0, 4.0, 4.0),), ((1.0, 1.0, 1), (2.0, 2.0, 0)))


@pytest.mark.parametrize(
    "call, text, message",
    [
        (parse_box, "1,2,3", "bad box '1,2,3': expected x0,y0,x1,y1"),
        (parse_box, "a,2,3,4", "bad box 'a,2,3,4': expected numbers"),
        (parse_box, "1,2,inf,4", "numbers must be finite"),
        (parse_point, "1", "bad point '1': expected x,y"),
        (parse_point, "1,2:maybe", "label must be 1/0 or pos/neg"),
    ],
)
def test_bad_cli_prompts(call, text, message):
    with pytest.raises(PromptError, match=message.replace("(", r"\(").replace(")", r"\)")):
        call(text)


def test_prompt_error_is_a_one_line_value_error():
    with pytest.raises(ValueError) as err:
        parse_box("nope")
    assert isinstance(err.value, ConfigError) and "\n" not in str(err.value)


# ---------------------------------------------------------------- prompts files


def test_json_mapping_file(tmp_path):
    f = tmp_path / "p.json"
    f.write_text(json.dumps({"./sub/a.jpg": {"boxes": [[1, 2, 30, 40]], "points": [[5, 6, 0], [7, 8]]}}))
    got = load_prompts_file(f)
    assert got == {"sub/a.jpg": ImagePrompts(((1.0, 2.0, 30.0, 40.0),), ((5.0, 6.0, 0), (7.0, 8.0, 1)))}
    assert prompts_for(got, "sub/a.jpg").boxes and not prompts_for(got, "other.jpg")


def test_json_list_file_merges_paths(tmp_path):
    f = tmp_path / "p.json"
    items = [{"path": "a.png", "box": [0, 0, 9, 9]}, {"path": "a.png", "point": [3, 3, "neg"]}, {"path": "b.png"}]
    f.write_text(json.dumps(items))
    got = load_prompts_file(f)
    assert got["a.png"] == ImagePrompts(((0.0, 0.0, 9.0, 9.0),), ((3.0, 3.0, 0),))
    assert got["b.png"] == ImagePrompts()


def test_csv_file(tmp_path):
    f = tmp_path / "p.csv"
    f.write_text("path,x0,y0,x1,y1\n# a comment\n\na.jpg,0,0,1,1\na.jpg,5,6,neg\nb.jpg,7,8\nb.jpg, 9 ,10,1\n")
    got = load_prompts_file(f)
    assert got["a.jpg"] == ImagePrompts(((0.0, 0.0, 1.0, 1.0),), ((5.0, 6.0, 0),))
    assert got["b.jpg"] == ImagePrompts((), ((7.0, 8.0, 1), (9.0, 10.0, 1)))


@pytest.mark.parametrize(
    "name, text, message",
    [
        ("p.json", "{nope", r"p\.json: not valid JSON \(line 1"),
        ("p.json", '"just a string"', r"p\.json: expected a JSON object or list"),
        ("p.json", '{"a.jpg": {"boxes": [[1, 2, 3]]}}', r"p\.json: a\.jpg: box \[1, 2, 3\] is not \[x0, y0, x1, y1\]"),
        ("p.json", '{"a.jpg": {"points": [[1, 2, 7]]}}', r"a\.jpg: point \[1, 2, 7\]: label must be"),
        ("p.json", '{"a.jpg": {"boxes": [[1, "x", 3, 4]]}}', r"a\.jpg: box .*: expected numbers"),
        ("p.json", '{"a.jpg": {"boxs": []}}', r"a\.jpg: unknown key\(s\) boxs"),
        ("p.json", '[{"box": [1, 2, 3, 4]}]', r"p\.json: item 0 needs a \"path\" string"),
        ("p.csv", "a.jpg,1,2,3,4,5\n", r"p\.csv:1: expected path,x0,y0,x1,y1 \(box\) or path,x,y\[,label\]"),
        ("p.csv", "a.jpg,1\n", r"p\.csv:1: expected path"),
        ("p.csv", "path,x,y\na.jpg,1,q\n", r"p\.csv:2: point 1,q: expected numbers"),
        ("p.csv", ",1,2\n", r"p\.csv:1: empty path"),
    ],
)
def test_malformed_prompts_files(tmp_path, name, text, message):
    f = tmp_path / name
    f.write_text(text)
    with pytest.raises(PromptError, match=message) as err:
        load_prompts_file(f)
    assert "\n" not in str(err.value)


def test_missing_prompts_file(tmp_path):
    with pytest.raises(PromptError, match=r"absent\.json: cannot read prompts file"):
        load_prompts_file(tmp_path / "absent.json")


# ---------------------------------------------------------------- validation & grouping


def test_validate_clips_and_rejects():
    ok = validate_prompts(ImagePrompts(((-5, -5, 20, 20),), ((0, 0, 1), (99, 49, 0))), 100, 50, "a.jpg")
    assert ok.boxes == ((0.0, 0.0, 20.0, 20.0),)
    cases = [
        (ImagePrompts(((10, 10, 10, 30),)), r"a\.jpg: box 10,10,10,30 has zero area"),
        (ImagePrompts(((30, 10, 20, 40),)), r"a\.jpg: box 30,10,20,40 has zero area"),
        (ImagePrompts(((200, 0, 300, 40),)), r"a\.jpg: box 200,0,300,40 is outside the 100x50 image"),
        (ImagePrompts(((-20, -20, 0, 0),)), r"a\.jpg: box -20,-20,0,0 is outside the 100x50 image"),
        (ImagePrompts((), ((100, 10, 1),)), r"a\.jpg: point 100,10 is outside the 100x50 image"),
        (ImagePrompts((), ((5, -1, 0),)), r"a\.jpg: point 5,-1 is outside"),
    ]
    for prompts, message in cases:
        with pytest.raises(PromptError, match=message):
            validate_prompts(prompts, 100, 50, "a.jpg")


def test_grouping_points_with_boxes():
    big, small = (0, 0, 100, 100), (10, 10, 30, 30)
    prompts = ImagePrompts((big, small), ((20, 20, 1), (50, 50, 0), (150, 150, 1), (160, 160, 0)))
    groups = group_prompts(prompts)
    assert groups == [
        (big, ((50, 50, 0),)),
        (small, ((20, 20, 1),)),
        (None, ((150, 150, 1), (160, 160, 0))),
    ]
    with pytest.raises(PromptError, match=r"x\.png: negative point 150,150 is in no box"):
        group_prompts(ImagePrompts((big,), ((150, 150, 0),)), "x.png")


# ---------------------------------------------------------------- GrabCut on real photos


def test_grabcut_face_box_on_astronaut(astronaut):
    mask, score = GrabCutRefiner().refine(astronaut, box=ASTRONAUT_FACE)
    assert mask.shape == astronaut.shape[:2] and mask.dtype == bool and score == 1.0
    assert _fill(mask, ASTRONAUT_FACE) > 0.5  # covers most of the face
    assert _inside(mask, ASTRONAUT_FACE) > 0.8  # and stays mostly on it
    grown = margin_box(ASTRONAUT_FACE, 0.25, 512, 512)
    assert _inside(mask, grown) == 1.0  # never past the margin


def test_grabcut_grows_past_a_tight_box_on_zidane(zidane_path):
    from autofix.photos import photo_array

    image = photo_array("zidane")
    mask, _ = GrabCutRefiner(margin=0.25).refine(image, box=ZIDANE_FACE)
    assert _fill(mask, ZIDANE_FACE) > 0.6
    assert 0.5 < _inside(mask, ZIDANE_FACE) < 1.0  # the back of the head is outside the face box
    assert _inside(mask, margin_box(ZIDANE_FACE, 0.25, 1280, 720)) == 1.0
    tight, _ = GrabCutRefiner(margin=0.0).refine(image, box=ZIDANE_FACE)
    assert _inside(tight, ZIDANE_FACE) == 1.0


def test_grabcut_grey_photo_uses_core_retry(camera):
    box = (179, 124, 255, 198)  # camera face (ground truth)
    mask, score = GrabCutRefiner().refine(camera, box=box)
    assert score == 1.0 and _fill(mask, box) > 0.4 and _inside(mask, box) > 0.7


def test_grabcut_clicks(astronaut):
    refiner = GrabCutRefiner()
    x, y = 225, 130  # on the face
    mask, _ = refiner.refine(astronaut, points=[(x, y)], labels=[1])
    assert mask[y, x]
    assert _inside(mask, margin_box(ASTRONAUT_FACE, 1.0, 512, 512)) > 0.9
    neg = (200, 100)
    with_neg, _ = refiner.refine(astronaut, box=ASTRONAUT_FACE, points=[neg], labels=[0])
    assert not with_neg[neg[1], neg[0]]
    with pytest.raises(ValueError, match="needs a box or at least one positive point"):
        refiner.refine(astronaut, points=[neg], labels=[0])


def test_grabcut_is_deterministic(astronaut):
    a, _ = GrabCutRefiner().refine(astronaut, box=ASTRONAUT_FACE)
    b, _ = GrabCutRefiner().refine(astronaut, box=ASTRONAUT_FACE)
    assert np.array_equal(a, b)


def test_grabcut_whole_image_box(astronaut):
    mask, _ = GrabCutRefiner(max_side=128).refine(astronaut, box=(0, 0, 512, 512))
    assert mask.shape == (512, 512)


# ---------------------------------------------------------------- refine & prompt detector


class _Boxes:
    name = "fake"

    def __init__(self, dets):
        self.dets = dets

    def detect(self, image):
        return list(self.dets)


def test_refine_detections_with_grabcut(astronaut):
    dets = [
        Detection(ASTRONAUT_FACE, 0.9, "face", source="fake"),
        Detection((0, 0, 2, 2), 0.5, "face", source="fake"),
    ]
    out = refine_detections(astronaut, dets, GrabCutRefiner())
    assert out[0].mask is not None and out[0].source == "fake+grabcut"
    assert out[0].box == ASTRONAUT_FACE and out[0].score == 0.9 and out[0].label == "face"
    assert out[1].mask is None or out[1].mask.any()  # empty refinement keeps the box
    assert refine_detections(astronaut, dets, None) == dets


def test_with_refinement_wraps_any_detector(astronaut):
    det = _Boxes([Detection(ASTRONAUT_FACE, 0.9, "face", source="fake")])
    same = with_refinement(det, build_refiner(DetectorConfig(backend="fake").refine))
    assert same is det
    wrapped = with_refinement(det, build_refiner(DetectorConfig(backend="fake", refine="grabcut").refine))
    assert isinstance(wrapped, RefinedDetector) and wrapped.name == "fake+grabcut"
    assert wrapped.detect(astronaut)[0].mask is not None


def test_build_refiner_choices(monkeypatch, tmp_path):
    assert build_refiner("none") is None
    assert isinstance(build_refiner("grabcut", margin=0.1), GrabCutRefiner)
    with pytest.raises(ConfigError, match="unknown refine method 'magic'"):
        build_refiner("magic")
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.delenv("AUTOFIX_MODELS", raising=False)
    has_sam = all(importlib.util.find_spec(m) for m in ("segment_anything", "torchvision"))
    with pytest.raises(ModelNotFound if has_sam else BackendUnavailable, match="sam"):
        build_refiner("sam")


def test_prompt_detector_boxes_only(astronaut):
    det = PromptDetector([ASTRONAUT_FACE, (500, 500, 600, 600)], where="astronaut.png")
    out = det.detect(astronaut)
    assert [d.box for d in out] == [ASTRONAUT_FACE, (500.0, 500.0, 512.0, 512.0)]
    assert all(d.mask is None and d.label == "object" and d.score == 1.0 and d.source == "prompt" for d in out)
    with pytest.raises(PromptError, match=r"astronaut\.png: box 600,0,700,10 is outside the 512x512 image"):
        PromptDetector([(600, 0, 700, 10)], where="astronaut.png").detect(astronaut)
    with pytest.raises(PromptError, match="need a refiner"):
        PromptDetector(points=[(5, 5, 1)])


def test_prompt_detector_with_grabcut_via_registry(astronaut):
    cfg = DetectorConfig(backend="prompt", refine="grabcut")
    prompts = ImagePrompts((ASTRONAUT_FACE,), ((225, 130, 1), (60, 60, 1)))
    det = DETECTORS.build("prompt", cfg, prompts=prompts, where="astronaut.png")
    assert det.name == "prompt+grabcut"
    face, clicked = det.detect(astronaut)
    assert face.box == ASTRONAUT_FACE and _fill(face.mask, ASTRONAUT_FACE) > 0.5
    ys, xs = np.nonzero(clicked.mask)
    assert clicked.mask[60, 60] and clicked.box == (xs.min(), ys.min(), xs.max() + 1.0, ys.max() + 1.0)
    with pytest.raises(ConfigError, match="needs boxes/points"):
        DETECTORS.build("prompt", cfg)


def test_yolo_is_registered_with_requirements():
    import autofix.detect.yolo  # noqa: F401  (registers)

    entry = DETECTORS.entry("yolo")
    assert entry.requires == ("ultralytics", "torchvision") and entry.extra == "yolo"


def test_grabcut_with_no_foreground_seed_returns_empty_mask():
    from autofix.detect.grabcut import GrabCutRefiner
    from autofix.photos import photo_array

    img = photo_array("astronaut")
    mask, _ = GrabCutRefiner().refine(img, box=(100, 100, 103, 103), points=[(101, 101)], labels=[0])
    assert mask.shape == img.shape[:2] and mask.dtype == bool


def test_prompts_file_with_byte_order_mark(tmp_path):
    from autofix.detect.user_prompts import load_prompts_file

    csv = tmp_path / "p.csv"
    csv.write_bytes("\ufeffpath,x0,y0,x1,y1\na.png,1,2,30,40\n".encode("utf-8"))
    assert load_prompts_file(csv)["a.png"].boxes == ((1.0, 2.0, 30.0, 40.0),)
    js = tmp_path / "p.json"
    js.write_bytes('\ufeff{"a.png": {"boxes": [[1, 2, 30, 40]]}}'.encode("utf-8"))
    assert load_prompts_file(js)["a.png"].boxes == ((1.0, 2.0, 30.0, 40.0),)
