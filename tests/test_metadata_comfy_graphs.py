"""ComfyUI API graphs built to the shapes common custom nodes produce: the prompt is
followed through conditioning, multi-output, switch, concat and primitive nodes."""

from __future__ import annotations

import json

from autofix.io.metadata import generation_info


def _read(graph):
    return generation_info({"prompt": json.dumps(graph)})


def _enc(text):
    return {"class_type": "CLIPTextEncode", "inputs": {"text": text, "clip": ["4", 1]}}


BASE = {
    "4": {"class_type": "CheckpointLoaderSimple", "inputs": {"ckpt_name": "model.safetensors"}},
    "5": {"class_type": "EmptyLatentImage", "inputs": {"width": 832, "height": 1216, "batch_size": 1}},
}


def test_controlnet_advanced_outputs_by_slot_and_lora_chain():
    g = {**BASE,
         "6": _enc("a knight"), "7": _enc("blurry"),
         "10": {"class_type": "ControlNetApplyAdvanced", "inputs": {"positive": ["6", 0], "negative": ["7", 0],
                                                                    "strength": 1.0}},
         "11": {"class_type": "LoraLoader", "inputs": {"lora_name": "detail.safetensors", "strength_model": 0.7,
                                                       "model": ["4", 0], "clip": ["4", 1]}},
         "3": {"class_type": "KSampler", "inputs": {"seed": 11, "steps": 30, "cfg": 6.5, "sampler_name": "dpmpp_2m",
                                                    "scheduler": "karras", "denoise": 1.0, "model": ["11", 0],
                                                    "positive": ["10", 0], "negative": ["10", 1],
                                                    "latent_image": ["5", 0]}}}
    info = _read(g)
    assert (info.prompt, info.negative_prompt, info.seed, info.size) == ("a knight", "blurry", 11, (832, 1216))
    assert info.model == "model.safetensors" and [(x.name, x.weight) for x in info.loras] == [("detail.safetensors", 0.7)]
    assert info.sampler_label == "dpmpp_2m karras"


def test_sampler_custom_advanced_with_flux_guidance_and_seed_node():
    g = {**BASE,
         "6": {"class_type": "CLIPTextEncodeFlux", "inputs": {"clip_l": "", "t5xxl": "a red fox", "guidance": 3.5}},
         "8": {"class_type": "FluxGuidance", "inputs": {"conditioning": ["6", 0], "guidance": 3.5}},
         "9": {"class_type": "BasicGuider", "inputs": {"conditioning": ["8", 0], "model": ["4", 0]}},
         "12": {"class_type": "Seed (rgthree)", "inputs": {"seed": 987654321012}},
         "13": {"class_type": "RandomNoise", "inputs": {"noise_seed": ["12", 0]}},
         "14": {"class_type": "KSamplerSelect", "inputs": {"sampler_name": "euler"}},
         "15": {"class_type": "BasicScheduler", "inputs": {"scheduler": "simple", "steps": 28, "denoise": 1.0,
                                                           "model": ["4", 0]}},
         "3": {"class_type": "SamplerCustomAdvanced", "inputs": {"noise": ["13", 0], "guider": ["9", 0],
                                                                 "sampler": ["14", 0], "sigmas": ["15", 0],
                                                                 "latent_image": ["5", 0]}}}
    info = _read(g)
    assert (info.prompt, info.negative_prompt, info.seed, info.steps, info.sampler) == (
        "a red fox", "", 987654321012, 28, "euler")


def test_string_nodes_switches_styler_and_combine():
    g = {**BASE,
         "20": {"class_type": "PrimitiveStringMultiline", "inputs": {"value": "portrait"}},
         "21": {"class_type": "StringConcatenate", "inputs": {"string_a": ["20", 0], "string_b": "of a woman",
                                                              "delimiter": " "}},
         "22": {"class_type": "PrimitiveBoolean", "inputs": {"value": False}},
         "23": {"class_type": "ComfySwitchNode", "inputs": {"switch": ["22", 0], "on_true": "WRONG",
                                                            "on_false": ["21", 0]}},
         "24": {"class_type": "SDXLPromptStyler", "inputs": {"text_positive": "castle", "text_negative": "ugly",
                                                             "style": "base"}},
         "6": {"class_type": "CLIPTextEncode", "inputs": {"text": ["23", 0]}},
         "16": {"class_type": "CLIPTextEncode", "inputs": {"text": ["24", 0]}},
         "7": {"class_type": "CLIPTextEncode", "inputs": {"text": ["24", 1]}},
         "17": {"class_type": "ConditioningCombine", "inputs": {"conditioning_1": ["6", 0],
                                                                "conditioning_2": ["16", 0]}},
         "3": {"class_type": "KSampler", "inputs": {"seed": ["30", 0], "steps": 20, "cfg": 7, "sampler_name": "euler",
                                                    "scheduler": "normal", "model": ["4", 0], "positive": ["17", 0],
                                                    "negative": ["7", 0], "latent_image": ["5", 0]}},
         "30": {"class_type": "CR Seed", "inputs": {"seed": 5}}}
    info = _read(g)
    assert (info.prompt, info.negative_prompt, info.seed) == ("portrait of a woman, castle", "ugly", 5)


def test_efficient_loader_strings_by_role_and_hires_second_pass_ignored():
    g = {"1": {"class_type": "Efficient Loader", "inputs": {"ckpt_name": "eff.safetensors", "positive": "a cat",
                                                            "negative": "a dog", "empty_latent_width": 512,
                                                            "empty_latent_height": 512}},
         "2": {"class_type": "KSampler (Efficient)", "inputs": {"seed": 1, "steps": 20, "cfg": 7, "denoise": 1.0,
                                                                "sampler_name": "euler", "scheduler": "normal",
                                                                "model": ["1", 0], "positive": ["1", 1],
                                                                "negative": ["1", 2], "latent_image": ["5", 0]}},
         "5": {"class_type": "EmptyLatentImage", "inputs": {"width": 512, "height": 512}},
         "6": {"class_type": "LatentUpscaleBy", "inputs": {"samples": ["2", 3], "scale_by": 2}},
         "7": {"class_type": "KSampler", "inputs": {"seed": 99, "steps": 10, "cfg": 7, "denoise": 0.4,
                                                    "sampler_name": "euler", "scheduler": "normal", "model": ["1", 0],
                                                    "positive": ["1", 1], "negative": ["1", 2],
                                                    "latent_image": ["6", 0]}}}
    info = _read(g)
    assert (info.prompt, info.negative_prompt, info.seed, info.model, info.size) == (
        "a cat", "a dog", 1, "eff.safetensors", (512, 512))


def test_cycles_bad_links_and_unknown_nodes_are_safe():
    g = {"1": {"class_type": "Weird", "inputs": {"conditioning": ["2", 0]}},
         "2": {"class_type": "Weird", "inputs": {"conditioning": ["1", 0]}},
         "3": {"class_type": "KSampler", "inputs": {"seed": "x", "positive": ["1", 0], "negative": ["99", 7],
                                                    "latent_image": [None, None], "steps": True}}}
    info = _read(g)
    assert info.prompt == "" and info.seed is None and info.steps is None and "no prompt inherited" in info.note
    deep = {str(i): {"class_type": "ConditioningSetArea", "inputs": {"conditioning": [str(i + 1), 0]}}
            for i in range(5000)}
    deep["k"] = {"class_type": "KSampler", "inputs": {"seed": 1, "positive": ["0", 0], "negative": ["0", 0]}}
    assert _read(deep).prompt == ""  # depth-limited, no RecursionError
    assert generation_info({"prompt": "[" * 100000}).prompt == ""
