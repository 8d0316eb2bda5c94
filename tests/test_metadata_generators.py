"""Real generator files (tests/data/generators, see its README for sources and licences):
every reader's expected fields, unknown metadata inheriting nothing, write-back that keeps
others' chunks byte-identical, and A1111's infotext rules reading our additions back."""

from __future__ import annotations

import json
import struct
import zlib
from pathlib import Path

import numpy as np
import pytest

from autofix.io.image import encode_image, load_image
from autofix.io.metadata import AUTOFIX_CHUNK, generation_info, output_text
from autofix.meta import read_fields, read_file_info
from autofix.meta.containers import decode_user_comment, png_chunks, png_text_chunk
from autofix.meta.infotext import a1111_read, append_settings, looks_like_infotext

DATA = Path(__file__).parent / "data" / "generators"

# file, generator, reader, prompt starts, negative starts, seed, steps, sampler, cfg, size, model
# (seeds/steps/cfg/sizes agree with sd-metadata's and sd-parsers' own expectations for these files)
EXPECTED = [
    ("sd-metadata/jpg/civitai-hires.jpg", "Civitai", "civitai-json", "general, masterpiece, be", "bad quality, wor", 1311178179, 25, "euler_ancestral", 5.0, None, "urn:air:sdxl:checkpoint:civitai:827184@2514310"),
    ("sd-metadata/jpg/civitai-upscale.jpg", "Civitai", "civitai-json", "general, masterpiece, be", "bad quality, wor", 1311178179, 25, "Euler a", 5.0, (1024, 1024), "Illustrious"),
    ("sd-metadata/jpg/civitai.jpeg", "Civitai", "a1111-infotext", "general, masterpiece, be", "bad quality, wor", 1311178179, 25, "Euler a", 5.0, (1024, 1024), "WAI-illustrious-SDXL"),
    ("sd-metadata/jpg/comfyui-save-image-extended.jpeg", "ComfyUI", "comfyui-api", "general, masterpiece, be", "bad quality, wor", 813617545434765, 20, "euler_ancestral karras", 5.0, (1024, 1024), "waiIllustriousSDXL_v160.safetensors"),
    ("sd-metadata/jpg/comfyui-saveimage-plus.jpg", "ComfyUI", "comfyui-api", "general, masterpiece, be", "bad quality, wor", 577723948579568, 20, "euler_ancestral karras", 5.0, (1024, 1024), "waiIllustriousSDXL_v160.safetensors"),
    ("sd-metadata/jpg/comfyui-saveimagewithmetadata.jpeg", "AUTOMATIC1111", "a1111-infotext", "general, masterpiece, be", "bad quality, wor", 347382230306562, 20, "euler_ancestral_karras", 5.0, (1024, 1024), "waiIllustriousSDXL_v160.safetensors"),
    ("sd-metadata/jpg/forge-neo.jpeg", "Forge Neo", "a1111-infotext", "general, masterpiece, be", "bad quality, wor", 2417156106, 24, "Euler a", 6.0, (1024, 1024), "waiIllustriousSDXL_v160"),
    ("sd-metadata/jpg/reforge.jpeg", "reForge", "a1111-infotext", "general, masterpiece, be", "bad quality, wor", 584157617, 20, "DPM++ 2M Karras", 6.0, (1024, 1024), "waiIllustriousSDXL_v160"),
    ("sd-metadata/jpg/sd-next.jpg", "SD.Next", "a1111-infotext", "general, masterpiece, be", "bad quality, wor", 899700607, 20, "Euler a", 6.0, (1024, 1024), "waiIllustriousSDXL_v160"),
    ("sd-metadata/jpg/sd-webui.jpg", "AUTOMATIC1111", "a1111-infotext", "general, masterpiece, be", "bad quality, wor", 3623174757, 20, "DPM++ 2M Karras", 5.5, (1024, 1024), "waiIllustriousSDXL_v160"),
    ("sd-metadata/jpg/swarmui.jpg", "SwarmUI 0.9.7.4", "swarmui-json", "general, masterpiece, be", "bad quality, wor", 697543491, 20, "euler_ancestral karras", 7.0, (1024, 1024), "waiIllustriousSDXL_v160"),
    ("sd-metadata/png/comfyui-anima.png", "ComfyUI", "comfyui-api", "general, masterpiece, be", "bad quality, wor", 662066908990052, 24, "euler beta", 5.0, (1216, 832), "anima-preview.safetensors"),
    ("sd-metadata/png/comfyui-comfy-image-saver.png", "ComfyUI", "comfyui-api", "general, masterpiece, be", "bad quality, wor", 106744160813738, 20, "euler_ancestral karras", 5.0, (1024, 1024), "waiIllustriousSDXL_v160.safetensors"),
    ("sd-metadata/png/comfyui-comfyroll.png", "ComfyUI", "comfyui-api", "general, masterpiece, be", "bad quality, wor", 942975376742792, 30, "euler_ancestral", 6.0, (1024, 1024), "waiNSFWIllustrious_v140.safetensors"),
    ("sd-metadata/png/comfyui-group-nodes.png", "ComfyUI", "comfyui-api", "general, masterpiece, be", "bad quality, wor", 1038684211150939, 20, "euler_ancestral karras", 5.0, (1024, 1024), "waiIllustriousSDXL_v160.safetensors"),
    ("sd-metadata/png/comfyui-hires.png", "ComfyUI", "comfyui-api", "general, masterpiece, be", "bad quality, wor", 1116526567339338, 20, "euler_ancestral karras", 5.0, (1024, 1024), "waiIllustriousSDXL_v160.safetensors"),
    ("sd-metadata/png/comfyui-rgthree.png", "ComfyUI", "comfyui-api", "general, masterpiece, be", "bad quality, wor", 963381484256655, 20, "euler_ancestral karras", 5.0, (1024, 1024), "waiIllustriousSDXL_v160.safetensors"),
    ("sd-metadata/png/comfyui-save-image-extended.png", "ComfyUI", "comfyui-api", "general, masterpiece, be", "bad quality, wor", 779742380066441, 20, "euler_ancestral karras", 5.0, (1024, 1024), "waiIllustriousSDXL_v160.safetensors"),
    ("sd-metadata/png/comfyui-saveimagewithmetadata.png", "ComfyUI", "comfyui-api", "general, masterpiece, be", "bad quality, wor", 38802053347333, 20, "euler_ancestral karras", 5.0, (1024, 1024), "waiIllustriousSDXL_v160.safetensors"),
    ("sd-metadata/png/comfyui.png", "ComfyUI", "comfyui-api", "general, masterpiece, be", "bad quality, wor", 422847914351919, 20, "euler_ancestral karras", 5.0, (1024, 1024), "waiIllustriousSDXL_v160.safetensors"),
    ("sd-metadata/png/easy-reforge.png", "reForge", "a1111-infotext", "1girl, solo, hatsune mik", "bad anatomy, wor", 2582194946, 4, "LCM SGM Uniform", 1.0, (1024, 1024), "copycatNoob_v11"),
    ("sd-metadata/png/forge-classic.png", "Forge Classic", "a1111-infotext", "general, masterpiece, be", "bad quality, wor", 1239240392, 20, "DPM++ 2M Karras", 6.0, (1024, 1024), "waiIllustriousSDXL_v160"),
    ("sd-metadata/png/forge-neo.png", "Forge Neo", "a1111-infotext", "general, masterpiece, be", "bad quality, wor", 4179307297, 24, "Euler a", 6.0, (1024, 1024), "waiIllustriousSDXL_v160"),
    ("sd-metadata/png/forge.png", "Forge", "a1111-infotext", "general, masterpiece, be", "bad quality, wor", 747066619, 25, "Euler Karras", 5.0, (1024, 1024), "waiIllustriousSDXL_v160"),
    ("sd-metadata/png/huggingface-space.png", "Hugging Face Space", "hf-space-json", "general, masterpiece, be", "bad quality, wor", 443800072, 24, "DPM++ 2M Karras", 5.5, (1024, 1024), "WAI NSFW illustrious SDXL v16"),
    ("sd-metadata/png/invokeai.png", "InvokeAI 6.10.0", "invokeai-metadata", "general, masterpiece, be", "bad quality, wor", 3951921344, 24, "euler_a", 6.0, (1024, 1024), "waiIllustriousSDXL_v160"),
    ("sd-metadata/png/novelai-curated.png", "NovelAI", "novelai-json", "1girl, solo, hatsune mik", "blurry, lowres, ", 2156638429, 23, "k_euler_ancestral karras", 5.0, (1024, 1024), "NovelAI Diffusion V4.5 C02D4F98"),
    ("sd-metadata/png/novelai-full-3char.png", "NovelAI", "novelai-json", "2girls, 1boy, dancing, #", "nsfw, lowres, ar", 1702945580, 28, "k_euler_ancestral karras", 5.0, (1024, 1024), "NovelAI Diffusion V4.5 4BDE2A90"),
    ("sd-metadata/png/reforge.png", "reForge", "a1111-infotext", "general, masterpiece, be", "bad quality, wor", 270740395, 20, "DPM++ 2M Karras", 6.0, (1024, 1024), "waiIllustriousSDXL_v160"),
    ("sd-metadata/png/ruined-fooocus.png", "RuinedFooocus", "ruined-fooocus-json", "general, masterpiece, be", "bad quality, wor", 2020047614, 30, "dpmpp_2m_sde_gpu karras", 8.0, (1024, 1024), "waiNSFWIllustrious_v150.safetensors"),
    ("sd-metadata/png/sd-next.png", "SD.Next", "a1111-infotext", "general, masterpiece, be", "bad quality, wor", 2427651458, 20, "DDIM", 6.0, (1024, 1024), "waiIllustriousSDXL_v160"),
    ("sd-metadata/png/sd-webui.png", "AUTOMATIC1111", "a1111-infotext", "general, masterpiece, be", "bad quality, wor", 3782896554, 20, "DPM++ 2M Karras", 7.0, (1024, 1024), "waiIllustriousSDXL_v160"),
    ("sd-metadata/png/stability-matrix.png", "Stability Matrix", "a1111-infotext", "general, masterpiece, be", "bad quality, wor", 395309383, 20, "Euler Ancestral Karras", 5.0, (1024, 1024), "waiIllustriousSDXL_v160.safetensors"),
    ("sd-metadata/png/swarmui.png", "SwarmUI 0.9.7.4", "swarmui-json", "general, masterpiece, be", "bad quality, wor", 2083100758, 20, "euler_ancestral karras", 7.0, (1024, 1024), "waiIllustriousSDXL_v160"),
    ("sd-metadata/png/tensorart.png", "TensorArt", "tensorart-json", "general, masterpiece, be", "bad quality, wor", 3036459311, 25, "euler_ancestral karras", 7.0, (1024, 1024), "WAI-Nsfw-Illustrious-16"),
    ("sd-metadata/webp/comfyui-animated-webp.webp", "ComfyUI", "comfyui-api", "general, masterpiece, be", "bad quality, wor", 270932924124066, 20, "euler_ancestral karras", 5.0, (1024, 1024), "waiIllustriousSDXL_v160.safetensors"),
    ("sd-metadata/webp/comfyui-comfy-image-saver.webp", "ComfyUI", "a1111-infotext", "unknown", "unknown", 0, 20, "euler_simple", 8.0, (512, 512), "JANKUV5NSFWTrainedNoobai_v50"),
    ("sd-metadata/webp/comfyui-save-image-extended.webp", "ComfyUI", "comfyui-api", "general, masterpiece, be", "bad quality, wor", 602057552457611, 20, "euler_ancestral karras", 5.0, (1024, 1024), "waiIllustriousSDXL_v160.safetensors"),
    ("sd-metadata/webp/comfyui-saveimage-plus.webp", "ComfyUI", "comfyui-api", "general, masterpiece, be", "bad quality, wor", 453851843419278, 20, "euler_ancestral karras", 5.0, (1024, 1024), "waiIllustriousSDXL_v160.safetensors"),
    ("sd-metadata/webp/forge-classic.webp", "Forge Classic", "a1111-infotext", "general, masterpiece, be", "bad quality, wor", 2630661657, 20, "DPM++ 2M Karras", 6.0, (1024, 1024), "waiIllustriousSDXL_v160"),
    ("sd-metadata/webp/novelai-curated.webp", "NovelAI", "novelai-json", "1girl, solo, hatsune mik", "blurry, lowres, ", 880673757, 23, "k_euler_ancestral karras", 5.0, (1024, 1024), "NovelAI Diffusion V4.5 C02D4F98"),
    ("sd-metadata/webp/sd-webui.webp", "AUTOMATIC1111", "a1111-infotext", "general, masterpiece, be", "bad quality, wor", 1028435836, 20, "DPM++ 2M Karras", 5.5, (1024, 1024), "waiIllustriousSDXL_v160"),
    ("sd-metadata/webp/swarmui.webp", "SwarmUI 0.9.7.4", "swarmui-json", "general, masterpiece, be", "bad quality, wor", 830680752, 20, "euler_ancestral karras", 7.0, (1024, 1024), "waiIllustriousSDXL_v160"),
    ("sd-parsers/automatic1111_cropped.jpg", "AUTOMATIC1111", "a1111-infotext", "photo of a duck", "monochrome", 235284042, 15, "UniPC", 5.0, (512, 400), "realistic_realisticVisionV20_v20"),
    ("sd-parsers/automatic1111_stealth.png", "AUTOMATIC1111", "a1111-infotext", "a circle", "a square", 2015833630, 20, "Euler", 7.0, (64, 64), "realisticVisionV51_v51VAE"),
    ("sd-parsers/automatic1111_cropped.png", "AUTOMATIC1111", "a1111-infotext", "photo of a duck", "monochrome", 235284042, 15, "UniPC", 5.0, (512, 400), "realistic_realisticVisionV20_v20"),
    ("sd-parsers/fooocus1_cropped.png", "Fooocus v2.4.3", "fooocus-json", "a smiling goldfish", "", 6952411511246973023, 30, "dpmpp_2m_sde_gpu karras", 4.0, (768, 1280), "juggernautXL_v8Rundiffusion"),
    ("sd-parsers/img2img_cropped.png", "ComfyUI", "comfyui-api", "photograph of victorian ", "watermark, text", 280823642470253, 20, "sample_dpmpp_2m", 8.0, None, "v1-5-pruned-emaonly.ckpt"),
    ("sd-parsers/invokeai_dream1.png", "InvokeAI", "invokeai-dream", "professional full body p", "rendering, glowi", 2980747362, 50, "k_lms", 5.0, (512, 768), None),
    ("sd-parsers/invokeai_imeta1.png", "InvokeAI", "invokeai-metadata", "digital artwork, oil pai", "grainy+, photo, ", 3293022630, 35, "euler", 8.0, (1024, 1024), "juggernautXL"),
    ("sd-parsers/invokeai_sdmeta1.png", "InvokeAI 2.3.0", "invokeai-sd-metadata", "professional full body p", "rendering, glowi", 2980747362, 50, "k_lms", 5.0, (512, 768), "deliberateForInvoke_v08"),
    ("sd-parsers/night_evening_day_morning_cropped.png", "ComfyUI", "comfyui-api", "(best quality) (night:1.", "(hands), text, e", 335608130539327, 13, "dpmpp_sde", 8.5, (704, 1280), "Anything-V3.0.ckpt"),
    ("sd-parsers/noisy_latents_3_subjects_cropped.png", "ComfyUI", "comfyui-api", "(solo) girl (flat chest:", "(hands), text, e", 890421140397575, 16, "sample_dpmpp_sde", 7.0, (256, 512), "Anything-V3.0.ckpt"),
    ("sd-parsers/novelai1_cropped.png", "NovelAI", "novelai-json", "masterpiece, best qualit", "lowres, bad anat", 2253955223, 50, "k_euler_ancestral", 10.0, None, "Stable Diffusion 1D44365E"),
    ("sd-parsers/text_after_idat.png", "AUTOMATIC1111", "a1111-infotext", "photo of a duck", "monochrome", 235284042, 15, "UniPC", 5.0, (512, 400), "realistic_realisticVisionV20_v20"),
    ("sd-parsers/unclip_2pass_cropped.png", "ComfyUI", "comfyui-api", "(waifu, anime, exception", "lowres, (bad ana", 1106257833005336, 26, "uni_pc_bh2", 8.0, (1280, 704), "wd-1-5-beta2-aesthetic-unclip-h-fp32.safetensors"),
]
UNKNOWN = ["sd-metadata/jpg/gimp.jpg", "sd-metadata/png/gimp.png", "sd-metadata/webp/gimp.webp"]
_KEYS = {"generator", "prompt", "negative_prompt", "seed", "steps", "sampler", "cfg", "size", "model", "loras", "reader"}


@pytest.mark.parametrize("row", EXPECTED, ids=[r[0] for r in EXPECTED])
def test_reader_fields(row):
    name, generator, reader, prompt, negative, seed, steps, sampler, cfg, size, model = row
    info = read_file_info(DATA / name)
    got = info.summary()
    assert set(got) == _KEYS
    assert got["generator"] == generator and got["reader"].split(" ")[0] == reader
    assert got["prompt"].startswith(prompt) and got["negative_prompt"].startswith(negative)
    assert (got["seed"], got["steps"], got["sampler"], got["cfg"], got["model"]) == (seed, steps, sampler, cfg, model)
    assert got["size"] == (list(size) if size else None)
    # a JSON document is never a prompt; size caps hold (CLIP-sized texts, not whole graphs)
    assert not got["prompt"].lstrip().startswith(("{", "[")) and len(got["prompt"]) < 2000
    json.dumps(got)  # the --json object is plain JSON


def test_full_texts_of_representative_files():
    a1111 = read_file_info(DATA / "sd-metadata/png/sd-webui.png")
    assert a1111.prompt == "general, masterpiece, best quality, amazing quality,\n1girl, solo, hatsune miku, テスト"
    assert a1111.negative_prompt == "bad quality, worst quality, worst detail, sketch, censor,"
    # the same A1111 text from EXIF UserComment (UTF-16BE), with non-Latin text intact
    jpg = read_file_info(DATA / "sd-metadata/jpg/sd-webui.jpg")
    assert "テスト" in jpg.prompt and jpg.reader == "a1111-infotext (exif:UserComment)"
    swarm = read_file_info(DATA / "sd-metadata/jpg/swarmui.jpg")  # UserComment UTF-16LE JSON
    assert swarm.prompt == "general, masterpiece, best quality, amazing quality, \n1girl, solo, hatsune miku, #テスト"
    tensor = read_file_info(DATA / "sd-metadata/png/tensorart.png")  # UTF-8 bytes in a tEXt chunk
    assert tensor.prompt.endswith("#テスト")
    sdmeta = read_file_info(DATA / "sd-parsers/invokeai_sdmeta1.png")  # "positive [negative]"
    assert sdmeta.negative_prompt == "rendering, glowing eyes, skinny" and "[" not in sdmeta.prompt
    lora = read_file_info(DATA / "sd-metadata/png/easy-reforge.png")
    assert [(x.name, x.weight) for x in lora.loras] == [("NoobV065sHyperDmd", 1.0)]
    nai = read_file_info(DATA / "sd-parsers/novelai1_cropped.png")  # old NovelAI: prompt in Description
    assert nai.prompt == "masterpiece, best quality,  cat, space, icon"


@pytest.mark.parametrize("name", UNKNOWN + ["sd-metadata/png/krea2.png"])
def test_unknown_metadata_inherits_nothing_and_says_so(name):
    info = read_file_info(DATA / name)
    assert info.prompt == "" and info.negative_prompt == ""
    assert info.note and "\n" not in info.note and "inherited" in info.note


def test_json_parameters_of_unknown_shape_are_never_a_prompt():
    doc = json.dumps({"prompt": "a cat", "something": 1, "nested": {"text": "x"}})
    info = generation_info({"parameters": doc})
    assert info.prompt == "" and not info.found and "JSON document" in info.note
    graph = {"1": {"class_type": "SaveImage", "inputs": {}}}
    info = generation_info({"prompt": json.dumps(graph)})
    assert info.prompt == "" and "nothing inherited" in info.note
    assert generation_info({"parameters": "Created with GIMP"}).prompt == ""


# --------------------------------------------------------------------------- containers


def test_user_comment_byte_orders_and_charsets():
    text = "a cat, テスト\nNegative prompt: dog"
    assert decode_user_comment(b"UNICODE\x00" + text.encode("utf-16-be")) == text
    assert decode_user_comment(b"UNICODE\x00" + text.encode("utf-16-le")) == text
    assert decode_user_comment(b"ASCII\x00\x00\x00" + b"plain") == "plain"
    assert decode_user_comment(b"\x00" * 8 + "ü".encode()) == "ü"


def test_compressed_text_is_capped(monkeypatch):
    import autofix.meta.containers as containers

    monkeypatch.setattr(containers, "MAX_TEXT", 1000)
    body = b"parameters\x00\x00" + zlib.compress(b"a" * 100_000)
    assert png_text_chunk(b"zTXt", body) is None  # a bomb is refused, not inflated
    assert png_text_chunk(b"zTXt", b"k\x00\x00" + zlib.compress(b"short")) == ("k", "short")


def test_truncated_and_foreign_files_fail_cleanly():
    data = (DATA / "sd-metadata/png/sd-webui.png").read_bytes()
    fields = read_fields(data[: len(data) // 2])  # chunks cut off mid-way: no exception
    assert isinstance(fields.values, dict)
    with pytest.raises(ValueError):
        read_fields(b"GIF89a....")


# --------------------------------------------------------------------------- write-back

EXTRA = {"autofix": "0.1.0", "autofix config": "abc123", "autofix stages": "hand:1/2 face:0/1",
         "autofix inpainter": "diffusers"}
_PNGS = sorted(p.relative_to(DATA).as_posix() for p in DATA.rglob("*.png"))


def _repaint_png(path: Path, text_fn=output_text) -> tuple[bytes, dict]:
    loaded = load_image(path)
    info = generation_info(loaded.text, loaded.exif)
    text = text_fn(loaded.text, info, EXTRA)
    rgb = loaded.rgb.copy()
    rgb[0, 0] = 255 - rgb[0, 0]
    return encode_image(rgb, loaded.alpha, "PNG", like=loaded, text=text), text


def _text_chunks(data: bytes) -> dict[str, bytes]:
    out = {}
    for kind, body in png_chunks(data):
        if kind in (b"tEXt", b"zTXt", b"iTXt"):
            out[body.split(b"\x00", 1)[0].decode("latin-1")] = kind + body
    return out


@pytest.mark.parametrize("name", _PNGS)
def test_png_write_back_keeps_others_chunks_byte_identical(name):
    src = (DATA / name).read_bytes()
    out, _ = _repaint_png(DATA / name)
    before, after = _text_chunks(src), _text_chunks(out)
    is_a1111 = looks_like_infotext(read_fields(src).get("parameters"))
    for key, chunk in before.items():
        if key == "parameters" and is_a1111:
            continue
        assert after.get(key) == chunk, f"{name}: chunk {key!r} changed"
    assert ("parameters" in after) == ("parameters" in before)  # never added to others' files
    record = json.loads(png_text_chunk(after[AUTOFIX_CHUNK][:4], after[AUTOFIX_CHUNK][4:])[1])
    assert record["autofix stages"] == EXTRA["autofix stages"]
    # what other readers see is unchanged: same generator, same prompt
    a, b = read_fields(src), read_fields(out)
    from autofix.meta import read_info

    ia, ib = read_info(a), read_info(b)
    assert (ib.generator, ib.prompt, ib.negative_prompt, ib.seed) == (ia.generator, ia.prompt, ia.negative_prompt, ia.seed)


def _a1111_pngs():
    out = []
    for n in _PNGS:
        fields = read_fields((DATA / n).read_bytes())
        if fields.where("parameters") == "png:parameters" and looks_like_infotext(fields.get("parameters")):
            out.append(n)
    return out


@pytest.mark.parametrize("name", _a1111_pngs())
def test_a1111_parameters_read_back_exactly_and_idempotently(name):
    original = read_fields((DATA / name).read_bytes()).get("parameters")
    loaded = load_image(DATA / name)
    once = output_text(loaded.text, generation_info(loaded.text), EXTRA)
    before, after = a1111_read(loaded.text["parameters"]), a1111_read(once["parameters"])
    assert (after.prompt, after.negative_prompt) == (before.prompt, before.negative_prompt)
    assert after.settings == {**before.settings, **EXTRA}
    assert once["parameters"].startswith(loaded.text["parameters"].rstrip())  # nothing of theirs rewritten
    twice = output_text(once, generation_info(once), EXTRA)
    assert twice == once
    assert original  # the fixture really is one


TRICKY = [
    # a prompt ending in a newline, CRLF lines, a quoted value with escapes, commas and colons
    'a cat\n\nNegative prompt: dog\n\nSteps: 20, Sampler: Euler a, CFG scale: 7, Seed: 1, '
    'Hires prompt: "a \\"b\\", c\\nd: e", Lora hashes: "x: 1, y: 2", Version: v1.10\n',
    "line one \r\nline two\r\nNegative prompt: n\r\nSteps: 4, Sampler: LCM, CFG scale: 1, Seed: 2",
    'prompt only\nSteps: 1, Seed: 3, Size: 64x64, Note: "trailing backslash \\\\"',
]


@pytest.mark.parametrize("text", TRICKY)
def test_tricky_infotexts_round_trip(text):
    extra = {**EXTRA, "autofix note": 'quoted "x", with: colon\nand newline'}
    out = append_settings(text, extra)
    assert out is not None
    before, after = a1111_read(text), a1111_read(out)
    assert (after.prompt, after.negative_prompt) == (before.prompt, before.negative_prompt)
    assert after.settings == {**before.settings, **extra}
    assert append_settings(out, extra) == out


def test_output_text_on_inputs_without_a1111_text():
    swarm = {"parameters": json.dumps({"sui_image_params": {"prompt": "a"}}), "prompt": "{}"}
    out = output_text(swarm, generation_info(swarm), EXTRA)
    assert out["parameters"] == swarm["parameters"] and json.loads(out["parameters"])
    assert list(out)[:2] == ["parameters", "prompt"] and AUTOFIX_CHUNK in out
    assert "parameters" not in output_text({}, generation_info({}), EXTRA)


@pytest.mark.parametrize("name", ["sd-metadata/jpg/sd-webui.jpg", "sd-metadata/jpg/swarmui.jpg",
                                  "sd-metadata/webp/sd-webui.webp", "sd-metadata/webp/novelai-curated.webp",
                                  "sd-metadata/webp/comfyui-animated-webp.webp"])
@pytest.mark.parametrize("fmt", ["JPEG", "WEBP"])
def test_jpeg_and_webp_outputs_keep_user_comment(name, fmt):
    loaded = load_image(DATA / name)
    out = encode_image(loaded.rgb, None, fmt, like=loaded)
    a, b = read_fields((DATA / name).read_bytes()), read_fields(out)
    for key in ("parameters", "Comment", "prompt", "workflow"):
        assert a.values.get(key) == b.values.get(key)
    assert read_file_info(DATA / name).prompt
    from autofix.meta import read_info

    assert read_info(b).prompt == read_info(a).prompt


def test_info_record_is_one_object_per_file():
    info = read_file_info(DATA / "sd-metadata/png/comfyui.png")
    assert info.summary()["loras"] == [] and info.summary()["size"] == [1024, 1024]
    empty = read_file_info(DATA / "sd-metadata/png/gimp.png").summary()
    assert empty["prompt"] is None and empty["loras"] is None and empty["reader"] is None


def _png_with_text_chunk(kind: bytes, key: str, value: str) -> bytes:
    from io import BytesIO

    from PIL import Image

    buf = BytesIO()
    Image.fromarray(np.zeros((4, 4, 3), np.uint8)).save(buf, "PNG")
    data = buf.getvalue()
    if kind == b"zTXt":
        body = key.encode() + b"\x00\x00" + zlib.compress(value.encode("latin-1"))
    else:
        body = key.encode() + b"\x00\x00\x00\x00\x00" + value.encode()
    chunk = struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))
    return data[:33] + chunk + data[33:]


@pytest.mark.parametrize("kind", [b"zTXt", b"iTXt"])
def test_compressed_and_international_chunks_are_read(kind, tmp_path):
    text = "a cat\nNegative prompt: dog\nSteps: 20, Sampler: Euler a, CFG scale: 7, Seed: 5"
    path = tmp_path / "x.png"
    path.write_bytes(_png_with_text_chunk(kind, "parameters", text))
    info = read_file_info(path)
    assert (info.prompt, info.negative_prompt, info.seed) == ("a cat", "dog", 5)


def test_keep_png_text_writes_unchanged_chunks_back_byte_identical(tmp_path):
    """The helper encode_image can use so zTXt/iTXt chunks (XMP included) keep their type and bytes."""
    from io import BytesIO

    from PIL import Image, PngImagePlugin

    from autofix.meta.containers import keep_png_text, png_text_chunks

    meta = PngImagePlugin.PngInfo()
    meta.add_text("zcomment", "compressed text", zip=True)
    meta.add_itxt("XML:com.adobe.xmp", "<x:xmpmeta/>")
    meta.add_itxt("itxt_z", "compressed ü", zip=True)
    meta.add_text("parameters", "a\nSteps: 1, Sampler: Euler, Seed: 1")
    buf = BytesIO()
    Image.new("RGB", (4, 4)).save(buf, "PNG", pnginfo=meta)
    src = buf.getvalue()
    loaded = load_image(_write_tmp(tmp_path, src))
    text = output_text(loaded.text, generation_info(loaded.text), EXTRA)
    out = BytesIO()
    Image.new("RGB", (4, 4)).save(out, "PNG", pnginfo=keep_png_text(text, png_text_chunks(src)))
    before, after = _text_chunks(src), _text_chunks(out.getvalue())
    for key in ("zcomment", "XML:com.adobe.xmp", "itxt_z"):
        assert after[key] == before[key]
    assert after["parameters"] != before["parameters"] and AUTOFIX_CHUNK in after


def _write_tmp(tmp_path, data):
    path = tmp_path / "in.png"
    path.write_bytes(data)
    return path


@pytest.mark.parametrize("name", ["sd-metadata/png/comfyui.png", "sd-metadata/png/comfyui-rgthree.png",
                                  "sd-metadata/png/comfyui-anima.png", "sd-parsers/img2img_cropped.png",
                                  "sd-parsers/night_evening_day_morning_cropped.png"])
def test_ui_workflow_alone_reads_like_the_api_graph(name):
    """A file that kept only the UI ``workflow`` (no ``prompt``): widgets named, links and
    primitives followed, frontend comments (/* */) dropped as ComfyUI does before queueing."""
    from autofix.meta import read_info
    from autofix.meta.containers import Fields

    fields = read_fields((DATA / name).read_bytes())
    full = read_info(fields)
    ui = read_info(Fields(values={"workflow": fields.get("workflow")}, origin={"workflow": "png:workflow"}))
    assert ui.reader == "comfyui-workflow (png:workflow)"
    assert (ui.prompt, ui.negative_prompt, ui.seed, ui.steps, ui.cfg, ui.sampler, ui.model) == (
        full.prompt, full.negative_prompt, full.seed, full.steps, full.cfg, full.sampler, full.model)


def test_easy_diffusion_draw_things_and_json_in_jpeg_comments(tmp_path):
    """Formats with no file in the corpus, built from their documented shapes."""
    from io import BytesIO

    from PIL import Image, PngImagePlugin

    meta = PngImagePlugin.PngInfo()
    for key, value in {"prompt": "a fox", "negative_prompt": "blur", "seed": "42", "num_inference_steps": "25",
                       "guidance_scale": "7.5", "sampler_name": "euler_a", "width": "512", "height": "768",
                       "use_stable_diffusion_model": "sd-v1-5"}.items():
        meta.add_text(key, value)
    buf = BytesIO()
    Image.new("RGB", (4, 4)).save(buf, "PNG", pnginfo=meta)
    ed = read_fields(buf.getvalue())
    from autofix.meta import read_info

    info = read_info(ed)
    assert (info.generator, info.prompt, info.seed, info.steps, info.cfg, info.size) == (
        "Easy Diffusion", "a fox", 42, 25, 7.5, (512, 768))
    dt = json.dumps({"c": "a cat", "uc": "dog", "seed": 7, "steps": 20, "scale": 5, "sampler": "DPM++ 2M Karras",
                     "size": "512x512", "model": "sd_xl"})
    xmp = ('<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF><rdf:Description><exif:UserComment><rdf:Alt>'
           f'<rdf:li xml:lang="x-default">{dt.replace("&", "&amp;").replace(chr(34), "&quot;")}</rdf:li>'
           '</rdf:Alt></exif:UserComment></rdf:Description></rdf:RDF></x:xmpmeta>')
    buf = BytesIO()
    Image.new("RGB", (4, 4)).save(buf, "JPEG", xmp=xmp.encode())
    info = read_info(read_fields(buf.getvalue()))
    assert (info.generator, info.prompt, info.negative_prompt, info.seed, info.size) == (
        "Draw Things", "a cat", "dog", 7, (512, 512))
    graph = {"3": {"class_type": "KSampler", "inputs": {"seed": 5, "positive": ["6", 0], "negative": ["7", 0]}},
             "6": {"class_type": "CLIPTextEncode", "inputs": {"text": "a knight"}},
             "7": {"class_type": "CLIPTextEncode", "inputs": {"text": "ugly"}}}
    buf = BytesIO()
    Image.new("RGB", (4, 4)).save(buf, "JPEG", comment=json.dumps({"prompt": graph, "workflow": {}}).encode())
    info = read_info(read_fields(buf.getvalue()))
    assert (info.prompt, info.seed, info.reader) == ("a knight", 5, "comfyui-api (jpeg:COM)")


@pytest.mark.parametrize("fmt", ["TIFF", "AVIF"])
def test_other_containers_read_through_pillow(fmt):
    """Forge can save AVIF; A1111's UserComment is read from any container Pillow opens."""
    from io import BytesIO

    from PIL import Image

    from autofix.meta import read_info

    exif = Image.Exif()
    exif[0x8769] = {0x9286: b"UNICODE\x00" + "a cat\nSteps: 20, Sampler: Euler a, CFG scale: 7, Seed: 3".encode("utf-16-be")}
    buf = BytesIO()
    try:
        Image.new("RGB", (8, 8)).save(buf, fmt, exif=exif.tobytes())
    except (KeyError, OSError) as exc:
        pytest.skip(f"Pillow cannot write {fmt} here: {exc}")
    info = read_info(read_fields(buf.getvalue()))
    assert (info.prompt, info.seed, info.reader) == ("a cat", 3, "a1111-infotext (exif:UserComment)")


def test_invokeai_graph_alone_reads_like_its_metadata():
    """InvokeAI images that kept only ``invokeai_graph``: edges followed from the denoise node."""
    from autofix.meta import read_info
    from autofix.meta.containers import Fields

    fields = read_fields((DATA / "sd-metadata/png/invokeai.png").read_bytes())
    full = read_info(fields)
    graph = read_info(Fields(values={"invokeai_graph": fields.get("invokeai_graph")},
                             origin={"invokeai_graph": "png:invokeai_graph"}))
    assert graph.reader == "invokeai-graph (png:invokeai_graph)"
    assert (graph.prompt, graph.negative_prompt, graph.seed, graph.steps, graph.cfg, graph.size, graph.model) == (
        full.prompt, full.negative_prompt, full.seed, full.steps, full.cfg, full.size, full.model)
