"""Issue 14 (2): ControlNet per stage through diffusers' ControlNet inpaint pipeline, on a tiny
ControlNet built here from the tiny UNet's architecture (zero-convolutions given random
weights, or it would add exactly nothing), on a real photo through the real CLI; the built-in
control images (inpaint, tile, canny, openpose from landmarks); refusals as one line."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from autofix.config import ConfigError, build_config
from autofix.inpaint.controlnet import control_image, openpose_image, region_landmarks
from autofix.photos import photo_array
from autofix.types import CropWindow, Detection, PlannedRegion


def test_built_in_control_images():
    rng = np.random.default_rng(0)
    crop = rng.integers(0, 256, (64, 96, 3), dtype=np.uint8)
    mask = np.zeros((64, 96), np.uint8)
    mask[10:30, 20:50] = 255
    inp = control_image("inpaint", crop, mask)
    assert inp.dtype == np.float32 and inp.shape == (64, 96, 3)
    assert (inp[mask == 255] == -1).all() and np.allclose(inp[mask == 0], crop[mask == 0] / 255.0)
    assert np.allclose(control_image("tile", crop, mask), crop / 255.0)
    edges = control_image("canny", crop, mask)
    assert set(np.unique(edges)) <= {0.0, 1.0} and edges.any()
    with pytest.raises(ConfigError, match="annotator"):
        control_image("depth", crop, mask)


def test_openpose_hand_from_landmarks_in_crop_pixels():
    hand = np.array([[50 + 3 * i, 40 + 2 * (i % 5)] for i in range(21)], np.float32)  # image pixels
    det = Detection((40, 30, 120, 60), 0.9, "hand", landmarks=hand)
    region = PlannedRegion(0, "hand", 0.9, det.box, np.zeros((100, 200), np.uint8), np.zeros((100, 200), np.uint8),
                           CropWindow((40, 30, 140, 80), (200, 100)), (det,))
    hands, faces = region_landmarks(region, region.crop.box, region.crop.size)
    assert not faces and np.allclose(hands[0][0], [(50 - 40) * 2, (40 - 30) * 2])
    img = openpose_image((100, 200), hands, faces)
    assert img.shape == (100, 200, 3) and img.any()
    x, y = (int(round(v)) for v in hands[0][0])
    assert tuple(img[y, x]) == (255, 0, 0)  # joints are red, bones coloured
    assert len({tuple(c) for c in img.reshape(-1, 3)}) > 10


def test_annotator_types_and_bad_ranges_are_config_errors():
    with pytest.raises(ConfigError, match="needs an annotator model .* give its control image"):
        build_config("faces", overrides=['stages.*.inpaint.controlnet=[{model: x, type: depth}]'])
    build_config("faces", overrides=['stages.*.inpaint.controlnet=[{model: x, type: depth, image: d.png}]'])
    with pytest.raises(ConfigError, match="start"):
        build_config("faces", overrides=['stages.*.inpaint.controlnet=[{model: x, start: 0.6, end: 0.5}]'])


diffusers = pytest.importorskip("diffusers")


def make_tiny_controlnet(unet_dir: Path, out: Path, seed: int = 0) -> tuple[Path, Path]:
    """A ControlNet of the tiny UNet's architecture with every weight random (zero-convs too);
    saved as a diffusers folder and as one .safetensors file. Returns ``(folder, file)``."""
    import torch
    from diffusers import ControlNetModel
    from safetensors.torch import save_file

    from autofix.inpaint.controlnet import controlnet_config

    config = controlnet_config(json.loads((unet_dir / "config.json").read_text()))
    config["conditioning_embedding_out_channels"] = (8, 16, 16, 16)
    torch.manual_seed(seed)
    model = ControlNetModel.from_config(config)
    with torch.no_grad():
        for name, param in model.named_parameters():
            if "controlnet_down_blocks" in name or "controlnet_mid_block" in name or "conv_out" in name:
                param.normal_(0.0, 0.5)  # zero-convs: random, or the ControlNet adds nothing
    model.save_pretrained(out / "cn-folder")
    file = out / "cn.safetensors"
    save_file({k: v.contiguous() for k, v in model.state_dict().items()}, str(file))
    return out / "cn-folder", file


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    sys.path.insert(0, str(Path(__file__).parent))
    from sd_tiny import make_tiny_models

    root = tmp_path_factory.mktemp("tinycn")
    model = make_tiny_models(root, ("sd15-inpainting",))["sd15-inpainting"]
    folder, file = make_tiny_controlnet(model.folder / "unet", root)
    return model, folder, file


def _cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "autofix.cli.main", *args], capture_output=True, text=True,
                          timeout=600)


def test_controlnet_changes_the_output_and_is_recorded(tiny, tmp_path):
    model, folder, file = tiny
    src = tmp_path / "in"
    src.mkdir()
    Image.fromarray(photo_array("astronaut")).save(src / "a.png")
    ramp = np.linspace(0, 255, 512, dtype=np.uint8)  # a made-up depth map of the photo's size
    Image.fromarray(np.repeat(np.repeat(ramp[:, None], 512, axis=1)[:, :, None], 3, axis=2)).save(tmp_path / "depth.png")
    base = ("fix", str(src), "--preset", "faces", "--model", str(model.single_file), "--model-config",
            str(model.config_dir), "--steps", "2", "--strength", "0.5", "--resolution", "128", "-q", "--no-report")
    outs = {}
    for name, extra in (("plain", ()), ("canny", ("--controlnet", str(folder), "--control-type", "canny")),
                        ("file", ("--controlnet", str(file), "--control-type", "canny")),
                        ("two", ("--controlnet", str(folder), "--controlnet", str(file), "--control-type", "inpaint",
                                 "--control-type", "tile", "--control-weight", "0.8", "--control-end", "0.5")),
                        ("depth", ("--controlnet", str(folder), "--control-type", "depth",
                                   "--control-image", str(tmp_path / "depth.png")))):
        res = _cli(*base, "-o", str(tmp_path / name), *extra)
        assert res.returncode == 0, res.stderr
        outs[name] = np.asarray(Image.open(tmp_path / name / "a.png")).astype(int)
    photo = photo_array("astronaut").astype(int)
    assert not np.array_equal(outs["plain"], photo)
    assert not np.array_equal(outs["canny"], outs["plain"])  # the ControlNet adds something
    np.testing.assert_array_equal(outs["canny"], outs["file"])  # folder and single file load the same weights
    assert not np.array_equal(outs["two"], outs["canny"])
    assert not np.array_equal(outs["depth"], outs["plain"]) and not np.array_equal(outs["depth"], outs["canny"])
    (region,) = json.loads((tmp_path / "two" / "a.png.autofix.json").read_text())["stages"][0]["regions"]
    assert region["backend_info"]["controlnet"] == [
        {"model": str(folder), "type": "inpaint", "weight": 0.8, "start": 0.0, "end": 0.5},
        {"model": str(file), "type": "tile", "weight": 0.8, "start": 0.0, "end": 0.5}]
    # outside the region the photo is untouched
    changed = np.any(outs["two"] != photo, axis=2)
    x0, y0, x1, y1 = region["crop"]["box"]
    assert not changed[:y0].any() and not changed[y1:].any() and not changed[:, :x0].any() and not changed[:, x1:].any()


def test_missing_controlnet_is_one_line(tiny, tmp_path):
    model, _, _ = tiny
    src = tmp_path / "in"
    src.mkdir()
    Image.fromarray(photo_array("astronaut")).save(src / "a.png")
    res = _cli("fix", str(src), "-o", str(tmp_path / "out"), "--preset", "faces", "--model", str(model.single_file),
               "--model-config", str(model.config_dir), "--steps", "2", "--strength", "0.5", "--resolution", "128",
               "-q", "--no-report", "--controlnet", str(tmp_path / "nope.safetensors"))
    assert res.returncode in (1, 3)
    errors = [line for line in res.stderr.splitlines() if "error" in line or "autofix:" in line]
    assert len(errors) == 1 and "ControlNet model not found" in errors[0], res.stderr


def test_sdxl_controlnet_single_file_in_memory(tmp_path):
    """SDXL: the tiny SDXL inpainting model with a tiny ControlNet of its UNet, one .safetensors."""
    sys.path.insert(0, str(Path(__file__).parent))
    from sd_tiny import make_tiny_models

    from autofix.run.executor import ImageRunner, RunOptions

    model = make_tiny_models(tmp_path, ("sdxl-inpainting",))["sdxl-inpainting"]
    _, file = make_tiny_controlnet(model.folder / "unet", tmp_path)
    outs = []
    for units in ([], [{"model": str(file), "type": "canny"}]):
        cfg = build_config("faces", patch={"inpainter": {"model": str(model.single_file),
                                                         "config_dir": str(model.config_dir)}},
                           overrides=["stages.*.inpaint.steps=2", "stages.*.inpaint.strength=0.5",
                                      "stages.*.crop.resolution=128", f"stages.*.inpaint.controlnet={json.dumps(units)}"])
        image, records = ImageRunner(cfg, None, Path("."), options=RunOptions(overlays="never")).process_array(
            photo_array("astronaut"))
        (region,) = records[0]["regions"]
        assert region["repainted"]
        assert region["backend_info"].get("controlnet") == ([{"model": str(file), "type": "canny", "weight": 1.0,
                                                               "start": 0.0, "end": 1.0}] if units else None)
        outs.append(image)
    assert not np.array_equal(outs[0], outs[1])


def test_given_control_image_is_cut_with_the_crop(tmp_path):
    """depth/lineart/softedge take a control image made elsewhere: a file, or a folder with one
    per input under its relative path; cut and resized exactly like the crop."""
    from autofix.inpaint.controlnet import given_control
    from autofix.plan.crop import cut

    depth = np.random.default_rng(1).integers(0, 256, (120, 160, 3), dtype=np.uint8)
    (tmp_path / "maps" / "sub").mkdir(parents=True)
    Image.fromarray(depth).save(tmp_path / "maps" / "sub" / "a.png")
    crop = CropWindow((20, 10, 100, 90), (128, 128))
    got = given_control(str(tmp_path / "maps"), "sub/a.png", (120, 160), crop)
    np.testing.assert_allclose(got, cut(depth, crop).astype(np.float32) / 255.0)
    np.testing.assert_array_equal(given_control(str(tmp_path / "maps" / "sub" / "a.png"), "x.png", (120, 160), crop),
                                  got)
    with pytest.raises(ConfigError, match="control image is 160x120, the input is 200x120"):
        given_control(str(tmp_path / "maps"), "sub/a.png", (120, 200), crop)
    with pytest.raises(ConfigError, match="missing or unreadable"):
        given_control(str(tmp_path / "maps"), "b.png", (120, 160), crop)


# ---------------------------------------------------------------- A1111 / lllyasviel original keys

_RESNET_TO_ORIGINAL = (("norm1", "in_layers.0"), ("conv1", "in_layers.2"), ("norm2", "out_layers.0"),
                       ("conv2", "out_layers.3"), ("time_emb_proj", "emb_layers.1"), ("conv_shortcut", "skip_connection"))


def to_original_controlnet_keys(state: dict, layers_per_block: int) -> dict:
    """A diffusers ``ControlNetModel`` state dict under the original ``cldm`` names lllyasviel's
    releases (and A1111's models/ControlNet files) use, ``control_model.`` prefix included.

    The inverse of diffusers' ``convert_controlnet_checkpoint`` (single_file_utils), worked out
    from its facts: input block 0 is ``conv_in``; down block ``b`` layer ``l`` is input block
    ``1 + b * (layers_per_block + 1) + l`` (``.0`` its resnet, ``.1`` its attention) and its
    downsampler the block after its last layer (``.0.op``); resnet parts are ``in_layers.0/2``,
    ``out_layers.0/3``, ``emb_layers.1``, ``skip_connection``; the mid block's resnets are
    ``middle_block.0`` / ``.2`` around the attention ``.1``; ``controlnet_down_blocks.i`` is
    ``zero_convs.i.0``, ``controlnet_mid_block`` ``middle_block_out.0``; the hint encoder is
    ``input_hint_block`` 0 (conv_in), 2, 4, ... (blocks) and 14 (conv_out); the time embedding
    ``time_embed.0/2``."""
    import re

    fixed = {"time_embedding.linear_1": "time_embed.0", "time_embedding.linear_2": "time_embed.2",
             "conv_in": "input_blocks.0.0", "controlnet_cond_embedding.conv_in": "input_hint_block.0",
             "controlnet_cond_embedding.conv_out": "input_hint_block.14", "controlnet_mid_block": "middle_block_out.0"}
    out = {}
    for key, value in state.items():
        stem, leaf = key.rsplit(".", 1)
        if stem in fixed:
            new = f"{fixed[stem]}.{leaf}"
        elif m := re.fullmatch(r"down_blocks\.(\d+)\.(resnets|attentions)\.(\d+)\.(.+)", key):
            block = 1 + int(m[1]) * (layers_per_block + 1) + int(m[3])
            rest = m[4]
            if m[2] == "resnets":
                for ours, theirs in _RESNET_TO_ORIGINAL:
                    rest = re.sub(rf"^{ours}\.", f"{theirs}.", rest)
            new = f"input_blocks.{block}.{0 if m[2] == 'resnets' else 1}.{rest}"
        elif m := re.fullmatch(r"down_blocks\.(\d+)\.downsamplers\.0\.conv\.(weight|bias)", key):
            new = f"input_blocks.{1 + int(m[1]) * (layers_per_block + 1) + layers_per_block}.0.op.{m[2]}"
        elif m := re.fullmatch(r"mid_block\.resnets\.(\d+)\.(.+)", key):
            rest = m[2]
            for ours, theirs in _RESNET_TO_ORIGINAL:
                rest = re.sub(rf"^{ours}\.", f"{theirs}.", rest)
            new = f"middle_block.{2 * int(m[1])}.{rest}"
        elif m := re.fullmatch(r"mid_block\.attentions\.0\.(.+)", key):
            new = f"middle_block.1.{m[1]}"
        elif m := re.fullmatch(r"controlnet_down_blocks\.(\d+)\.(weight|bias)", key):
            new = f"zero_convs.{m[1]}.0.{m[2]}"
        elif m := re.fullmatch(r"controlnet_cond_embedding\.blocks\.(\d+)\.(weight|bias)", key):
            new = f"input_hint_block.{2 * (int(m[1]) + 1)}.{m[2]}"
        else:
            raise KeyError(f"no original name for {key}")
        out[f"control_model.{new}"] = value
    return out


def test_original_key_single_file_controlnet(tiny, tmp_path):
    """An A1111-style models/ControlNet/*.safetensors with lllyasviel's ``control_model.*`` keys
    loads through autofix's loader with exactly the original weights, offline, and changes a run
    exactly as the same ControlNet in diffusers layout does."""
    import torch
    from diffusers import ControlNetModel, UNet2DConditionModel
    from safetensors.torch import save_file

    from autofix.inpaint.controlnet import load_controlnet
    from autofix.modelfiles.safetensors_io import read_header

    model, folder, _ = tiny
    reference = ControlNetModel.from_pretrained(folder)
    state = {k: v.contiguous() for k, v in reference.state_dict().items()}
    original = to_original_controlnet_keys(state, reference.config.layers_per_block)
    assert len(original) == len(state) and all(k.startswith("control_model.") for k in original)
    assert "control_model.input_hint_block.14.weight" in original and "control_model.zero_convs.5.0.weight" in original
    file = tmp_path / "models" / "ControlNet" / "control_tiny_canny.safetensors"
    file.parent.mkdir(parents=True)
    save_file(original, str(file))
    names = read_header(file)[0]
    assert names.keys() == original.keys() and "control_model.time_embed.0.weight" in names  # the original layout

    unet = UNet2DConditionModel.from_pretrained(model.folder / "unet")
    loaded = load_controlnet(file, unet, torch.float32)
    got = loaded.state_dict()
    assert got.keys() == state.keys()
    for key, value in state.items():
        assert torch.equal(got[key], value), key
    assert loaded.config.conditioning_embedding_out_channels == tuple(reference.config.conditioning_embedding_out_channels)
    # the same layout without the prefix (how some v1.1 .pth conversions ship) loads the same weights
    bare = tmp_path / "bare.safetensors"
    save_file({k.removeprefix("control_model."): v for k, v in original.items()}, str(bare))
    got = load_controlnet(bare, unet, torch.float32).state_dict()
    assert all(torch.equal(got[k], v) for k, v in state.items())

    src = tmp_path / "in"
    src.mkdir()
    Image.fromarray(photo_array("astronaut")).save(src / "a.png")
    base = ("fix", str(src), "--preset", "faces", "--model", str(model.single_file), "--model-config",
            str(model.config_dir), "--steps", "2", "--strength", "0.5", "--resolution", "128", "-q", "--no-report")
    outs = {}
    for name, extra in (("plain", ()), ("original", ("--controlnet", str(file), "--control-type", "canny")),
                        ("diffusers", ("--controlnet", str(folder), "--control-type", "canny"))):
        res = _cli(*base, "-o", str(tmp_path / name), *extra)
        assert res.returncode == 0, res.stderr
        outs[name] = np.asarray(Image.open(tmp_path / name / "a.png"))
    assert not np.array_equal(outs["original"], outs["plain"])
    np.testing.assert_array_equal(outs["original"], outs["diffusers"])


# ---------------------------------------------------------------- OpenPose faces from the face mesh


def _grid_mesh(n: int) -> np.ndarray:
    """A synthetic mesh of ``n`` points, index ``i`` at its own cell of a 22-wide grid (22 px apart)."""
    i = np.arange(n)
    return np.stack([20 + (i % 22) * 22, 20 + (i // 22) * 22], axis=1).astype(np.float64)


def test_face_points_map_the_mesh_to_openpose_70():
    from autofix.inpaint.controlnet import MESH_TO_IBUG68, face_points

    line = np.stack([np.arange(478.0), 2 * np.arange(478.0) + 1], axis=1)  # point i at (i, 2i + 1)
    pts68 = face_points(line[:468])
    pts70 = face_points(line)
    assert pts68.shape == (68, 2) and pts70.shape == (70, 2)
    np.testing.assert_array_equal(pts70[:68], pts68)
    expected = {0: 127, 3: (132 + 58) / 2, 8: 152, 16: 356, 17: 70, 26: 300, 27: (168 + 6) / 2, 30: 4, 33: 2,
                36: 33, 39: 133, 42: 362, 45: 263, 48: 61, 51: 0, 54: 291, 57: 17, 60: 78, 62: 13, 64: 308, 66: 14,
                68: 468, 69: 473}  # iBUG point -> mesh index (mean of the pair), Peizhi Yan's table
    for k, i in expected.items():
        np.testing.assert_array_equal(pts70[k], [i, 2 * i + 1])
    assert len(MESH_TO_IBUG68) == 68 and all(0 <= i < 468 for idx in MESH_TO_IBUG68 for i in idx)
    six = np.arange(12.0).reshape(6, 2)  # BlazeFace's 6 key points stay as they are
    np.testing.assert_array_equal(face_points(six), six)


@pytest.mark.parametrize("n, dots", [(478, 70), (468, 68), (6, 6)])
def test_openpose_face_dots_are_exact(n, dots):
    import cv2

    from autofix.inpaint.controlnet import face_dot_radius, face_points

    mesh = _grid_mesh(n)
    img = openpose_image((512, 512), [], [mesh])
    assert set(np.unique(img)) == {0, 255} and (img[..., 0] == img[..., 1]).all() and (img[..., 0] == img[..., 2]).all()
    pts = face_points(mesh)
    assert len(pts) == dots
    for x, y in np.round(pts).astype(int):
        assert tuple(img[y, x]) == (255, 255, 255)
    count, labels = cv2.connectedComponents((img[..., 0] > 0).astype(np.uint8))
    assert count - 1 == dots  # one separate dot per point
    ys, xs = np.nonzero(img[..., 0])
    far = np.min(np.hypot(xs[:, None] - pts[None, :, 0], ys[:, None] - pts[None, :, 1]), axis=1)
    assert far.max() <= face_dot_radius(512, 512) + 1  # nothing drawn away from the points
    assert face_dot_radius(512, 512) == 3 and face_dot_radius(1024, 768) == 4 and face_dot_radius(100, 64) == 1


def test_mesh_points_follow_the_ibug_layout_on_a_real_face():
    """The table's anatomy on MediaPipe's own mesh of a real face: jaw from image left to right
    with the chin lowest, brows above the eyes, the subject's right eye on the image's left, the
    nose between eyes and mouth, mouth corners outermost, pupils between their eye corners."""
    from autofix.inpaint.controlnet import face_points

    try:
        from autofix.detect.mediapipe_face_mesh import MediaPipeFaceParts

        ((mesh, _),) = MediaPipeFaceParts("eyes").mesh(photo_array("astronaut"))
    except Exception as exc:  # noqa: BLE001 - the shipped face-mesh model must run for this check
        pytest.fail(f"face mesh unavailable: {exc}")
    p = face_points(mesh)
    x, y = p[:, 0], p[:, 1]
    assert (np.diff(x[0:17]) > 0).all() and int(np.argmax(y[0:17])) == 8
    assert x[21] < x[22] and (np.diff(x[17:27]) > 0).all()
    assert y[17:22].max() < y[36:42].min() and y[22:27].max() < y[42:48].min()
    assert x[36:42].max() < x[42:48].min() and x[36] < x[39] < x[42] < x[45]
    assert (np.diff(y[27:31]) > 0).all() and (np.diff(x[31:36]) > 0).all()
    assert y[36:48].mean() < y[30] < y[48:68].min() + 1
    assert x[48] == x[48:60].min() and x[54] == x[48:60].max() and y[51] < y[62] < y[66] < y[57]
    with_iris = np.concatenate([mesh, np.stack([p[36:42].mean(0), *[p[36:42].mean(0)] * 4,
                                                p[42:48].mean(0), *[p[42:48].mean(0)] * 4])])
    q = face_points(with_iris)
    assert x[36] < q[68, 0] < x[39] and x[42] < q[69, 0] < x[45]
