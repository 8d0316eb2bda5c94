"""End-to-end folder runs on real photos with the embedded default (MediaPipe + OpenCV)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from autofix.config import build_config
from autofix.errors import LockHeld
from autofix.errors import EXIT_FAILURES, EXIT_OK
from autofix.run.batch import run_folder
from autofix.run.executor import RunOptions
from autofix.run.output_folder import OutputStore
from autofix.photos import photo_array


def _folder(tmp_path: Path) -> Path:
    src = tmp_path / "in"
    (src / "sub").mkdir(parents=True)
    Image.fromarray(photo_array("astronaut")).save(src / "astronaut.png")
    Image.fromarray(photo_array("zidane")).save(src / "sub" / "zidane.png")
    Image.fromarray(photo_array("camera")).save(src / "camera.png")
    return src


def _union_mask(out: Path, rel: str) -> np.ndarray:
    from autofix.run.snapshots import SnapshotStore

    shape = np.asarray(Image.open(out / rel)).shape[:2]
    masks = SnapshotStore(out / "_autofix").stage_unions(Path(rel), shape)
    assert masks, f"no stage masks for {rel}"
    return np.max(masks, axis=0)


@pytest.fixture(scope="module")
def classical_run(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("classical")
    src, out = _folder(tmp), tmp / "out"
    cfg = build_config("faces+hands", patch={"inpainter": {"backend": "classical"}})
    summary = run_folder(src, out, cfg, progress=False)
    return src, out, cfg, summary


def test_classical_run_repaints_and_keeps_outside_pixels(classical_run):
    src, out, _, summary = classical_run
    assert summary.exit_code() == EXIT_OK
    by_rel = {o.rel.as_posix(): o for o in summary.outcomes}
    assert by_rel["sub/zidane.png"].status == "fixed"
    assert by_rel["astronaut.png"].status == "fixed"
    for rel in ("astronaut.png", "sub/zidane.png"):
        before = np.asarray(Image.open(src / rel).convert("RGB"))
        after = np.asarray(Image.open(out / rel).convert("RGB"))
        union = _union_mask(out, rel)
        assert np.array_equal(after[union == 0], before[union == 0]), rel
        assert (after[union == 255] != before[union == 255]).any(), rel


def test_sidecar_records_regions_backend_and_seeds(classical_run):
    _, out, cfg, _ = classical_run
    side = json.loads((out / "sub" / "zidane.png.autofix.json").read_text())
    assert side["status"] == "fixed"
    stages = {s["stage"]: s for s in side["stages"]}
    assert set(stages) == {"hand", "face"}
    assert stages["face"]["inpainter"]["name"] == "classical:telea"
    faces = stages["face"]["regions"]
    assert len(faces) == 2 and all(r["repainted"] for r in faces)
    assert [r["seed"] for r in faces] == [cfg.stages[1].inpaint.seed + i for i in range(2)]
    assert (out / "_autofix" / "journal.jsonl").exists()
    assert list((out / "_autofix").glob("config-*.json"))


def test_rerun_over_finished_folder_is_unchanged(classical_run):
    src, out, cfg, first = classical_run
    before = {p: p.read_bytes() for p in out.rglob("*") if p.is_file() and "_autofix" not in p.parts}
    again = run_folder(src, out, cfg, progress=False)
    assert {o.status for o in again.outcomes} == {"unchanged"}
    after = {p: p.read_bytes() for p in out.rglob("*") if p.is_file() and "_autofix" not in p.parts}
    assert before == after


def test_deleted_final_resumes_from_snapshots(classical_run):
    src, out, cfg, _ = classical_run
    final = out / "sub" / "zidane.png"
    ref = final.read_bytes()
    final.unlink()
    summary = run_folder(src, out, cfg, progress=False)
    o = {x.rel.as_posix(): x for x in summary.outcomes}["sub/zidane.png"]
    assert o.status == "fixed" and o.resumed_stages == 2
    assert final.read_bytes() == ref


def test_changed_config_redoes_stages(classical_run, tmp_path):
    src, out, _, _ = classical_run
    cfg2 = build_config("faces+hands", patch={"inpainter": {"backend": "classical"}},
                        overrides=["stages.*.mask.blur=2"])
    summary = run_folder(src, out, cfg2, progress=False)
    z = {x.rel.as_posix(): x for x in summary.outcomes}["sub/zidane.png"]
    assert z.status == "fixed" and z.resumed_stages == 0


def test_default_without_model_plans_but_keeps_image(tmp_path):
    src, out = _folder(tmp_path), tmp_path / "out"
    summary = run_folder(src, out, build_config("faces+hands"), progress=False)
    assert summary.exit_code() == EXIT_OK
    z = {x.rel.as_posix(): x for x in summary.outcomes}["sub/zidane.png"]
    assert z.status == "planned" and z.repainted == 0
    assert (out / "sub" / "zidane.png").read_bytes() == (src / "sub" / "zidane.png").read_bytes()
    side = json.loads((out / "sub" / "zidane.png.autofix.json").read_text())
    regions = [r for s in side["stages"] for r in s["regions"]]
    assert regions and all(r["reason"] == "not repainted: no diffusion model" for r in regions)
    assert list((out / "_autofix" / "plans" / "sub").glob("zidane.png.*-face.png"))
    assert any("--model" in line for line in summary.lines())


def test_dry_run_writes_plans_and_no_outputs(tmp_path):
    src, out = _folder(tmp_path), tmp_path / "out"
    summary = run_folder(src, out, build_config("faces"), RunOptions(dry_run=True), progress=False)
    assert {o.status for o in summary.outcomes} == {"dry_run"}
    assert not (out / "astronaut.png").exists()
    plan = json.loads((out / "_autofix" / "plans" / "astronaut.png.plan.json").read_text())
    assert plan["stages"][0]["regions"][0]["label"] == "face"
    overlay = out / "_autofix" / "plans" / "astronaut.png.00-face.png"
    assert Image.open(overlay).size == (512, 512)


def test_bad_inputs_fail_one_line_and_batch_goes_on(tmp_path):
    src, out = tmp_path / "in", tmp_path / "out"
    src.mkdir()
    Image.fromarray(photo_array("astronaut")).save(src / "good.png")
    (src / "text.jpg").write_text("not an image")
    (src / "empty.png").write_bytes(b"")
    data = (src / "good.png").read_bytes()
    (src / "truncated.png").write_bytes(data[: len(data) // 2])
    summary = run_folder(src, out, build_config("faces", patch={"inpainter": {"backend": "classical"}}),
                         progress=False)
    status = {o.rel.name: o for o in summary.outcomes}
    assert status["good.png"].status == "fixed"
    for bad in ("text.jpg", "empty.png", "truncated.png"):
        assert status[bad].status == "failed"
        assert bad in status[bad].detail and "\n" not in status[bad].detail
        assert not (out / bad).exists()
    assert summary.exit_code() == EXIT_FAILURES


def test_alpha_and_stem_collisions(tmp_path):
    src, out = tmp_path / "in", tmp_path / "out"
    src.mkdir()
    rgb = photo_array("astronaut")
    alpha = np.random.default_rng(1).integers(0, 256, rgb.shape[:2], dtype=np.uint8)
    Image.fromarray(np.dstack([rgb, alpha]), "RGBA").save(src / "a.png")
    Image.fromarray(rgb).save(src / "a.jpg", quality=95)
    cfg = build_config("faces", patch={"inpainter": {"backend": "classical"}})
    summary = run_folder(src, out, cfg, progress=False)
    assert {o.status for o in summary.outcomes} == {"fixed"}
    got = np.asarray(Image.open(out / "a.png"))
    assert got.shape[2] == 4 and np.array_equal(got[:, :, 3], alpha)
    assert (out / "a.jpg").exists() and (out / "a.jpg.autofix.json").exists()


def test_output_inside_input_is_refused(tmp_path):
    src = _folder(tmp_path)
    with pytest.raises(ValueError, match="must not be the input folder or inside it"):
        run_folder(src, src / "out", build_config("faces"), progress=False)
    with pytest.raises(ValueError):
        run_folder(src, src, build_config("faces"), progress=False)


def test_lock_stops_a_second_writer(tmp_path):
    src, out = _folder(tmp_path), tmp_path / "out"
    holder = OutputStore(out)
    holder.acquire_lock()
    try:
        with pytest.raises(LockHeld, match="another autofix run"):
            run_folder(src, out, build_config("faces"), progress=False)
    finally:
        holder.release_lock()


def test_model_identity_follows_files_found_by_bare_name(tmp_path, monkeypatch):
    from autofix.run.backends import Backends

    monkeypatch.setenv("AUTOFIX_MODELS", str(tmp_path))
    (tmp_path / "my_face.pt").write_bytes(b"v1")
    cfg = build_config("faces", overrides=["stages.face.detector=yolo:my_face.pt"])
    first = Backends(cfg).stage_identity(cfg.stages[0])["detector_model"]
    (tmp_path / "my_face.pt").write_bytes(b"version 2")
    second = Backends(cfg).stage_identity(cfg.stages[0])["detector_model"]
    assert first["size"] == 2 and second["size"] == 9  # a replaced model file changes the stage key


def test_format_conversion_keeps_same_stem_inputs_apart(tmp_path):
    src, out = tmp_path / "in", tmp_path / "out"
    src.mkdir()
    rgb = photo_array("astronaut")
    Image.fromarray(rgb).save(src / "a.png")
    Image.fromarray(rgb[:, ::-1]).save(src / "a.jpg", quality=95)
    Image.fromarray(rgb).save(src / "solo.jpg", quality=95)
    run_folder(src, out, build_config("faces", patch={"output": {"format": "png"}}), progress=False)
    assert {p.name for p in out.glob("*.png")} == {"a.png", "a.jpg.png", "solo.png"}


def test_untouched_mpo_phone_jpeg_is_copied_byte_for_byte(tmp_path):
    src, out = tmp_path / "in", tmp_path / "out"
    src.mkdir()
    frames = [Image.fromarray(photo_array("coffee")), Image.fromarray(photo_array("chelsea")).resize((600, 400))]
    frames[0].save(src / "phone.jpg", "MPO", save_all=True, append_images=frames[1:])
    assert Image.open(src / "phone.jpg").format == "MPO"
    summary = run_folder(src, out, build_config("faces"), progress=False)
    assert summary.outcomes[0].status == "nothing_detected"
    assert (out / "phone.jpg").read_bytes() == (src / "phone.jpg").read_bytes()
