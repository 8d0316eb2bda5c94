"""A1111/ComfyUI metadata parsing and per-region prompt selection."""

from __future__ import annotations

import json

import numpy as np

from autofix.config import InpaintParams
from autofix.io.metadata import a1111_parameters, generation_info, parse_a1111, parse_comfyui
from autofix.run.text_prompts import expand, region_prompts
from autofix.types import CropWindow, PlannedRegion

A1111 = ('portrait of a violinist, oil painting\nsecond line\n'
         'Negative prompt: blurry, lowres\n'
         'Steps: 20, Sampler: DPM++ 2M, CFG scale: 7, Seed: 1234, Size: 512x768, '
         'Model: sd15, Lora hashes: "a: 1, b: 2", Version: v1.10')


def test_parse_a1111_parameters():
    info = parse_a1111(A1111)
    assert info.prompt == "portrait of a violinist, oil painting\nsecond line"
    assert info.negative_prompt == "blurry, lowres"
    assert info.seed == 1234
    assert info.settings["Sampler"] == "DPM++ 2M" and info.settings["Lora hashes"] == "a: 1, b: 2"


def test_a1111_roundtrip_with_autofix_fields():
    text = a1111_parameters(parse_a1111(A1111), {"autofix": "0.1.0", "autofix stages": "hand, face"})
    back = parse_a1111(text)
    assert back.prompt == parse_a1111(A1111).prompt and back.seed == 1234
    assert back.settings["autofix stages"] == "hand, face"


def test_parse_comfyui_prompt_graph():
    graph = {
        "3": {"class_type": "KSampler", "inputs": {"seed": 42, "positive": ["6", 0], "negative": ["7", 0]}},
        "6": {"class_type": "CLIPTextEncode", "inputs": {"text": "a knight"}},
        "7": {"class_type": "CLIPTextEncode", "inputs": {"text": "ugly"}},
    }
    info = generation_info({"prompt": json.dumps(graph)})
    assert (info.prompt, info.negative_prompt, info.seed, info.source) == ("a knight", "ugly", 42, "comfyui")
    assert parse_comfyui("{not json").prompt == ""
    assert parse_comfyui("[1, 2]").prompt == ""


def test_expand_templates():
    assert expand("{prompt}, detailed face", "a knight", "") == "a knight, detailed face"
    assert expand("{prompt}, detailed face", "", "") == "detailed face"
    assert expand("{negative_prompt}, blurry", "", "ugly") == "ugly, blurry"


def _region(index, box, area_px):
    mask = np.zeros((100, 100), np.uint8)
    mask.flat[:area_px] = 255
    return PlannedRegion(index, "face", 0.5 + index / 10, box, mask, mask, CropWindow((0, 0, 100, 100), (64, 64)))


def test_region_prompts_by_order_and_rule():
    regions = [_region(0, (0, 0, 10, 10), 50), _region(1, (50, 0, 90, 10), 400), _region(2, (20, 0, 30, 10), 10)]
    params = InpaintParams.model_validate({
        "prompt": "{prompt}, face", "negative_prompt": "bad",
        "region_prompts": [{"index": 0, "prompt": "a woman"}, {"rule": "largest", "prompt": "a man", "negative_prompt": "x"}]})
    got = region_prompts(params, regions, parse_a1111(A1111))
    assert got[0] == ("a woman", "bad")
    assert got[1] == ("a man", "x")
    assert got[2][0].endswith("second line, face")
