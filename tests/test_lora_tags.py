"""<lora:NAME:W> tags: parsed like the webui, found in LoRA folders, loaded with diffusers'
LoRA loading on a tiny LoRA built here, scaled, unloaded after the batch; a missing one is
a warning and the region is still repainted."""

from __future__ import annotations

import logging
import sys
from pathlib import Path

import numpy as np
import pytest

from autofix.inpaint.loras import LoraRequest, find_lora, lora_dirs, prompt_lora_requests, resolve_loras
from autofix.inpaint.prompt_weights import strip_network_tags


def test_tags_weights_like_the_webui():
    reqs = prompt_lora_requests("a <lora:A:0.8>, <lora:B:0.5:0.2> <lyco:C> <lora:D:te=0.3:unet=0.9>",
                                "<lora:a:0.1> <hypernet:h:1>")
    assert reqs == [LoraRequest("A", 0.8, 0.8), LoraRequest("B", 0.5, 0.2), LoraRequest("C", 1.0, 1.0),
                    LoraRequest("D", 0.3, 0.9)]  # negative's "a" is the same LoRA as "A": first wins
    assert strip_network_tags("x <lora:A:1> y")[0] == "x  y"


def test_find_in_webui_and_comfy_folders(tmp_path, monkeypatch):
    a1111 = tmp_path / "webui" / "models"
    (a1111 / "Stable-diffusion").mkdir(parents=True)
    (a1111 / "Lora" / "styles").mkdir(parents=True)
    (a1111 / "Lora" / "styles" / "Ink.safetensors").write_bytes(b"x")
    (a1111 / "Lora" / "evil.ckpt").write_bytes(b"x")
    comfy = tmp_path / "ComfyUI" / "models"
    (comfy / "loras").mkdir(parents=True)
    (comfy / "loras" / "detail.safetensors").write_bytes(b"x")
    monkeypatch.setenv("AUTOFIX_LORA_DIRS", str(comfy / "loras"))
    monkeypatch.delenv("AUTOFIX_MODELS", raising=False)
    dirs = lora_dirs(a1111 / "Stable-diffusion" / "model.safetensors")
    assert dirs == [(comfy / "loras").resolve(), (a1111 / "Lora").resolve()]
    assert find_lora("ink", dirs).name == "Ink.safetensors" and find_lora("styles/Ink", dirs)
    assert find_lora("detail", dirs).parent.name == "loras"
    assert find_lora("evil", dirs) is None and find_lora("../x", dirs) is None  # no pickles, no paths out
    found, notes = resolve_loras([LoraRequest("Ink"), LoraRequest("gone", 0.5, 0.5)], dirs)
    assert [f.name for f in found] == ["Ink"] and len(notes) == 1
    assert "gone.safetensors not found in" in notes[0] and str(a1111 / "Lora") in notes[0]


# ----------------------------------------------------------------- on a tiny pipeline

torch = pytest.importorskip("torch")
pytest.importorskip("diffusers")
sys.path.insert(0, str(Path(__file__).parent))
from sd_tiny import build_tiny_pipeline  # noqa: E402


def _tiny_lora(folder: Path, name: str) -> Path:
    peft = pytest.importorskip("peft")
    from diffusers import StableDiffusionInpaintPipeline
    from diffusers.utils import convert_state_dict_to_diffusers
    from peft.utils import get_peft_model_state_dict

    pipe = build_tiny_pipeline("sd15", 9, seed=1)
    torch.manual_seed(5)
    pipe.unet.add_adapter(peft.LoraConfig(r=4, lora_alpha=4, init_lora_weights=False,
                                          target_modules=["to_q", "to_k", "to_v", "to_out.0"]))
    te = peft.inject_adapter_in_model(peft.LoraConfig(r=4, lora_alpha=4, init_lora_weights=False,
                                                      target_modules=["q_proj", "k_proj", "v_proj", "out_proj"]),
                                      pipe.text_encoder)
    folder.mkdir(parents=True, exist_ok=True)
    StableDiffusionInpaintPipeline.save_lora_weights(
        folder, unet_lora_layers=convert_state_dict_to_diffusers(get_peft_model_state_dict(pipe.unet)),
        text_encoder_lora_layers=convert_state_dict_to_diffusers(get_peft_model_state_dict(te)),
        weight_name=f"{name}.safetensors")
    return folder / f"{name}.safetensors"


def _job(prompt, seed=3):
    from autofix.types import InpaintJob

    rng = np.random.default_rng(0)
    image = rng.integers(0, 256, (64, 64, 3), dtype=np.uint8)
    mask = np.zeros((64, 64), np.uint8)
    mask[16:48, 16:48] = 255
    return InpaintJob(image, mask, seed=seed, prompt=prompt, negative_prompt="",
                      params={"strength": 0.6, "steps": 3, "cfg": 7.0})


def test_lora_applied_scaled_unloaded_and_batches_never_mix(tmp_path, monkeypatch, caplog):
    from autofix.inpaint.diffusion import DiffusionInpainter

    _tiny_lora(tmp_path / "loras", "tinylora")
    monkeypatch.setenv("AUTOFIX_LORA_DIRS", str(tmp_path / "loras"))
    inp = DiffusionInpainter.from_pipeline(build_tiny_pipeline("sd15", 9))
    plain = inp.inpaint([_job("a hand")])[0].candidates[0]
    calls = []
    run = inp._run
    inp._run = lambda chunk, s: calls.append((len(chunk), len(s.loras))) or run(chunk, s)
    mixed = inp.inpaint([_job("a hand <lora:tinylora:1>"), _job("a hand"), _job("a hand <lora:tinylora:0>")])
    del inp._run
    assert sorted(calls) == [(1, 0), (1, 1), (1, 1)]  # one batch per LoRA set (weights included)
    with_lora, without, zero = (r.candidates[0] for r in mixed)
    assert not np.array_equal(with_lora, plain)  # the LoRA changed the result
    np.testing.assert_array_equal(without, plain)  # ...and was unloaded afterwards
    np.testing.assert_array_equal(zero, plain)  # weight 0 == no LoRA
    assert not inp.pipeline.get_list_adapters() or not any(inp.pipeline.get_list_adapters().values())
    with caplog.at_level(logging.WARNING):
        res = inp.inpaint([_job("a hand <lora:missing:1>"), _job("a face <lora:missing:1>")])
    warnings = [r.getMessage() for r in caplog.records if "missing.safetensors" in r.getMessage()]
    assert len(warnings) == 1 and str(tmp_path / "loras") in warnings[0]  # one warning, folders named
    diff = np.abs(res[0].candidates[0].astype(int) - plain.astype(int))
    assert diff.max() <= 1  # repainted without it (batched with another job: float noise only)
    assert any("missing.safetensors not found" in n for n in res[0].info["notes"])


def test_stage_key_part_changes_with_the_file(tmp_path, monkeypatch):
    import os

    from autofix.inpaint.loras import lora_key

    folder = tmp_path / "loras"
    folder.mkdir()
    monkeypatch.setenv("AUTOFIX_LORA_DIRS", str(folder))
    assert lora_key(["a cat"]) == []
    assert lora_key(["a <lora:x:0.5>"]) == [["x", "missing", 0.5, 0.5]]
    path = folder / "x.safetensors"
    path.write_bytes(b"one")
    first = lora_key(["a <lora:x:0.5>"])
    path.write_bytes(b"two!")
    os.utime(path, ns=(1, 1))
    assert first[0][1] != "missing" and lora_key(["a <lora:x:0.5>"]) != first
