"""Issue 14 (5): object removal with zero downloads: PatchMatch (pypatchmatch) for objects,
TELEA kept for thin strokes (``classical_method: auto``, the remove preset's), scored against
TELEA on real photos; the 4-channel-checkpoint warning."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest
from PIL import Image

from autofix.inpaint.classical import ClassicalInpainter
from autofix.photos import photo_array, photo_path
from autofix.types import InpaintJob

pytest.importorskip("patchmatch")


def _cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "autofix.cli.main", *args], capture_output=True, text=True,
                          timeout=600)


def test_patchmatch_is_deterministic_and_touches_only_the_hole():
    crop = np.ascontiguousarray(photo_array("chelsea")[100:260, 100:300])
    mask = np.zeros(crop.shape[:2], np.uint8)
    cv2.circle(mask, (100, 80), 30, 255, -1)
    inp = ClassicalInpainter("patchmatch")
    (a,) = inp.inpaint([InpaintJob(crop, mask, 0)])[0].candidates
    (b,) = inp.inpaint([InpaintJob(crop, mask, 0)])[0].candidates
    np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(a[mask == 0], crop[mask == 0])
    assert (a[mask == 255] != crop[mask == 255]).any()
    assert inp.describe()["patchmatch"]


def test_auto_keeps_telea_for_thin_strokes():
    crop = np.ascontiguousarray(photo_array("coffee")[:200, :200])
    thin = np.zeros((200, 200), np.uint8)
    cv2.line(thin, (10, 20), (190, 150), 255, 5)  # a scratch: inscribed radius ~3 px
    blob = np.zeros((200, 200), np.uint8)
    cv2.circle(blob, (100, 100), 25, 255, -1)
    inp = ClassicalInpainter("auto")
    r_thin, r_blob = inp.inpaint([InpaintJob(crop, thin, 0), InpaintJob(crop, blob, 0)])
    assert r_thin.info == {"fill": "telea"} and r_blob.info == {"fill": "patchmatch"}
    telea = ClassicalInpainter("telea").inpaint([InpaintJob(crop, thin, 0)])[0]
    np.testing.assert_array_equal(r_thin.candidates[0], telea.candidates[0])


def _detail(out: np.ndarray, hole: np.ndarray) -> float:
    """Fine texture inside the filled hole relative to the background right around it
    (std of the Laplacian; a smear is near 0, the photo's own texture near 1)."""
    ring = cv2.dilate(hole.astype(np.uint8), np.ones((33, 33), np.uint8)).astype(bool) & ~cv2.dilate(
        hole.astype(np.uint8), np.ones((9, 9), np.uint8)).astype(bool)
    lap = cv2.Laplacian(cv2.cvtColor(out, cv2.COLOR_RGB2GRAY).astype(np.float64), cv2.CV_64F)
    return float(lap[hole].std() / lap[ring].std())


def test_remove_two_bollards_from_a_real_photo_patchmatch_vs_telea(tmp_path):
    from autofix.run.snapshots import SnapshotStore

    src = tmp_path / "in"
    src.mkdir()
    (src / "bus.jpg").write_bytes(photo_path("bus").read_bytes())
    detail = {}
    for method in ("auto", "telea"):
        out = tmp_path / method
        res = _cli("remove", str(src / "bus.jpg"), "--box", "420,655,466,760", "--box", "656,620,694,712",
                   "-o", str(out), "--format", "png", "-q", "--no-report",
                   *(("--set", "inpainter.classical_method=telea") if method == "telea" else ()))
        assert res.returncode == 0, res.stderr
        side = json.loads((out / "bus.png.autofix.json").read_text())
        regions = side["stages"][0]["regions"]
        assert len(regions) == 2 and all(r["repainted"] for r in regions)
        if method == "auto":
            assert side["stages"][0]["inpainter"]["name"] == "classical:auto"
            assert [r["backend_info"]["fill"] for r in regions] == ["patchmatch", "patchmatch"]
        image = np.asarray(Image.open(out / "bus.png").convert("RGB"))
        (union,) = SnapshotStore(out / "_autofix").stage_unions(Path("bus.jpg"), image.shape[:2])
        assert 4000 < (union >= 128).sum() < 20000  # object-shaped (GrabCut), not the boxes' 8300 px
        detail[method] = _detail(image, union >= 128)
    # measured: PatchMatch 0.87 (pavement texture continues), TELEA 0.14 (a smear)
    assert detail["auto"] > 0.6 and detail["telea"] < 0.3 and detail["auto"] > 3 * detail["telea"], detail


def test_bench_holes_with_known_answer():
    sys.path.insert(0, str(Path(__file__).parent.parent / "bench"))
    from removal_fill import blob, fills, scores

    rng = np.random.default_rng(3)
    photo = photo_array("chelsea")
    wins = 0
    for _ in range(4):
        hole = blob(photo.shape[:2], (rng.uniform(150, 300), rng.uniform(120, 180)), 28.0, rng)
        ys, xs = np.nonzero(hole)
        box = (slice(ys.min() - 48, ys.max() + 49), slice(xs.min() - 48, xs.max() + 49))
        truth, mask = photo[box], hole[box]
        damaged = truth.copy()
        damaged[mask > 0] = 255
        got = {m: scores(f, truth, mask) for m, (f, _) in fills(damaged, mask).items()}
        assert got["patchmatch"]["detail"] > 0.5 and got["telea"]["detail"] < 0.5, got
        wins += got["patchmatch"]["grad_hist"] > got["telea"]["grad_hist"]
    assert wins >= 3


def test_remove_with_a_4_channel_checkpoint_warns(tmp_path):
    sys.path.insert(0, str(Path(__file__).parent))
    from sd_tiny import make_tiny_models

    model = make_tiny_models(tmp_path / "m", ("sd15",))["sd15"]
    src = tmp_path / "in"
    src.mkdir()
    Image.fromarray(photo_array("coffee")).save(src / "c.png")
    res = _cli("remove", str(src / "c.png"), "--box", "322,65,425,328", "-o", str(tmp_path / "out"), "--dry-run",
               "-q", "--model", str(model.single_file), "--model-config", str(model.config_dir))
    assert res.returncode == 0, res.stderr
    warnings = [line for line in res.stderr.splitlines() if "4-channel" in line]
    assert len(warnings) == 1 and "inpainting model removes objects far better" in warnings[0]


def test_a_repaint_that_changes_no_pixel_is_not_reported_as_repainted():
    """A region whose chosen candidate pastes back identical pixels is recorded with
    repainted=False and says so; a candidate that changes the hole is repainted."""
    from autofix.config import build_config
    from autofix.detect.user_prompts import ImagePrompts
    from autofix.run.backends import Backends
    from autofix.run.step import composite, prepare
    from autofix.types import InpaintResult

    image = np.ascontiguousarray(photo_array("coffee")[:200, :240])
    cfg = build_config("remove")
    backends = Backends(cfg)
    stage = cfg.stages[0]
    records = {}
    for name in ("same", "changed"):
        plan = prepare(backends, 0, stage, image, prompts=ImagePrompts(boxes=((60, 50, 140, 130),)), where="c.png")
        (job,) = plan.jobs
        candidate = job.image.copy()
        if name == "changed":
            candidate[job.mask >= 128] = 255 - candidate[job.mask >= 128]
        out, record = composite(backends, plan, image, [InpaintResult(candidates=(candidate,), info={})])
        (records[name],) = record.regions
        assert np.array_equal(out, image) == (name == "same")
    assert not records["same"].repainted and records["same"].reason == "not repainted: the repaint changed no pixels"
    assert records["changed"].repainted and records["changed"].reason == ""
    assert records["same"].to_json()["repainted"] is False
