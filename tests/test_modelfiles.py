"""autofix.modelfiles: one identity (hash) per model, one pickle policy, one safetensors header
validator, and make-inpaint outputs that the SD loader reads — on the tiny models of
tests/sd_tiny.py and tests/vision_tiny.py (issues 10.1, 11.2, 11.7, 11.8)."""

from __future__ import annotations

import hashlib
import json
import struct
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("diffusers")
pytest.importorskip("safetensors")

from safetensors import safe_open  # noqa: E402

from autofix.config import InpainterConfig  # noqa: E402
from autofix.errors import ModelFileError, SafetensorsError, UnsafeModelFile  # noqa: E402
from autofix.inpaint.diffusion import DiffusionInpainter  # noqa: E402
from autofix.inpaint.sd_loading import inspect_checkpoint  # noqa: E402
from autofix.modelfiles import identity, trust  # noqa: E402
from autofix.modelfiles.merge import make_inpaint, open_checkpoint  # noqa: E402
from autofix.modelfiles.safetensors_io import read_header  # noqa: E402
from autofix.run.backends import _file_identity  # noqa: E402
from autofix.types import InpaintJob  # noqa: E402

sys.path.insert(0, str(Path(__file__).parent))
from sd_tiny import build_tiny_pipeline, make_tiny_models, save_single_file  # noqa: E402

FAST = ["stages.*.inpaint.steps=4", "stages.*.inpaint.strength=0.5", "stages.*.crop.resolution=128"]


@pytest.fixture(autouse=True)
def _clean_env(tmp_path, monkeypatch):
    monkeypatch.setenv("AUTOFIX_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.delenv("AUTOFIX_ALLOW_PICKLE", raising=False)
    monkeypatch.delenv("AUTOFIX_MANIFEST", raising=False)


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    return make_tiny_models(tmp_path_factory.mktemp("tiny"), ("sd15-inpainting", "sd15"))


@pytest.fixture(scope="module")
def finetune(tmp_path_factory):
    """A tiny SD1.5 'fine-tune' (4-channel) in all three layouts: .safetensors, .ckpt, diffusers folder."""
    root = tmp_path_factory.mktemp("finetune")
    pipe = build_tiny_pipeline("sd15", 4, seed=11)
    pipe.save_pretrained(root / "folder", safe_serialization=True)
    return {"safetensors": save_single_file(pipe, root / "ft.safetensors"),
            "ckpt": save_single_file(pipe, root / "ft.ckpt"), "folder": root / "folder"}


def _manifest(tmp_path: Path, monkeypatch, files: list[Path]) -> None:
    rows = [{"name": f"m{i}", "file": f.name, "task": "inpaint", "sha256": hashlib.sha256(f.read_bytes()).hexdigest()}
            for i, f in enumerate(files)]
    (tmp_path / "manifest.json").write_text(json.dumps({"version": 1, "models": rows}))
    monkeypatch.setenv("AUTOFIX_MANIFEST", str(tmp_path / "manifest.json"))


def _sha256sum_listing(folder: Path) -> str:
    """What ``sha256sum`` over every non-hidden file, sorted, then sha256 of that listing gives."""
    lines = []
    for f in sorted(folder.rglob("*"), key=lambda p: p.relative_to(folder).as_posix()):
        rel = f.relative_to(folder)
        if f.is_file() and not any(part.startswith(".") for part in rel.parts):
            lines.append(f"{hashlib.sha256(f.read_bytes()).hexdigest()}  {rel.as_posix()}\n")
    return hashlib.sha256("".join(lines).encode()).hexdigest()


def _job(seed: int = 1) -> InpaintJob:
    rng = np.random.default_rng(0)
    image = rng.integers(0, 256, (64, 64, 3), dtype=np.uint8)
    mask = np.zeros((64, 64), np.uint8)
    mask[16:48, 16:48] = 255
    return InpaintJob(image, mask, seed=seed, prompt="a hand", params={"strength": 0.5, "steps": 4, "cfg": 7.0})


# ------------------------------------------------------------------ one identity (issue 10.1)


@pytest.mark.parametrize("layout", ["folder", "single_file"])
def test_one_hash_in_sidecar_stage_key_and_merge_metadata(tiny, finetune, tmp_path, layout):
    """The same model gets the same sha256 in the inpainter's sidecar facts, in the stage key and in
    make-inpaint's metadata, and it is the documented sha256sum-style value (a folder had two before)."""
    if layout == "folder":
        inp, base, ft, out = tiny["sd15-inpainting"].folder, tiny["sd15"].folder, finetune["folder"], tmp_path / "out"
        want = _sha256sum_listing(inp)
        meta_file = out / "unet" / "diffusion_pytorch_model.safetensors"
    else:
        inp, base, ft = tiny["sd15-inpainting"].single_file, tiny["sd15"].single_file, finetune["safetensors"]
        out = meta_file = tmp_path / "out.safetensors"
        want = hashlib.sha256(inp.read_bytes()).hexdigest()
    config_dir = None if layout == "folder" else str(tiny["sd15-inpainting"].config_dir)
    sidecar = DiffusionInpainter(InpainterConfig(backend="diffusers", model=str(inp)), config_dir=config_dir).describe()
    stage_key = _file_identity(str(inp))
    make_inpaint(ft, inp, base, out, fp16=False, progress=False)
    with safe_open(str(meta_file), "pt") as fh:
        merged = fh.metadata()["autofix.merge.inpaint_base.sha256"]
    assert sidecar["sha256"] == stage_key["sha256"] == merged == identity.model_sha256(inp) == want
    assert stage_key["path"] == str(inp.resolve())


def test_identity_of_bare_names_missing_models_and_none(tmp_path, monkeypatch):
    store = tmp_path / "store"
    store.mkdir()
    (store / "face.pt").write_bytes(b"weights")
    monkeypatch.setenv("AUTOFIX_MODELS", str(store))
    got = identity.identity("face.pt")
    assert got == {"path": str((store / "face.pt").resolve()), "size": 7,
                   "sha256": hashlib.sha256(b"weights").hexdigest()}
    assert identity.identity("owner/repo-on-the-hub") == {"path": "owner/repo-on-the-hub"}
    assert identity.identity(None) is None and identity.identity("") is None


def test_hashes_are_cached_on_disk_only_for_big_files(tmp_path, monkeypatch):
    monkeypatch.setattr(identity, "DISK_CACHE_MIN_BYTES", 10)
    monkeypatch.setattr(identity, "_MEMORY", {})
    small, big = tmp_path / "small.bin", tmp_path / "big.bin"
    small.write_bytes(b"123")
    big.write_bytes(b"0123456789abcdef")
    assert identity.sha256_file(small) == hashlib.sha256(b"123").hexdigest()
    assert not identity.hash_cache_path().exists()
    digest = identity.sha256_file(big)
    cached = json.loads(identity.hash_cache_path().read_text())
    assert list(cached.values()) == [digest]
    monkeypatch.setattr(identity, "_MEMORY", {})
    key = next(iter(cached))
    identity.hash_cache_path().write_text(json.dumps({key: "f" * 64}))  # a later run trusts the cache
    assert identity.sha256_file(big) == "f" * 64


# ------------------------------------------------------------------ one pickle policy (issue 10.1)


def test_manifest_ckpt_is_accepted_by_fix_and_make_inpaint(tiny, finetune, tmp_path, monkeypatch):
    """A .ckpt whose sha256 is in the manifest loads without --allow-pickle in the SD loader and in
    make-inpaint alike; outside the manifest both refuse it with the same error type."""
    ckpts = {}
    for name in ("sd15-inpainting", "sd15"):
        ckpts[name] = save_single_file(build_tiny_pipeline("sd15", 9 if "inpainting" in name else 4,
                                                           seed=0 if "inpainting" in name else 1),
                                       tmp_path / f"{name}.ckpt")
    cfg_dir = str(tiny["sd15-inpainting"].config_dir)
    args = (finetune["ckpt"], ckpts["sd15-inpainting"], ckpts["sd15"])
    with pytest.raises(UnsafeModelFile, match=r"sd15-inpainting\.ckpt: refusing to load a pickle"):
        DiffusionInpainter(InpainterConfig(backend="diffusers", model=str(ckpts["sd15-inpainting"])),
                           config_dir=cfg_dir)
    with pytest.raises(UnsafeModelFile, match=r"ft\.ckpt: refusing to load a pickle"):
        make_inpaint(*args, tmp_path / "refused.safetensors", progress=False)
    _manifest(tmp_path, monkeypatch, [finetune["ckpt"], *ckpts.values()])
    inp = DiffusionInpainter(InpainterConfig(backend="diffusers", model=str(ckpts["sd15-inpainting"])),
                             config_dir=cfg_dir)
    assert inp.inpaint([_job()])[0].candidates[0].shape == (64, 64, 3)
    report = make_inpaint(*args, tmp_path / "ok.safetensors", fp16=False, progress=False)
    assert report.inputs["finetune"]["kind"] == "pickle"


class _Evil:
    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (open, (str(self.marker), "w"))


def _loaders(tmp_path: Path, allow: bool | None = True) -> dict:
    """Every loader of pickle weight files, called with ``allow_pickle=allow``."""
    from autofix.detect import sam

    cfg_dir = tmp_path / "cfg"
    return {
        "sd": lambda p: inspect_checkpoint(p, allow_pickle=bool(allow)),
        "merge": lambda p: open_checkpoint(p, allow_pickle=allow),
        "sam": lambda p: sam.read_state_dict(p, allow_pickle=allow),
        "trust": lambda p: trust.load_weights(p, allow_pickle=allow),
        "sd-inpainter": lambda p: DiffusionInpainter(
            InpainterConfig(backend="diffusers", model=str(p), allow_pickle=bool(allow)), config_dir=str(cfg_dir)),
    }


LOADERS = ["sd", "merge", "sam", "trust", "sd-inpainter"]


@pytest.mark.parametrize("loader", LOADERS)
def test_every_weights_loader_refuses_code_with_one_error_type(tmp_path, loader):
    marker = tmp_path / "pwned"
    evil = tmp_path / "evil.ckpt"
    torch.save({"state_dict": {"w": torch.zeros(2)}, "callback": _Evil(marker)}, evil)
    with pytest.raises(UnsafeModelFile, match=r"evil\.ckpt: not a plain weights file, refused by torch\.load") as err:
        _loaders(tmp_path)[loader](evil)
    assert "\n" not in str(err.value) and "\x1b" not in str(err.value) and "GLOBAL" in str(err.value)
    assert not marker.exists()


@pytest.mark.parametrize("loader", LOADERS)
@pytest.mark.parametrize("allow", [None, False])
def test_every_weights_loader_refuses_unlisted_pickles_without_the_flag(tmp_path, loader, allow, monkeypatch):
    plain = tmp_path / "plain.ckpt"
    torch.save({"w": torch.zeros(2)}, plain)
    with pytest.raises(UnsafeModelFile, match=r"plain\.ckpt: refusing to load a pickle.*--allow-pickle") as err:
        _loaders(tmp_path, allow)[loader](plain)
    assert "\n" not in str(err.value)
    monkeypatch.setenv("AUTOFIX_ALLOW_PICKLE", "1")  # the environment is the flag when none is given
    if allow is None:
        try:
            _loaders(tmp_path, allow)[loader](plain)
        except UnsafeModelFile as exc:  # pragma: no cover - a policy failure
            pytest.fail(f"allowed pickle refused: {exc}")
        except Exception as exc:  # noqa: BLE001 - not SD/SAM weights: any other one-line complaint is fine
            assert "\n" not in str(exc) and "plain.ckpt" in str(exc)


# ------------------------------------------------------------------ lying .safetensors headers (issue 11.2)


def _st(header: object, data: bytes = b"\0" * 16, raw: bytes | None = None, length: int | None = None) -> bytes:
    body = raw if raw is not None else json.dumps(header).encode()
    return struct.pack("<Q", len(body) if length is None else length) + body + data


_T = {"dtype": "F32", "shape": [2, 2], "data_offsets": [0, 16]}
LYING = {
    "empty file": b"",
    "shorter than the length prefix": b"\x01\x02\x03",
    "header length past the end": _st({"a": _T}, length=10_000),
    "header length absurd": _st({"a": _T}, length=2**63),
    "header not utf-8": _st(None, raw=b"\xff\xfe\xfd\xfc"),
    "header not json": _st(None, raw=b"{'a': 1,"),
    "header a json list": _st([1, 2]),
    "entry not an object": _st({"a": 5}),
    "entry without offsets": _st({"a": {"dtype": "F32", "shape": [2, 2]}}),
    "unknown dtype": _st({"a": {**_T, "dtype": "F99"}}),
    "negative shape": _st({"a": {**_T, "shape": [-2, -2]}}),
    "float shape": _st({"a": {**_T, "shape": [2.0, 2]}}),
    "offsets past the data": _st({"a": {**_T, "data_offsets": [0, 1600]}}),
    "offsets of the wrong size": _st({"a": {**_T, "data_offsets": [0, 8]}}),
    "offsets reversed": _st({"a": {**_T, "data_offsets": [16, 0]}}),
    "overlapping tensors": _st({"a": _T, "b": _T}),
    "gap before a tensor": _st({"a": {**_T, "data_offsets": [16, 32]}}, data=b"\0" * 32),
    "trailing bytes": _st({"a": _T}, data=b"\0" * 24),
    "duplicate tensor name": _st(None, raw=b'{"a": ' + json.dumps(_T).encode() + b', "a": '
                                 + json.dumps(_T).encode() + b"}"),
    "metadata not strings": _st({"__metadata__": {"k": 1}, "a": _T}),
    "metadata a list": _st({"__metadata__": [1], "a": _T}),
    "deeply nested json": _st(None, raw=b"[" * 100_000 + b"]" * 100_000),
}


def test_a_valid_file_passes_the_validator(tmp_path):
    path = tmp_path / "ok.safetensors"
    path.write_bytes(_st({"a": _T, "__metadata__": {"format": "pt"}}))
    entries, meta, start = read_header(path)
    assert entries["a"][0].shape == (2, 2) and meta == {"format": "pt"}


@pytest.mark.parametrize("kind", list(LYING))
def test_lying_safetensors_headers_are_one_line_in_every_reader(tmp_path, kind):
    """The SD loader (what `fix --model` runs) and the merge read headers through one validator:
    every lying header is one SafetensorsError line naming the file, never a traceback."""
    path = tmp_path / "liar.safetensors"
    path.write_bytes(LYING[kind])
    readers = {
        "validator": lambda: read_header(path),
        "sd inspect": lambda: inspect_checkpoint(path),
        "sd inpainter": lambda: DiffusionInpainter(InpainterConfig(backend="diffusers", model=str(path))),
        "merge": lambda: open_checkpoint(path),
    }
    for name, read in readers.items():
        with pytest.raises(SafetensorsError) as err:
            read()
        msg = str(err.value)
        assert str(path) in msg and "\n" not in msg and len(msg) < 300, (name, msg)


@pytest.mark.parametrize("kind", ["overlapping tensors", "offsets past the data", "header not json"])
def test_lying_header_inside_a_diffusers_folder_is_one_line(tiny, tmp_path, kind):
    import shutil

    folder = tmp_path / "model"
    shutil.copytree(tiny["sd15"].folder, folder)
    bad = folder / "unet" / "diffusion_pytorch_model.safetensors"
    bad.write_bytes(LYING[kind])
    for read in (lambda: DiffusionInpainter(InpainterConfig(backend="diffusers", model=str(folder))),
                 lambda: open_checkpoint(folder)):
        with pytest.raises(SafetensorsError) as err:
            read()
        assert str(bad) in str(err.value) and "\n" not in str(err.value)


def test_lying_header_through_fix_is_one_line_exit_1(tmp_path):
    src = tmp_path / "in"
    src.mkdir()
    from PIL import Image

    Image.new("RGB", (64, 64)).save(src / "a.png")
    bad = tmp_path / "liar.safetensors"
    bad.write_bytes(LYING["overlapping tensors"])
    res = subprocess.run([sys.executable, "-m", "autofix.cli.main", "fix", str(src), "-o", str(tmp_path / "out"),
                          "--model", str(bad), "-q"], capture_output=True, text=True, timeout=300)
    assert res.returncode == 1 and len(res.stderr.strip().splitlines()) == 1, res.stderr
    assert "liar.safetensors" in res.stderr and "overlaps" in res.stderr


# ------------------------------------------------------------------ make-inpaint round trip (issue 11.7)


@pytest.mark.parametrize("layout", ["safetensors", "ckpt", "folder"])
def test_make_inpaint_output_loads_in_the_sd_loader(tiny, finetune, tmp_path, monkeypatch, layout):
    """For every input layout, what make-inpaint writes is what the SD loader reads: a 9-channel
    model that inpaints (single files: original SD keys; folders: a diffusers folder)."""
    inp, base = tiny["sd15-inpainting"], tiny["sd15"]
    if layout == "folder":
        paths, out = (finetune["folder"], inp.folder, base.folder), tmp_path / "merged"
    elif layout == "ckpt":
        paths = (finetune["ckpt"], save_single_file(build_tiny_pipeline("sd15", 9, 0), tmp_path / "inp.ckpt"),
                 save_single_file(build_tiny_pipeline("sd15", 4, 1), tmp_path / "base.ckpt"))
        out = tmp_path / "merged.safetensors"
        _manifest(tmp_path, monkeypatch, list(paths))  # trusted by hash: no --allow-pickle needed
    else:
        paths, out = (finetune["safetensors"], inp.single_file, base.single_file), tmp_path / "merged.safetensors"
    report = make_inpaint(*paths, out, multiplier=0.8, fp16=False, progress=False)
    assert report.counts()["input_conv"] == 1
    config_dir = None if layout == "folder" else str(inp.config_dir)
    model = DiffusionInpainter(InpainterConfig(backend="diffusers", model=str(out)), config_dir=config_dir)
    assert model.source.in_channels == 9 and model.source.kind == ("diffusers" if layout == "folder" else "single_file")
    res = model.inpaint([_job()])[0]
    assert res.candidates[0].shape == (64, 64, 3) and res.candidates[0].dtype == np.uint8
    unet = model.pipeline.unet.state_dict()
    key = "conv_in.weight"
    assert unet[key].shape[1] == 9


@pytest.mark.slow
@pytest.mark.parametrize("layout", ["safetensors", "folder"])
def test_make_inpaint_then_fix_through_the_cli(tiny, finetune, tmp_path, layout):
    """The whole round trip as a user types it: `autofix models make-inpaint` then `autofix fix --model`."""
    from PIL import Image

    from autofix.photos import photo_array

    inp, base = tiny["sd15-inpainting"], tiny["sd15"]
    if layout == "folder":
        ins, out, extra = (finetune["folder"], inp.folder, base.folder), tmp_path / "merged", []
    else:
        ins, out = (finetune["safetensors"], inp.single_file, base.single_file), tmp_path / "merged.safetensors"
        extra = ["--model-config", str(inp.config_dir)]
    cli = [sys.executable, "-m", "autofix.cli.main"]
    made = subprocess.run([*cli, "models", "make-inpaint", "--finetune", str(ins[0]), "--inpaint-base", str(ins[1]),
                           "--base", str(ins[2]), "-o", str(out), "--fp32", "--json"],
                          capture_output=True, text=True, timeout=300)
    assert made.returncode == 0, made.stderr
    src = tmp_path / "in"
    src.mkdir()
    Image.fromarray(photo_array("zidane")).save(src / "zidane.png")
    sets = [a for s in FAST for a in ("--set", s)]
    res = subprocess.run([*cli, "fix", str(src), "-o", str(tmp_path / "fixed"), "--preset", "faces", "--model",
                          str(out), *extra, *sets, "-q"], capture_output=True, text=True, timeout=600)
    assert res.returncode == 0, res.stderr
    side = json.loads((tmp_path / "fixed" / "zidane.png.autofix.json").read_text())
    assert side["stages"][0]["inpainter"]["in_channels"] == 9
    assert side["stages"][0]["inpainter"]["sha256"] == identity.model_sha256(out)


@pytest.mark.parametrize("family", ["sd15", "sdxl"])
def test_diffusers_folders_merged_into_one_original_layout_file(tiny, tmp_path, family):
    """Folder inputs with a .safetensors output: the file has the original SD key names, the SD
    loader reads it, and it is the same model as the folder output (same pixels)."""
    if family == "sdxl":
        inp_folder = make_tiny_models(tmp_path / "xl", ("sdxl-inpainting",))["sdxl-inpainting"]
        folders = {}
        for role, seed in (("finetune", 21), ("base", 22)):
            build_tiny_pipeline("sdxl", 4, seed=seed).save_pretrained(tmp_path / role, safe_serialization=True)
            folders[role] = tmp_path / role
        inp, config_dir = inp_folder.folder, inp_folder.config_dir
    else:
        build_tiny_pipeline("sd15", 4, seed=11).save_pretrained(tmp_path / "finetune", safe_serialization=True)
        folders = {"finetune": tmp_path / "finetune", "base": tiny["sd15"].folder}
        inp, config_dir = tiny["sd15-inpainting"].folder, tiny["sd15-inpainting"].config_dir
    args = (folders["finetune"], inp, folders["base"])
    make_inpaint(*args, tmp_path / "as-folder", multiplier=0.7, fp16=False, progress=False)
    make_inpaint(*args, tmp_path / "one.safetensors", multiplier=0.7, fp16=False, progress=False)
    assert inspect_checkpoint(tmp_path / "one.safetensors") == ("sdxl" if family == "sdxl" else "sd1", 9)
    folder_model = DiffusionInpainter(InpainterConfig(backend="diffusers", model=str(tmp_path / "as-folder")))
    file_model = DiffusionInpainter(InpainterConfig(backend="diffusers", model=str(tmp_path / "one.safetensors")),
                                    config_dir=str(config_dir))
    a, b = folder_model.pipeline, file_model.pipeline
    for name in ("unet", "vae", "text_encoder", *(("text_encoder_2",) if family == "sdxl" else ())):
        sa, sb = getattr(a, name).state_dict(), getattr(b, name).state_dict()
        for key, value in sa.items():
            if key.endswith("position_ids"):
                continue
            assert torch.equal(value, sb[key]), (name, key)
    job = _job()
    a_px, b_px = (m.inpaint([job])[0].candidates[0].astype(int) for m in (folder_model, file_model))
    diff = np.abs(a_px - b_px)  # equal weights; SDXL's pooled text embedding differs by ~2e-7 (float order)
    assert diff.max() <= 1 and (diff > 0).mean() < 0.01


def test_diffusers_layout_single_file_gets_a_clear_error(tmp_path):
    """The file older make-inpaint versions wrote for folder inputs: one line saying what to do."""
    from safetensors.torch import save_file

    path = tmp_path / "old-merge.safetensors"
    save_file({"unet.conv_in.weight": torch.zeros(4, 9, 3, 3), "vae.encoder.conv_in.weight": torch.zeros(2)}, path)
    with pytest.raises(ModelFileError, match=r"old-merge\.safetensors: diffusers key names .* in one file"):
        inspect_checkpoint(path)


# ------------------------------------------------------------------ YOLO files (issues 11.2, 11.8)


@pytest.fixture(scope="module")
def tiny_yolo(tmp_path_factory):
    pytest.importorskip("ultralytics")
    pytest.importorskip("torchvision")
    from vision_tiny import build_tiny_yolo

    return build_tiny_yolo(tmp_path_factory.mktemp("yolo") / "tiny_face.pt", names=("face",))


@pytest.mark.parametrize("name", ["face.safetensors", "face.pth", "face.onnx", "face.yaml", "face"])
def test_yolo_file_with_a_wrong_suffix_is_one_line(tiny_yolo, tmp_path, name):
    from autofix.detect.yolo import YoloDetector

    path = tmp_path / name
    path.write_bytes(tiny_yolo.read_bytes())
    with pytest.raises(ModelFileError, match=r"not a YOLO model: .*autofix loads ultralytics \.pt") as err:
        YoloDetector(path, allow_pickle=True)
    assert "\n" not in str(err.value) and str(path) in str(err.value)


def test_yolo_pt_that_is_not_yolo_is_one_line(tmp_path):
    pytest.importorskip("ultralytics")
    pytest.importorskip("torchvision")
    from autofix.detect.yolo import YoloDetector

    path = tmp_path / "weights.pt"
    torch.save({"w": torch.zeros(2)}, path)
    with pytest.raises(ModelFileError, match=r"weights\.pt: not a loadable ultralytics YOLO checkpoint") as err:
        YoloDetector(path, allow_pickle=True)
    assert "\n" not in str(err.value)
    junk = tmp_path / "junk.pt"
    junk.write_bytes(b"not a checkpoint")
    with pytest.raises((ModelFileError, UnsafeModelFile), match=r"junk\.pt") as err:
        YoloDetector(junk, allow_pickle=True)
    assert "\n" not in str(err.value)


def test_allow_pickle_reads_yolo_weights_only(tiny_yolo, tmp_path):
    """--allow-pickle means the same for YOLO as for SD/SAM: nothing in the file is executed."""
    from autofix.detect.yolo import YoloDetector

    marker = tmp_path / "pwned"
    ckpt = torch.load(tiny_yolo, weights_only=False)
    ckpt["callback"] = _Evil(marker)
    evil = tmp_path / "evil.pt"
    torch.save(ckpt, evil)
    with pytest.raises(UnsafeModelFile, match=r"evil\.pt: not a plain weights file") as err:
        YoloDetector(evil, allow_pickle=True)
    assert "\n" not in str(err.value) and not marker.exists()
    assert YoloDetector(tiny_yolo, allow_pickle=True).name == "yolo:tiny_face.pt"  # the clean file still loads


def test_allow_pickle_help_states_one_meaning():
    res = subprocess.run([sys.executable, "-m", "autofix.cli.main", "fix", "--help"], capture_output=True, text=True,
                         timeout=120)
    text = " ".join(res.stdout.split())
    assert "--allow-pickle" in text and "weights_only=True" in text and "YOLO" in text
    assert "fully unpickled" not in text


# ------------------------------------------------------------------ ControlNet files follow the same rules


def test_controlnet_files_follow_the_pickle_policy_and_the_header_validator(tiny, tmp_path):
    from autofix.inpaint.controlnet import load_controlnet

    unet = build_tiny_pipeline("sd15", 9, seed=0).unet
    liar = tmp_path / "control.safetensors"
    liar.write_bytes(LYING["offsets past the data"])
    with pytest.raises(SafetensorsError, match=r"control\.safetensors: tensor 'a' has offsets") as err:
        load_controlnet(liar, unet, torch.float32)
    assert "\n" not in str(err.value)
    folder = tmp_path / "cn"
    folder.mkdir()
    (folder / "config.json").write_text("{}")
    torch.save({"w": torch.zeros(2)}, folder / "diffusion_pytorch_model.bin")
    with pytest.raises(UnsafeModelFile, match=r"diffusion_pytorch_model\.bin: refusing to load a pickle"):
        load_controlnet(folder, unet, torch.float32)
    assert trust.use_safetensors([folder], allow_pickle=True) is None  # allowed: diffusers reads it weights-only
