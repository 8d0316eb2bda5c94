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
from autofix.errors import ConfigError, UnsafeModelFile
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
    out = det.detect(astronaut)
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
