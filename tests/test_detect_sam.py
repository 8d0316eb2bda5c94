"""SAM refinement plumbing with a tiny random SAM (real loader, real SamPredictor, real photos).

Random weights give arbitrary masks, so these tests check shapes, the margin clip, the
safe checkpoint loading and the prompt wiring; mask *quality* is tested with GrabCut in
test_prompts_refine.py. Needs segment-anything with a working torchvision.
"""

from __future__ import annotations

import numpy as np
import pytest

from autofix.config import DetectorConfig
from autofix.detect.base import DETECTORS
from autofix.detect.user_prompts import ImagePrompts
from autofix.errors import ConfigError, PromptError, UnsafeModelFile
from autofix.types import Detection

pytest.importorskip("torchvision")
pytest.importorskip("segment_anything")

import torch  # noqa: E402
from vision_tiny import build_tiny_sam, save_tiny_sam  # noqa: E402

from autofix.detect import sam as sam_mod  # noqa: E402
from autofix.detect.refine import build_refiner, refine_detections  # noqa: E402

FACE = (171, 76, 281, 179)  # astronaut face, ground truth


class Evil:  # not a tensor: torch.load(weights_only=True) must refuse it
    pass


@pytest.fixture(scope="module", autouse=True)
def _tiny_sam_is_allowed():
    """The tiny checkpoints are not in the manifest: allow pickles as a user with --allow-pickle would
    (the one pickle policy applies to SAM files too, see test_sam_follows_the_pickle_policy)."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("AUTOFIX_ALLOW_PICKLE", "1")
        yield


@pytest.fixture(scope="module")
def ckpt(tmp_path_factory):
    return save_tiny_sam(tmp_path_factory.mktemp("sam") / "tiny_sam.pth")


@pytest.fixture(scope="module")
def refiner(ckpt):
    return sam_mod.SamRefiner(ckpt, builder=build_tiny_sam)


def _outside(mask: np.ndarray, box) -> int:
    x0, y0, x1, y1 = box
    inner = np.zeros_like(mask)
    inner[y0:y1, x0:x1] = True
    return int((mask & ~inner).sum())


def test_box_prompt_shape_and_margin(refiner, astronaut):
    mask, score = refiner.refine(astronaut, box=FACE)
    assert mask.shape == (512, 512) and mask.dtype == bool and isinstance(score, float)
    assert _outside(mask, sam_mod.margin_box(FACE, 0.25, 512, 512)) == 0
    refiner.margin = 0.0
    try:
        tight, _ = refiner.refine(astronaut, box=FACE)
    finally:
        refiner.margin = 0.25
    assert _outside(tight, FACE) == 0


def test_point_prompts_and_labels(refiner, astronaut):
    mask, score = refiner.refine(astronaut, points=[(225, 130), (60, 60)], labels=[1, 0])
    assert mask.shape == (512, 512) and np.isfinite(score)
    both, _ = refiner.refine(astronaut, box=FACE, points=[(225, 130)], labels=[1])
    assert both.shape == (512, 512)
    with pytest.raises(ValueError, match="box or at least one point"):
        refiner.refine(astronaut)
    with pytest.raises(ValueError, match="2 points but 1 labels"):
        refiner.refine(astronaut, points=[(1, 1), (2, 2)], labels=[1])


def test_embedding_computed_once_per_image(ckpt, astronaut, camera, monkeypatch):
    r = sam_mod.SamRefiner(ckpt, builder=build_tiny_sam, multimask=False)
    calls = []
    original = r.predictor.set_image

    def counting(img, image_format):
        calls.append(1)
        return original(img, image_format)

    monkeypatch.setattr(r.predictor, "set_image", counting)
    r.refine(astronaut, box=FACE)
    r.refine(astronaut, box=(10, 10, 100, 100))
    r.refine(camera, box=(179, 124, 255, 198))
    assert len(calls) == 2


def test_checkpoint_is_read_weights_only(ckpt, tmp_path):
    state = sam_mod.read_state_dict(ckpt)
    assert all(isinstance(v, torch.Tensor) for v in state.values())
    wrapped = tmp_path / "wrapped.pth"
    torch.save({"model": state}, wrapped)
    assert sam_mod.read_state_dict(wrapped).keys() == state.keys()
    evil = tmp_path / "evil.pth"
    torch.save({"image_encoder.patch_embed.proj.weight": torch.zeros(1), "x": Evil()}, evil)
    with pytest.raises(UnsafeModelFile, match=r"evil\.pth: not a plain weights file"):
        sam_mod.read_state_dict(evil)
    other = tmp_path / "other.pth"
    torch.save({"w": torch.zeros(2)}, other)
    with pytest.raises(ConfigError, match="not a Segment Anything checkpoint"):
        sam_mod.read_state_dict(other)
    junk = tmp_path / "junk.pth"
    junk.write_bytes(b"not a checkpoint at all")
    with pytest.raises((ConfigError, UnsafeModelFile), match=r"junk\.pth"):
        sam_mod.read_state_dict(junk)


def test_model_type_from_checkpoint():
    def fake(width):
        return {"image_encoder.patch_embed.proj.weight": torch.zeros(width, 3, 16, 16)}

    assert [sam_mod.sam_type_of(fake(w)) for w in (768, 1024, 1280)] == ["vit_b", "vit_l", "vit_h"]
    with pytest.raises(ConfigError, match="unknown SAM encoder width 64"):
        sam_mod.sam_type_of(fake(64))


def test_registry_build_path_uses_checkpoint_none(ckpt, monkeypatch):
    import segment_anything

    seen = []

    def builder(checkpoint=None):
        seen.append(checkpoint)
        return build_tiny_sam()

    monkeypatch.setitem(segment_anything.sam_model_registry, "vit_b", builder)
    monkeypatch.setitem(sam_mod.SAM_TYPES, 64, "vit_b")
    model = sam_mod.load_sam(ckpt)
    assert seen == [None] and not model.training
    with pytest.raises(ConfigError, match="weights do not fit the SAM model"):
        sam_mod.load_sam(ckpt, builder=lambda: build_tiny_sam(embed_dim=32))


def test_refiner_by_name_and_refine_detections(ckpt, astronaut, monkeypatch):
    monkeypatch.setenv("AUTOFIX_MODELS", str(ckpt.parent))
    r = build_refiner("sam", "tiny_sam.pth", builder=build_tiny_sam)
    assert r.name == "sam:tiny_sam.pth"
    dets = [Detection(FACE, 0.8, "face", source="mediapipe_face")]
    out = refine_detections(astronaut, dets, r)
    assert out[0].box == FACE and out[0].score == 0.8
    if out[0].mask is not None:
        assert out[0].source == "mediapipe_face+sam" and out[0].mask.shape == (512, 512)


def test_prompt_detector_with_sam(ckpt, astronaut):
    r = sam_mod.SamRefiner(ckpt, builder=build_tiny_sam)
    prompts = ImagePrompts((FACE,), ((225, 130, 1), (400, 300, 1)))
    det = DETECTORS.build("prompt", DetectorConfig(backend="prompt"), prompts=prompts, refiner=r)
    assert det.name == "prompt+sam:tiny_sam.pth"
    try:
        out = det.detect(astronaut)
    except PromptError as exc:  # the random tiny SAM's masks for the loose click are not plausible
        assert "point 400,300: sam:tiny_sam.pth found no object under the click" in str(exc)
        out = DETECTORS.build("prompt", DetectorConfig(backend="prompt"), prompts=ImagePrompts((FACE,), ((225, 130, 1),)),
                              refiner=r).detect(astronaut)
    assert out[0].box == FACE and out[0].label == "object"
    for d in out:
        assert d.mask is None or (d.mask.shape == (512, 512) and d.mask.dtype == bool)


def test_sam_follows_the_pickle_policy(ckpt, tmp_path, monkeypatch):
    """A SAM .pth outside the manifest is refused without --allow-pickle (one line, nothing read),
    allowed with it, and accepted without it once its sha256 is in the manifest."""
    import hashlib
    import json

    monkeypatch.delenv("AUTOFIX_ALLOW_PICKLE")
    with pytest.raises(UnsafeModelFile, match=r"tiny_sam\.pth: refusing to load a pickle.*--allow-pickle") as err:
        sam_mod.SamRefiner(ckpt, builder=build_tiny_sam)
    assert "\n" not in str(err.value)
    with pytest.raises(UnsafeModelFile):
        build_refiner("sam", str(ckpt), allow_pickle=None, builder=build_tiny_sam)
    assert build_refiner("sam", str(ckpt), allow_pickle=True, builder=build_tiny_sam).name == "sam:tiny_sam.pth"
    digest = hashlib.sha256(ckpt.read_bytes()).hexdigest()
    manifest = tmp_path / "manifest.json"
    manifest.write_text(json.dumps({"version": 1, "models": [
        {"name": "tiny_sam", "file": "tiny_sam.pth", "task": "sam", "format": "torch-weights", "sha256": digest}]}))
    monkeypatch.setenv("AUTOFIX_MANIFEST", str(manifest))
    assert sam_mod.SamRefiner(ckpt, builder=build_tiny_sam).name == "sam:tiny_sam.pth"


# ---------------------------------------------------------------- issue 14: a click without a box

H, W = 120, 160
CLICK = (100.0, 60.0)


def _candidates() -> tuple[np.ndarray, np.ndarray]:
    """SAM-shaped multimask output for one click: (3, H, W) bool masks and (3,) predicted IoUs.
    0: the whole image (SAM's "everything" candidate, highest score), 1: a 30x40 object
    containing the click, 2: a bigger blob elsewhere that misses it."""
    masks = np.zeros((3, H, W), bool)
    masks[0] = True
    masks[1, 45:75, 80:120] = True
    masks[2, 10:60, 10:70] = True
    return masks, np.array([0.98, 0.81, 0.93], np.float32)


def test_choose_mask_keeps_the_object_under_the_click():
    from autofix.detect.refine import choose_mask, mask_problem

    masks, scores = _candidates()
    assert choose_mask(masks, scores, [CLICK], [1]) == (1, "")
    # a box bounds the object: plain highest predicted IoU among non-empty masks
    assert choose_mask(masks, scores, [CLICK], [1], box=(0, 0, W, H))[0] == 0
    # negative clicks do not disqualify; every positive click must be inside
    assert choose_mask(masks, scores, [CLICK, (20.0, 20.0)], [1, 0]) == (1, "")
    idx, why = choose_mask(masks, scores, [CLICK, (20.0, 20.0)], [1, 1])
    assert idx is None
    assert why == ("candidate 0 covers 100% of the image; candidate 1 misses the click at 20,20; "
                   "candidate 2 misses the click at 100,60")
    # the best-scoring plausible one wins when several are plausible
    masks[2, 40:80, 70:130] = True  # now also holds the click, 12% of the image
    assert choose_mask(masks, scores, [CLICK], [1]) == (2, "")
    assert mask_problem(np.zeros((H, W), bool), [CLICK], [1]) == "empty"
    half = np.zeros((H, W), bool)
    half[:, :81] = True  # 50.6%: just over half
    half[60, 100] = True
    assert mask_problem(half, [CLICK], [1]) == "covers 51% of the image"


def test_nothing_plausible_is_an_empty_mask():
    from autofix.detect.refine import choose_mask

    masks, scores = _candidates()
    masks[1] = False
    masks[1, 0:10, 0:10] = True  # the object candidate misses the click too
    idx, why = choose_mask(masks, scores, [CLICK], [1])
    assert idx is None and why.startswith("candidate 0 covers 100% of the image; candidate 1 misses the click")


class _StubPredictor:
    """Stands in for SamPredictor with fixed, real-shaped outputs (a prompt without mask_input:
    ``first`` as 3 candidates with 256x256 low-res logits; with mask_input: the single refined
    mask ``second``) and records the calls."""

    def __init__(self, second: np.ndarray, first: np.ndarray | None = None) -> None:
        self.calls: list[dict] = []
        self.first = _candidates()[0] if first is None else first
        self.second = second

    def set_image(self, image, image_format="RGB"):
        pass

    def predict(self, **kw):
        self.calls.append(kw)
        if kw.get("mask_input") is None:
            logits = np.stack([np.full((256, 256), float(i)) for i in range(3)]).astype(np.float32)
            return self.first, _candidates()[1], logits
        return self.second[None], np.array([0.9], np.float32), np.zeros((1, 256, 256), np.float32)


def test_click_refine_passes_the_chosen_logits_back(ckpt):
    r = sam_mod.SamRefiner(ckpt, builder=build_tiny_sam)
    image = np.zeros((H, W, 3), np.uint8)
    refined = np.zeros((H, W), bool)
    refined[40:80, 75:125] = True
    r.predictor = _StubPredictor(refined)
    mask, score = r.refine(image, points=[CLICK], labels=[1])
    first, second = r.predictor.calls
    assert first["multimask_output"] is True and first["box"] is None
    assert second["multimask_output"] is False and second["mask_input"].shape == (1, 256, 256)
    assert (second["mask_input"] == 1.0).all()  # candidate 1's logits
    np.testing.assert_array_equal(mask, refined)
    assert score == pytest.approx(0.9)
    # a second pass that grows to the whole image is not taken: candidate 1 stays
    r.predictor = _StubPredictor(np.ones((H, W), bool))
    r._image_key = None
    mask, score = r.refine(image, points=[CLICK], labels=[1])
    np.testing.assert_array_equal(mask, _candidates()[0][1])
    assert score == pytest.approx(0.81)


def test_click_with_no_plausible_candidate_fails_that_prompt(ckpt):
    r = sam_mod.SamRefiner(ckpt, builder=build_tiny_sam)
    image = np.zeros((H, W, 3), np.uint8)
    masks = _candidates()[0]
    masks[1] = False
    masks[1, :5, :5] = True  # the object candidate misses the click
    r.predictor = _StubPredictor(np.ones((H, W), bool), first=masks)
    mask, score = r.refine(image, points=[CLICK], labels=[1])
    assert not mask.any() and score == 0.0 and "candidate 1 misses the click" in r.why_empty()
    assert len(r.predictor.calls) == 1  # no second pass without a plausible first one
    det = DETECTORS.build("prompt", DetectorConfig(backend="prompt"), prompts=ImagePrompts((), ((*CLICK, 1),)),
                          refiner=r, where="in/x.png")
    with pytest.raises(PromptError) as err:
        det.detect(image)
    msg = str(err.value)
    assert "\n" not in msg and msg.startswith("in/x.png: point 100,60: sam:tiny_sam.pth found no object under the click")
    assert "candidate 0 covers 100% of the image" in msg and "give a box around the object" in msg


def test_remove_with_a_click_through_the_cli_never_repaints_the_whole_image(ckpt, tmp_path):
    """``autofix remove --point`` through the tiny SAM checkpoint (built from segment-anything's
    own modules; its random weights cannot segment, and real SAM weights are not available
    offline): either a plausible mask is repainted (containing the click, at most half the
    picture) or that prompt fails with one line — never the whole image "repainted"."""
    import json
    import subprocess
    import sys
    from pathlib import Path

    from autofix.photos import photo_path

    code = (
        "import sys, segment_anything; sys.path.insert(0, sys.argv[1]);"
        "from vision_tiny import build_tiny_sam; from autofix.detect import sam;"
        "sam.SAM_TYPES[64] = 'vit_b';"  # the tiny model's encoder width, built by the test's builder
        "segment_anything.sam_model_registry['vit_b'] = lambda checkpoint=None: build_tiny_sam();"
        "from autofix.cli.main import main; sys.exit(main(sys.argv[2:]))")
    out = tmp_path / "out"
    res = subprocess.run([sys.executable, "-c", code, str(Path(__file__).parent), "remove", str(photo_path("bus")),
                          "--point", "440,700", "--sam-model", str(ckpt), "-o", str(out), "--format", "png",
                          "--no-report", "-q"], capture_output=True, text=True, timeout=600,
                         env={**__import__("os").environ, "AUTOFIX_ALLOW_PICKLE": "1"})
    side = out / "bus.png.autofix.json"
    if res.returncode == 0:
        (region,) = json.loads(side.read_text())["stages"][0]["regions"]
        assert region["mask_pixels"] <= 0.5 * 810 * 1080, region
        x0, y0, x1, y1 = region["box"]
        assert x0 <= 440 < x1 and y0 <= 700 < y1
    else:
        assert res.returncode == 3, res.stderr
        errors = [line for line in res.stderr.splitlines() if line.startswith("error:")]
        assert len(errors) == 1 and "bus.jpg: point 440,700: sam:tiny_sam.pth found no object under the click" \
            in errors[0], res.stderr
        assert not side.exists() and not (out / "bus.png").exists()
